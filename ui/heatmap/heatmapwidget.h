#pragma once

#include "training/uitypes.h"

#include <QColor>
#include <QPixmap>
#include <QWidget>

#include <limits>
#include <vector>

namespace liftlab {

// The batch's B x B distance matrix as an image, rows and columns ordered by
// class so that positive pairs form the blocks on the diagonal; thin lines
// mark class boundaries and a viridis scale bar gives the distances. As in
// Qt's mandelbrot example the image is built when a frame arrives, never in
// paintEvent, which only scales the finished pixmap.
class HeatmapWidget : public QWidget
{
    Q_OBJECT

public:
    explicit HeatmapWidget(QWidget *parent = nullptr);

    // The overlays' colours, apart from each other and from viridis, for
    // their legend.
    static QColor positivesColour() { return QColor(255, 255, 255); }
    static QColor hardestNegativeColour() { return QColor(235, 60, 235); } // magenta
    static QColor activeTermColour() { return QColor(235, 40, 40); }       // red

    void setFrame(const SnapshotFrame &frame);
    void clear();
    const SnapshotFrame &frame() const { return m_frame; }
    bool hasFrame() const { return m_frame.snapshot.size > 0; }
    // The B x B image as drawn (class-sorted), before overlays.
    const QImage &image() const { return m_image; }

    bool showPositives() const { return m_showPositives; }
    bool showHardestNegatives() const { return m_showHardest; }
    bool showPairTerms() const { return m_showTerms; }
    void setShowPositives(bool show);
    void setShowHardestNegatives(bool show);
    void setShowPairTerms(bool show);
    // The distances that span the colour scale. By default (NaN) those of the
    // batch drawn; a common range lets several heatmaps be read alike.
    void setColourRange(float min, float max);
    // The batch's own range of off-diagonal distances, and the range the
    // colours span (the scale bar's).
    float dataMin() const { return m_dataMin; }
    float dataMax() const { return m_dataMax; }
    float colourMin() const { return m_min; }
    float colourMax() const { return m_max; }

    // Batch positions (not sorted ones) under a point, or false outside.
    bool cellAt(const QPoint &pos, int *i, int *j) const;
    // Batch index of the hardest (closest) negative of row i, or -1.
    int hardestNegative(int i) const;

    QSize sizeHint() const override { return QSize(460, 420); }
    QSize minimumSizeHint() const override { return QSize(200, 180); }

Q_SIGNALS:
    void cellClicked(int i, int j); // batch positions

protected:
    void paintEvent(QPaintEvent *event) override;
    void mouseMoveEvent(QMouseEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;

private:
    // The tooltip of the cell under `pos` (widget coordinates), of the batch drawn.
    void showCellTip(const QPoint &pos);
    void rebuild();
    QRectF matrixRect() const;
    QRect scaleBarRect() const;
    float distance(int i, int j) const;
    bool isPositive(int i, int j) const;

    SnapshotFrame m_frame;
    std::vector<int> m_order;      // sorted position -> batch position
    std::vector<int> m_blockStart; // sorted positions where a class begins, plus B at the end
    std::vector<int> m_hardest;    // batch position -> batch position of its hardest negative
    float m_min = 0, m_max = 1;    // colour range (off-diagonal distances)
    float m_dataMin = 0, m_dataMax = 1;
    float m_rangeMin = std::numeric_limits<float>::quiet_NaN(), m_rangeMax = m_rangeMin; // setColourRange
    QImage m_image;                // B x B distances, viridis
    QPixmap m_pixmap;
    QPixmap m_termsPixmap;         // J_ij of positive pairs, red with alpha
    QPixmap m_scalePixmap;
    bool m_showPositives = true;
    bool m_showHardest = false;
    bool m_showTerms = false;
};

} // namespace liftlab
