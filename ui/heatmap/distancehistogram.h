#pragma once

#include "train/events.h"

#include <QWidget>

#include <vector>

namespace liftlab {

// How separated the classes are now: the distribution of positive-pair and
// negative-pair distances in the current batch, each normalised to its own
// count, drawn over each other.
class DistanceHistogram : public QWidget
{
    Q_OBJECT

public:
    explicit DistanceHistogram(QWidget *parent = nullptr);

    void setSnapshot(const DistanceSnapshot &snapshot);
    void clear();

    const std::vector<int> &positiveCounts() const { return m_positive; }
    const std::vector<int> &negativeCounts() const { return m_negative; }

    QSize sizeHint() const override { return QSize(480, 140); }
    QSize minimumSizeHint() const override { return QSize(140, 120); }

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    static constexpr int kBins = 30;
    std::vector<int> m_positive, m_negative;
    int m_positiveTotal = 0, m_negativeTotal = 0;
    double m_maxDistance = 0;
};

} // namespace liftlab
