#pragma once

#include "projection/projection.h"

#include <QImage>
#include <QPolygonF>
#include <QStringList>
#include <QVector>
#include <QWidget>

#include <functional>
#include <vector>

namespace liftlab {

// A 2-D scatter of up to ~100,000 points coloured by class. The points are
// stamped straight into a cached QImage (no item per point), which is built
// again only when the data, the view transform, the size or the visible
// classes change; hover, rubber band, lasso, legend and highlights are drawn
// over it in paintEvent. Rendering also fills a screen-space bucket grid, so
// finding the point under the cursor looks at a few cells, not all points.
//
// Mouse: wheel zooms around the cursor, drag pans, Shift+drag selects a
// rectangle, Ctrl+drag a lasso, a click on a point activates it, a double
// click on empty space fits the view. Legend: click hides or shows a class,
// double-click isolates it (again: shows all). It lists the highlighted
// classes first, then, with more classes than it has rows (Stanford Online
// Products has 11,316), the classes with the most points.
class EmbeddingView : public QWidget
{
    Q_OBJECT

public:
    using ThumbnailProvider = std::function<QImage(int index)>;

    explicit EmbeddingView(QWidget *parent = nullptr);

    // Points [N, 2] with one label each (labels index classNames). Shows all
    // classes, clears the selection and fits the view.
    void setData(const Matrix &coordinates, const std::vector<int64_t> &labels, const QStringList &classNames);
    // New positions for the same points (a t-SNE frame): keeps the zoom and
    // the selection unless `fit`.
    void setCoordinates(const Matrix &coordinates, bool fit = false);
    void clear();
    void setThumbnailProvider(ThumbnailProvider provider) { m_thumbnails = std::move(provider); }
    // The test image each point stands for, when the points are a sample of
    // the test set (empty: point i is test image i), as the hover card names it.
    void setImageIndices(std::vector<int64_t> indices) { m_imageIndices = std::move(indices); }
    int64_t imageIndex(int point) const
    {
        return size_t(point) < m_imageIndices.size() ? m_imageIndices[size_t(point)] : point;
    }
    // Shown when there are no points.
    void setPlaceholderText(const QString &text);

    int pointCount() const { return int(m_labels.size()); }
    const Matrix &coordinates() const { return m_coords; }
    const std::vector<int64_t> &labels() const { return m_labels; }
    QPointF dataPoint(int index) const;

    // View transform: screen = (data - center) * scale, y up, about the widget centre.
    QPointF toScreen(const QPointF &data) const;
    QPointF toData(const QPointF &screen) const;
    QPointF center() const { return m_center; }
    double scale() const { return m_scale; }
    void setView(const QPointF &center, double scale);
    void zoomAt(const QPointF &screenPos, double factor);
    void panBy(const QPointF &screenDelta);

    // Classes present in the labels, ascending, and their visibility.
    const std::vector<int64_t> &classes() const { return m_classes; }
    bool isClassVisible(int64_t label) const;
    void setClassVisible(int64_t label, bool visible);
    void isolateClass(int64_t label);
    void showAllClasses();
    bool isPointVisible(int index) const;
    // Where the legend draws a class (empty if not drawn).
    QRect legendRect(int64_t label) const;

    // Classes drawn in their colours over the others, which turn grey, and
    // listed first in the legend (empty: every class in its colour).
    void setHighlightedClasses(const std::vector<int64_t> &labels);
    const std::vector<int64_t> &highlightedClasses() const { return m_highlighted; }
    // The classes present whose name contains `text` (case-insensitive),
    // most points first.
    std::vector<int64_t> findClasses(const QString &text) const;
    QString className(int64_t label) const;

    // The visible point nearest to a screen position within a few pixels, or -1.
    int pointAt(const QPointF &screenPos) const;
    // Visible points inside a screen rectangle / polygon, ascending.
    QVector<int> pointsInRect(const QRectF &screenRect) const;
    QVector<int> pointsInPolygon(const QPolygonF &screenPolygon) const;

    const QVector<int> &selection() const { return m_selection; }
    void setSelection(const QVector<int> &indices); // does not emit
    // A query and its neighbours, ringed over the points.
    void setHighlight(int query, const QVector<int> &neighbours);
    int hoveredPoint() const { return m_hover; }

    // The cached scatter (built now if out of date), and how many times it was built.
    const QImage &renderedImage() const;
    int renderCount() const { return m_renderCount; }
    int drawnPointCount() const { return m_drawn; }
    int pointRadius() const;

    QSize sizeHint() const override { return QSize(640, 520); }
    QSize minimumSizeHint() const override { return QSize(200, 160); }

public Q_SLOTS:
    // Fits all visible points.
    void resetView();

Q_SIGNALS:
    void selectionChanged(const QVector<int> &indices);
    void pointActivated(int index);
    void hovered(int index); // -1 when the cursor leaves the points
    void classVisibilityChanged();
    // The user zoomed, panned or fitted (a live projection stops fitting).
    void viewChangedByUser();

protected:
    void paintEvent(QPaintEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;
    void wheelEvent(QWheelEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;
    void mouseMoveEvent(QMouseEvent *event) override;
    void mouseReleaseEvent(QMouseEvent *event) override;
    void mouseDoubleClickEvent(QMouseEvent *event) override;
    void leaveEvent(QEvent *event) override;

private:
    enum class Drag { None, Pan, Rect, Lasso };

    void invalidate();
    void render() const;
    void layoutLegend() const;
    int64_t legendClassAt(const QPoint &pos) const;
    void drawLegend(QPainter &p) const;
    void drawHoverCard(QPainter &p) const;
    QRgb classColour(int64_t label) const;
    void finishSelection(const QVector<int> &indices);

    Matrix m_coords;
    std::vector<int64_t> m_labels;
    QStringList m_classNames;
    std::vector<int64_t> m_classes;     // present labels, ascending
    std::vector<int> m_classSlot;       // label -> position in m_classes (or -1)
    std::vector<char> m_classVisible;   // by slot
    std::vector<int64_t> m_classCount;  // points, by slot
    std::vector<int64_t> m_highlighted; // labels
    std::vector<char> m_classHighlighted; // by slot
    std::vector<int> m_order;           // drawing order (a fixed shuffle: no class always on top)
    QVector<int> m_selection;
    std::vector<char> m_selected;       // by point
    int m_query = -1;
    QVector<int> m_neighbours;
    ThumbnailProvider m_thumbnails;
    std::vector<int64_t> m_imageIndices;
    QString m_placeholder;

    QPointF m_center;
    double m_scale = 1;
    bool m_autoFit = true; // fitted and untouched since: a resize fits again

    // The cache: rebuilt lazily by render().
    mutable bool m_dirty = true;
    mutable QImage m_image;
    mutable int m_renderCount = 0;
    mutable int m_drawn = 0;
    mutable std::vector<float> m_screen;      // [N, 2] screen positions of drawn points
    mutable std::vector<int> m_cellStart;     // bucket grid over the widget, kCell pixels a side
    mutable std::vector<int> m_cellPoints;
    mutable int m_gridW = 0, m_gridH = 0;
    mutable bool m_legendDirty = true;
    mutable std::vector<QRect> m_legendRects; // by slot (empty: not listed)
    mutable int m_legendHidden = 0;           // classes not listed
    mutable QRect m_legendFrame;

    Drag m_drag = Drag::None;
    QPointF m_pressPos;
    QPointF m_lastPos;
    bool m_moved = false;
    QPolygonF m_lasso;
    int m_hover = -1;
    QPointF m_hoverPos;
};

} // namespace liftlab
