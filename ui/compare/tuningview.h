#pragma once

#include "train/tuning.h"

#include <QWidget>

#include <map>
#include <memory>
#include <utility>

class QChart;
class QComboBox;
class QLabel;

namespace liftlab {

class ChartView;

// The trials of a tuning as they finish: validation Recall@1 against one
// tuned value (picked above the chart: the learning rate, a margin, a
// scale), one colour per loss, each trial at the last rung it reached; the
// trials each loss chose are ringed, and listed below with their settings.
class TuningView : public QWidget
{
    Q_OBJECT

public:
    explicit TuningView(QWidget *parent = nullptr);
    ~TuningView() override;

    // Shows this tuning, its trials so far and its choices read from its
    // files (none: empty).
    void setTuning(const std::optional<Tuning> &tuning);
    bool hasTuning() const { return bool(m_tuning); }
    // Live, as the trials finish.
    void addResult(const TrialResult &result);
    void setChosen(int loss, int trial);

    QComboBox *parameterBox() const { return m_parameter; }
    QChart *chart() const { return m_chart; }
    int pointCount() const; // trials shown for the current parameter

private:
    void redraw();

    std::unique_ptr<Tuning> m_tuning;
    std::map<std::pair<size_t, int>, TrialResult> m_results; // by (loss, trial): the last rung reached
    std::map<size_t, int> m_chosen;
    QComboBox *m_parameter = nullptr;
    QLabel *m_summary = nullptr;
    QChart *m_chart = nullptr;
    ChartView *m_view = nullptr;
};

} // namespace liftlab
