#pragma once

#include "training/uitypes.h"

#include <QWidget>

#include <map>
#include <vector>

class QLabel;

namespace liftlab {

class ExplorerContext;
class HeatmapWidget;
class PairDialog;

// The batch distance matrix under each loss, side by side. The runs of a
// comparison draw the same batches, so the heatmaps show the same images;
// while they train in turns, each shows its frame of the latest step that
// every run has reached (a run ahead keeps its newer frames until then).
class ComparisonHeatmaps : public QWidget
{
    Q_OBJECT

public:
    explicit ComparisonHeatmaps(QWidget *parent = nullptr);

    // One heatmap per label; clears the frames.
    void setRuns(const QStringList &labels);
    void addFrame(int run, const SnapshotFrame &frame);
    // A run that will send no more frames (it failed) no longer holds the others back.
    void setRunEnded(int run);
    // Frames read from a run directory carry no images or class names: the
    // dataset, once loaded, gives both (the batch indices are train images).
    void completeFrames(const ExplorerContext &dataset);

    int runCount() const { return int(m_runs.size()); }
    HeatmapWidget *heatmap(int run) const { return m_runs.at(size_t(run)).heatmap; }
    // The step all heatmaps show (-1: none yet).
    int64_t shownStep() const { return m_shownStep; }

private:
    struct Run
    {
        QString label;
        QLabel *title = nullptr;
        HeatmapWidget *heatmap = nullptr;
        std::map<int64_t, SnapshotFrame> frames; // by step, from the shown one on
        bool ended = false;
    };
    void showCommonStep();
    // One colour range for all heatmaps (m_sharedScale), or each its own.
    void applyScale();

    std::vector<Run> m_runs;
    int64_t m_shownStep = -1;
    QWidget *m_grid = nullptr;
    QLabel *m_stepLabel = nullptr;
    PairDialog *m_pairDialog = nullptr;
    bool m_showPositives = true, m_showHardest = false, m_showTerms = false;
    bool m_sharedScale = false;
};

} // namespace liftlab
