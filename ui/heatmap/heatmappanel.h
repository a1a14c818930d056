#pragma once

#include <QWidget>

namespace liftlab {

class DistanceHistogram;
class HeatmapWidget;
class PairDialog;
struct SnapshotFrame;

// The heatmap dock: the distance matrix with its overlay switches, the
// positive/negative distance histogram beside it, and the pair viewer that
// opens on a click.
class HeatmapPanel : public QWidget
{
    Q_OBJECT

public:
    explicit HeatmapPanel(QWidget *parent = nullptr);

    void setFrame(const SnapshotFrame &frame);
    void clear();

    HeatmapWidget *heatmap() const { return m_heatmap; }
    DistanceHistogram *histogram() const { return m_histogram; }
    PairDialog *pairDialog() const { return m_pairDialog; }

private:
    HeatmapWidget *m_heatmap = nullptr;
    DistanceHistogram *m_histogram = nullptr;
    PairDialog *m_pairDialog = nullptr;
};

} // namespace liftlab
