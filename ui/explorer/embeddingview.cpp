#include "explorer/embeddingview.h"

#include "charts/colormap.h"

#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace liftlab {

namespace {

constexpr int kCell = 8;        // bucket grid cell, pixels
constexpr int kFitMargin = 24;  // pixels around the fitted points
constexpr int kDragSlop = 3;    // pixels a press may move and still be a click
constexpr int kLegendPad = 6;
constexpr int kCardThumb = 84;

bool finite(float x, float y)
{
    return std::isfinite(x) && std::isfinite(y);
}

} // namespace

EmbeddingView::EmbeddingView(QWidget *parent)
    : QWidget(parent)
{
    setMouseTracking(true);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setFocusPolicy(Qt::StrongFocus);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    m_placeholder = tr("No embedding to show.");
}

void EmbeddingView::setPlaceholderText(const QString &text)
{
    m_placeholder = text;
    update();
}

void EmbeddingView::setData(const Matrix &coordinates, const std::vector<int64_t> &labels,
                            const QStringList &classNames)
{
    const int64_t n = std::min<int64_t>(coordinates.cols == 2 ? coordinates.rows : 0, int64_t(labels.size()));
    m_coords = coordinates;
    m_coords.rows = n;
    m_coords.cols = 2;
    m_coords.values.resize(size_t(n) * 2);
    m_labels.assign(labels.begin(), labels.begin() + n);
    m_classNames = classNames;

    m_classes = m_labels;
    std::sort(m_classes.begin(), m_classes.end());
    m_classes.erase(std::unique(m_classes.begin(), m_classes.end()), m_classes.end());
    m_classSlot.assign(m_classes.empty() ? 0 : size_t(std::max<int64_t>(m_classes.back(), 0) + 1), -1);
    for (size_t s = 0; s < m_classes.size(); ++s)
        if (m_classes[s] >= 0)
            m_classSlot[size_t(m_classes[s])] = int(s);
    m_classVisible.assign(m_classes.size(), 1);
    m_classCount.assign(m_classes.size(), 0);
    for (const int64_t label : m_labels)
        if (label >= 0 && size_t(label) < m_classSlot.size())
            ++m_classCount[size_t(m_classSlot[size_t(label)])];
    m_highlighted.clear();
    m_classHighlighted.assign(m_classes.size(), 0);

    // A fixed shuffle as drawing order: no class hides another wholesale.
    m_order.resize(size_t(n));
    std::iota(m_order.begin(), m_order.end(), 0);
    std::shuffle(m_order.begin(), m_order.end(), std::mt19937(12345));

    m_selection.clear();
    m_selected.assign(size_t(n), 0);
    m_query = -1;
    m_neighbours.clear();
    m_hover = -1;
    m_legendDirty = true;
    resetView();
}

void EmbeddingView::setCoordinates(const Matrix &coordinates, bool fit)
{
    if (coordinates.cols != 2 || coordinates.rows != int64_t(m_labels.size())) {
        setData(coordinates, m_labels, m_classNames);
        return;
    }
    m_coords = coordinates;
    if (fit)
        resetView();
    else
        invalidate();
}

void EmbeddingView::clear()
{
    setData(Matrix(), {}, {});
}

QPointF EmbeddingView::dataPoint(int index) const
{
    return QPointF(m_coords.values[size_t(index) * 2], m_coords.values[size_t(index) * 2 + 1]);
}

QPointF EmbeddingView::toScreen(const QPointF &data) const
{
    return QPointF((data.x() - m_center.x()) * m_scale + width() / 2.0,
                   -(data.y() - m_center.y()) * m_scale + height() / 2.0);
}

QPointF EmbeddingView::toData(const QPointF &screen) const
{
    return QPointF(m_center.x() + (screen.x() - width() / 2.0) / m_scale,
                   m_center.y() - (screen.y() - height() / 2.0) / m_scale);
}

void EmbeddingView::setView(const QPointF &center, double scale)
{
    if (!(scale > 0) || !std::isfinite(scale) || !std::isfinite(center.x()) || !std::isfinite(center.y()))
        return;
    m_center = center;
    m_scale = scale;
    m_autoFit = false;
    invalidate();
}

void EmbeddingView::zoomAt(const QPointF &screenPos, double factor)
{
    const QPointF anchor = toData(screenPos);
    const double scale = std::clamp(m_scale * factor, 1e-12, 1e12);
    setView(QPointF(anchor.x() - (screenPos.x() - width() / 2.0) / scale,
                    anchor.y() + (screenPos.y() - height() / 2.0) / scale),
            scale);
}

void EmbeddingView::panBy(const QPointF &screenDelta)
{
    setView(QPointF(m_center.x() - screenDelta.x() / m_scale, m_center.y() + screenDelta.y() / m_scale), m_scale);
}

void EmbeddingView::resetView()
{
    double x0 = std::numeric_limits<double>::infinity(), y0 = x0, x1 = -x0, y1 = -x0;
    for (int pass = 0; pass < 2 && !(x1 >= x0); ++pass) // visible points, else all
        for (size_t i = 0; i < m_labels.size(); ++i) {
            if (pass == 0 && !isPointVisible(int(i)))
                continue;
            const float x = m_coords.values[2 * i], y = m_coords.values[2 * i + 1];
            if (!finite(x, y))
                continue;
            x0 = std::min(x0, double(x));
            x1 = std::max(x1, double(x));
            y0 = std::min(y0, double(y));
            y1 = std::max(y1, double(y));
        }
    if (!(x1 >= x0)) {
        m_center = QPointF(0, 0);
        m_scale = 1;
    } else {
        // Fit beside the legend, not under it.
        if (m_legendDirty)
            layoutLegend();
        const int legend = m_legendFrame.isEmpty() ? 0 : m_legendFrame.width() + kLegendPad;
        const int reserve = legend < width() / 3 ? legend : 0;
        const double span = std::max({x1 - x0, y1 - y0, 1e-9});
        const double w = std::max(1, width() - reserve - 2 * kFitMargin), h = std::max(1, height() - 2 * kFitMargin);
        m_scale = std::min(w / std::max(x1 - x0, span * 1e-3), h / std::max(y1 - y0, span * 1e-3));
        m_center = QPointF((x0 + x1) / 2 + reserve / 2.0 / m_scale, (y0 + y1) / 2);
    }
    m_autoFit = true;
    invalidate();
}

bool EmbeddingView::isClassVisible(int64_t label) const
{
    if (label < 0 || size_t(label) >= m_classSlot.size() || m_classSlot[size_t(label)] < 0)
        return true; // unknown labels are never hidden
    return m_classVisible[size_t(m_classSlot[size_t(label)])] != 0;
}

bool EmbeddingView::isPointVisible(int index) const
{
    return index >= 0 && size_t(index) < m_labels.size() && isClassVisible(m_labels[size_t(index)]);
}

void EmbeddingView::setClassVisible(int64_t label, bool visible)
{
    if (label < 0 || size_t(label) >= m_classSlot.size() || m_classSlot[size_t(label)] < 0)
        return;
    char &v = m_classVisible[size_t(m_classSlot[size_t(label)])];
    if (bool(v) == visible)
        return;
    v = visible;
    if (m_hover >= 0 && !isPointVisible(m_hover))
        m_hover = -1;
    invalidate();
    Q_EMIT classVisibilityChanged();
}

void EmbeddingView::isolateClass(int64_t label)
{
    for (size_t s = 0; s < m_classes.size(); ++s)
        m_classVisible[s] = m_classes[s] == label;
    if (m_hover >= 0 && !isPointVisible(m_hover))
        m_hover = -1;
    invalidate();
    Q_EMIT classVisibilityChanged();
}

void EmbeddingView::showAllClasses()
{
    std::fill(m_classVisible.begin(), m_classVisible.end(), 1);
    invalidate();
    Q_EMIT classVisibilityChanged();
}

void EmbeddingView::setHighlightedClasses(const std::vector<int64_t> &labels)
{
    m_highlighted.clear();
    m_classHighlighted.assign(m_classes.size(), 0);
    for (const int64_t label : labels)
        if (label >= 0 && size_t(label) < m_classSlot.size() && m_classSlot[size_t(label)] >= 0
            && !m_classHighlighted[size_t(m_classSlot[size_t(label)])]) {
            m_classHighlighted[size_t(m_classSlot[size_t(label)])] = 1;
            m_highlighted.push_back(label);
        }
    invalidate();
}

QString EmbeddingView::className(int64_t label) const
{
    return label >= 0 && label < m_classNames.size() ? m_classNames.at(int(label)) : tr("class %1").arg(label);
}

std::vector<int64_t> EmbeddingView::findClasses(const QString &text) const
{
    std::vector<size_t> slots;
    const QString wanted = text.trimmed();
    if (wanted.isEmpty())
        return {};
    for (size_t s = 0; s < m_classes.size(); ++s)
        if (className(m_classes[s]).contains(wanted, Qt::CaseInsensitive))
            slots.push_back(s);
    std::stable_sort(slots.begin(), slots.end(), [this](size_t a, size_t b) { return m_classCount[a] > m_classCount[b]; });
    std::vector<int64_t> labels;
    for (const size_t s : slots)
        labels.push_back(m_classes[s]);
    return labels;
}

void EmbeddingView::setSelection(const QVector<int> &indices)
{
    m_selection.clear();
    m_selected.assign(m_labels.size(), 0);
    for (int i : indices)
        if (i >= 0 && size_t(i) < m_labels.size() && !m_selected[size_t(i)]) {
            m_selected[size_t(i)] = 1;
            m_selection.append(i);
        }
    std::sort(m_selection.begin(), m_selection.end());
    invalidate();
}

void EmbeddingView::setHighlight(int query, const QVector<int> &neighbours)
{
    m_query = query;
    m_neighbours = neighbours;
    update(); // an overlay: the cache stays
}

void EmbeddingView::invalidate()
{
    m_dirty = true;
    m_legendDirty = true;
    update();
}

int EmbeddingView::pointRadius() const
{
    const size_t n = m_labels.size();
    return n > 30000 ? 1 : n > 4000 ? 2 : 3;
}

QRgb EmbeddingView::classColour(int64_t label) const
{
    if (label < 0 || size_t(label) >= m_classSlot.size() || m_classSlot[size_t(label)] < 0)
        return qRgb(120, 120, 120);
    return categorical(int(label));
}

const QImage &EmbeddingView::renderedImage() const
{
    if (m_dirty)
        render();
    return m_image;
}

void EmbeddingView::render() const
{
    m_dirty = false;
    ++m_renderCount;
    // Logical pixels (w, h) for the view transform and the bucket grid;
    // device pixels (W, H) for the image, so points stay crisp on HiDPI screens.
    const int w = std::max(1, width()), h = std::max(1, height());
    const qreal dpr = std::max<qreal>(1, devicePixelRatioF());
    const int W = int(std::ceil(w * dpr)), H = int(std::ceil(h * dpr));
    if (m_image.size() != QSize(W, H))
        m_image = QImage(W, H, QImage::Format_RGB32);
    m_image.setDevicePixelRatio(dpr);
    m_image.fill(qRgb(255, 255, 255));
    const size_t n = m_labels.size();
    m_screen.assign(n * 2, std::numeric_limits<float>::quiet_NaN());
    m_gridW = (w + kCell - 1) / kCell;
    m_gridH = (h + kCell - 1) / kCell;
    m_cellStart.assign(size_t(m_gridW) * size_t(m_gridH) + 1, 0);
    m_drawn = 0;

    const int r = int(std::lround(pointRadius() * dpr)); // device pixels
    std::vector<int> stamp; // (dx, dy) pairs of a disc
    for (int dy = -r; dy <= r; ++dy)
        for (int dx = -r; dx <= r; ++dx)
            if (dx * dx + dy * dy <= r * r + (r > 1 ? r - 1 : 1))
                stamp.insert(stamp.end(), {dx, dy});
    // Highlighted classes: the others grey, and drawn first.
    const bool highlighting = !m_highlighted.empty();
    std::vector<QRgb> colours(m_classes.size());
    for (size_t s = 0; s < m_classes.size(); ++s)
        colours[s] = !highlighting || m_classHighlighted[s] ? classColour(m_classes[s]) : qRgb(214, 214, 214);
    std::vector<int> order = m_order;
    if (highlighting)
        std::stable_partition(order.begin(), order.end(), [this](int i) {
            const int64_t label = m_labels[size_t(i)];
            return label < 0 || size_t(label) >= m_classSlot.size() || m_classSlot[size_t(label)] < 0
                   || !m_classHighlighted[size_t(m_classSlot[size_t(label)])];
        });

    auto *bits = reinterpret_cast<QRgb *>(m_image.bits());
    const int stride = int(m_image.bytesPerLine() / 4);
    auto put = [&](int x, int y, const std::vector<int> &offsets, QRgb colour) {
        for (size_t k = 0; k < offsets.size(); k += 2) {
            const int px = x + offsets[k], py = y + offsets[k + 1];
            if (unsigned(px) < unsigned(W) && unsigned(py) < unsigned(H))
                bits[py * stride + px] = colour;
        }
    };

    const double cx = m_center.x(), cy = m_center.y(), s = m_scale, hw = w / 2.0, hh = h / 2.0;
    const float* xy = m_coords.values.data();
    std::vector<int> drawn;
    drawn.reserve(n);
    for (int i : order) {
        const int64_t label = m_labels[size_t(i)];
        const int slot = label >= 0 && size_t(label) < m_classSlot.size() ? m_classSlot[size_t(label)] : -1;
        if (slot >= 0 && !m_classVisible[size_t(slot)])
            continue;
        const float x = xy[2 * size_t(i)], y = xy[2 * size_t(i) + 1];
        if (!finite(x, y))
            continue;
        const double sx = (x - cx) * s + hw, sy = -(y - cy) * s + hh;
        if (sx < -r - 1 || sy < -r - 1 || sx > w + r + 1 || sy > h + r + 1)
            continue;
        const int ix = int(std::floor(sx)), iy = int(std::floor(sy));
        put(int(std::floor(sx * dpr)), int(std::floor(sy * dpr)), stamp,
            slot >= 0 ? colours[size_t(slot)] : qRgb(120, 120, 120));
        if (unsigned(ix) < unsigned(w) && unsigned(iy) < unsigned(h)) {
            m_screen[2 * size_t(i)] = float(sx);
            m_screen[2 * size_t(i) + 1] = float(sy);
            ++m_cellStart[size_t(iy / kCell) * size_t(m_gridW) + size_t(ix / kCell) + 1];
            drawn.push_back(i);
        }
    }
    m_drawn = int(drawn.size());
    // Counting sort of the drawn points into their cells.
    for (size_t c = 1; c < m_cellStart.size(); ++c)
        m_cellStart[c] += m_cellStart[c - 1];
    m_cellPoints.resize(drawn.size());
    std::vector<int> fill(m_cellStart.begin(), m_cellStart.end() - 1);
    for (int i : drawn) {
        const int ix = int(m_screen[2 * size_t(i)]) , iy = int(m_screen[2 * size_t(i) + 1]);
        m_cellPoints[size_t(fill[size_t(iy / kCell) * size_t(m_gridW) + size_t(ix / kCell)]++)] = i;
    }

    // The selection on top, each point larger and with a dark rim of its colour.
    if (!m_selection.isEmpty()) {
        std::vector<int> rim, core;
        const int R = r + 1;
        for (int dy = -R - 1; dy <= R + 1; ++dy)
            for (int dx = -R - 1; dx <= R + 1; ++dx) {
                const int d2 = dx * dx + dy * dy;
                if (d2 <= R * R + R)
                    core.insert(core.end(), {dx, dy});
                else if (d2 <= (R + 1) * (R + 1) + R + 1)
                    rim.insert(rim.end(), {dx, dy});
            }
        for (int i : m_selection) {
            if (std::isnan(m_screen[2 * size_t(i)]))
                continue;
            const int ix = int(std::floor(m_screen[2 * size_t(i)] * dpr));
            const int iy = int(std::floor(m_screen[2 * size_t(i) + 1] * dpr));
            const QRgb colour = classColour(m_labels[size_t(i)]);
            put(ix, iy, rim, QColor::fromRgb(colour).darker(220).rgb());
            put(ix, iy, core, colour);
        }
    }
}

int EmbeddingView::pointAt(const QPointF &pos) const
{
    if (m_dirty)
        render();
    if (m_gridW == 0 || m_labels.empty())
        return -1;
    const double radius = std::max(pointRadius() + 2, 5);
    const int c0 = std::max(0, int(std::floor((pos.x() - radius) / kCell)));
    const int c1 = std::min(m_gridW - 1, int(std::floor((pos.x() + radius) / kCell)));
    const int r0 = std::max(0, int(std::floor((pos.y() - radius) / kCell)));
    const int r1 = std::min(m_gridH - 1, int(std::floor((pos.y() + radius) / kCell)));
    int best = -1;
    double bestD2 = radius * radius;
    for (int row = r0; row <= r1; ++row)
        for (int col = c0; col <= c1; ++col) {
            const size_t cell = size_t(row) * size_t(m_gridW) + size_t(col);
            for (int k = m_cellStart[cell]; k < m_cellStart[cell + 1]; ++k) {
                const int i = m_cellPoints[size_t(k)];
                const double dx = m_screen[2 * size_t(i)] - pos.x(), dy = m_screen[2 * size_t(i) + 1] - pos.y();
                const double d2 = dx * dx + dy * dy;
                if (d2 <= bestD2) { // later cells and points were drawn later: on top
                    bestD2 = d2;
                    best = i;
                }
            }
        }
    return best;
}

QVector<int> EmbeddingView::pointsInRect(const QRectF &screenRect) const
{
    QVector<int> inside;
    const QRectF r = screenRect.normalized();
    for (size_t i = 0; i < m_labels.size(); ++i) {
        if (!isPointVisible(int(i)) || !finite(m_coords.values[2 * i], m_coords.values[2 * i + 1]))
            continue;
        const QPointF p = toScreen(dataPoint(int(i)));
        if (p.x() >= r.left() && p.x() <= r.right() && p.y() >= r.top() && p.y() <= r.bottom())
            inside.append(int(i));
    }
    return inside;
}

QVector<int> EmbeddingView::pointsInPolygon(const QPolygonF &polygon) const
{
    QVector<int> inside;
    if (polygon.size() < 3)
        return inside;
    const QRectF bounds = polygon.boundingRect();
    for (size_t i = 0; i < m_labels.size(); ++i) {
        if (!isPointVisible(int(i)) || !finite(m_coords.values[2 * i], m_coords.values[2 * i + 1]))
            continue;
        const QPointF p = toScreen(dataPoint(int(i)));
        if (bounds.contains(p) && polygon.containsPoint(p, Qt::OddEvenFill))
            inside.append(int(i));
    }
    return inside;
}

void EmbeddingView::finishSelection(const QVector<int> &indices)
{
    setSelection(indices);
    Q_EMIT selectionChanged(m_selection);
}

// Legend ---------------------------------------------------------------------

void EmbeddingView::layoutLegend() const
{
    m_legendDirty = false;
    m_legendRects.assign(m_classes.size(), QRect());
    m_legendFrame = QRect();
    m_legendHidden = 0;
    if (m_classes.empty())
        return;
    const QFontMetrics fm(font());
    const int line = fm.height() + 4;
    const int room = std::max(1, (height() - 2 * kLegendPad - 8) / line);
    // The highlighted classes first; then ascending when every class fits,
    // else the most frequent first.
    std::vector<size_t> order(m_classes.size());
    std::iota(order.begin(), order.end(), size_t(0));
    const bool overflow = int(order.size()) > room;
    std::stable_sort(order.begin(), order.end(), [this, overflow](size_t a, size_t b) {
        if (m_classHighlighted[a] != m_classHighlighted[b])
            return m_classHighlighted[a] > m_classHighlighted[b];
        return overflow && m_classCount[a] > m_classCount[b];
    });
    const int shown = std::min<int>(int(order.size()), room);
    m_legendHidden = int(order.size()) - shown;
    QFont boldFont = font(); // highlighted classes are named in bold
    boldFont.setBold(true);
    const QFontMetrics boldMetrics(boldFont);
    int textW = 0;
    for (int k = 0; k < shown; ++k) {
        const size_t slot = order[size_t(k)];
        textW = std::max(textW, (m_classHighlighted[slot] ? boldMetrics : fm).horizontalAdvance(className(m_classes[slot])));
    }
    const int itemW = std::min(textW, 180) + 22;
    const int x = width() - itemW - kLegendPad - 6;
    for (int k = 0; k < shown; ++k)
        m_legendRects[order[size_t(k)]] = QRect(x, kLegendPad + 4 + k * line, itemW, line);
    m_legendFrame = QRect(x - 4, kLegendPad, itemW + 8, shown * line + 8);
}

QRect EmbeddingView::legendRect(int64_t label) const
{
    if (m_legendDirty)
        layoutLegend();
    if (label < 0 || size_t(label) >= m_classSlot.size() || m_classSlot[size_t(label)] < 0)
        return {};
    return m_legendRects[size_t(m_classSlot[size_t(label)])];
}

int64_t EmbeddingView::legendClassAt(const QPoint &pos) const
{
    if (m_legendDirty)
        layoutLegend();
    for (size_t s = 0; s < m_legendRects.size(); ++s)
        if (m_legendRects[s].contains(pos))
            return m_classes[s];
    return -1;
}

void EmbeddingView::drawLegend(QPainter &p) const
{
    if (m_legendDirty)
        layoutLegend();
    if (m_legendFrame.isEmpty())
        return;
    p.save();
    p.setPen(QColor(0, 0, 0, 60));
    p.setBrush(QColor(255, 255, 255, 225));
    p.drawRoundedRect(m_legendFrame, 4, 4);
    for (size_t s = 0; s < m_legendRects.size(); ++s) {
        const QRect r = m_legendRects[s];
        if (r.isEmpty())
            continue;
        const bool visible = m_classVisible[s];
        const QColor colour = QColor::fromRgb(classColour(m_classes[s]));
        const QRect swatch(r.left() + 2, r.center().y() - 5, 11, 11);
        p.setPen(colour.darker(130));
        p.setBrush(visible ? QBrush(colour) : QBrush(Qt::NoBrush));
        p.drawRect(swatch);
        const QString name = className(m_classes[s]);
        p.setPen(visible ? QColor(30, 30, 30) : QColor(160, 160, 160));
        QFont font = p.font();
        font.setBold(m_classHighlighted[s]);
        p.setFont(font);
        p.drawText(r.adjusted(20, 0, 0, 0), Qt::AlignLeft | Qt::AlignVCenter,
                   p.fontMetrics().elidedText(name, Qt::ElideRight, r.width() - 20));
    }
    if (m_legendHidden > 0) {
        QFont font = p.font();
        font.setBold(false);
        p.setFont(font);
        p.setPen(QColor(90, 90, 90));
        p.drawText(m_legendFrame.adjusted(0, 0, -4, 14), Qt::AlignRight | Qt::AlignBottom,
                   tr("+%1 more").arg(m_legendHidden));
    }
    p.restore();
}

// Painting -------------------------------------------------------------------

void EmbeddingView::drawHoverCard(QPainter &p) const
{
    if (m_hover < 0 || size_t(m_hover) >= m_labels.size())
        return;
    const QPointF at = toScreen(dataPoint(m_hover));
    p.setRenderHint(QPainter::Antialiasing);
    p.setPen(QPen(QColor(0, 0, 0), 1.5));
    p.setBrush(Qt::NoBrush);
    p.drawEllipse(at, pointRadius() + 4.0, pointRadius() + 4.0);
    p.setRenderHint(QPainter::Antialiasing, false);

    const int64_t label = m_labels[size_t(m_hover)];
    const QString name = label >= 0 && label < m_classNames.size() ? m_classNames.at(int(label))
                                                                     : tr("class %1").arg(label);
    const QString line2 = tr("test image %1").arg(imageIndex(m_hover));
    QImage thumb = m_thumbnails ? m_thumbnails(m_hover) : QImage();
    if (!thumb.isNull())
        thumb = thumb.scaled(kCardThumb, kCardThumb, Qt::KeepAspectRatio,
                             thumb.width() < kCardThumb ? Qt::FastTransformation : Qt::SmoothTransformation);
    const QFontMetrics fm(font());
    const int textW = std::max(fm.horizontalAdvance(name), fm.horizontalAdvance(line2));
    const int cardW = std::max(textW, thumb.isNull() ? 0 : thumb.width()) + 12;
    const int cardH = (thumb.isNull() ? 0 : thumb.height() + 4) + 2 * fm.height() + 10;
    QPoint topLeft = m_hoverPos.toPoint() + QPoint(16, 16);
    if (topLeft.x() + cardW > width())
        topLeft.setX(m_hoverPos.toPoint().x() - 16 - cardW);
    if (topLeft.y() + cardH > height())
        topLeft.setY(m_hoverPos.toPoint().y() - 16 - cardH);
    const QRect card(topLeft, QSize(cardW, cardH));
    p.setPen(QColor(0, 0, 0, 90));
    p.setBrush(QColor(255, 255, 240));
    p.drawRect(card);
    int y = card.top() + 6;
    if (!thumb.isNull()) {
        p.drawImage(QPoint(card.left() + (cardW - thumb.width()) / 2, y), thumb);
        y += thumb.height() + 4;
    }
    p.setPen(QColor::fromRgb(classColour(label)).darker(140));
    p.drawText(QRect(card.left() + 6, y, cardW - 12, fm.height()), Qt::AlignLeft, name);
    p.setPen(QColor(60, 60, 60));
    p.drawText(QRect(card.left() + 6, y + fm.height(), cardW - 12, fm.height()), Qt::AlignLeft, line2);
}

void EmbeddingView::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    if (m_labels.empty()) {
        p.fillRect(rect(), Qt::white);
        p.setPen(QColor(120, 120, 120));
        p.drawText(rect().adjusted(20, 20, -20, -20), Qt::AlignCenter | Qt::TextWordWrap, m_placeholder);
        return;
    }
    p.drawImage(0, 0, renderedImage());

    // The query and its neighbours.
    p.setRenderHint(QPainter::Antialiasing);
    p.setBrush(Qt::NoBrush);
    const double ring = pointRadius() + 3.0;
    for (int i : m_neighbours) {
        if (i < 0 || size_t(i) >= m_labels.size() || !isPointVisible(i))
            continue;
        const bool same = m_query >= 0 && m_labels[size_t(i)] == m_labels[size_t(m_query)];
        p.setPen(QPen(same ? QColor(30, 150, 50) : QColor(215, 40, 30), 1.6));
        p.drawEllipse(toScreen(dataPoint(i)), ring, ring);
    }
    if (m_query >= 0 && size_t(m_query) < m_labels.size()) {
        const QPointF q = toScreen(dataPoint(m_query));
        p.setPen(QPen(Qt::white, 4));
        p.drawEllipse(q, ring + 3, ring + 3);
        p.setPen(QPen(Qt::black, 2));
        p.drawEllipse(q, ring + 3, ring + 3);
    }
    p.setRenderHint(QPainter::Antialiasing, false);

    // Selection in progress.
    if (m_drag == Drag::Rect && m_moved) {
        p.setPen(QPen(QColor(30, 90, 200), 1, Qt::DashLine));
        p.setBrush(QColor(30, 90, 200, 40));
        p.drawRect(QRectF(m_pressPos, m_lastPos).normalized());
    } else if (m_drag == Drag::Lasso && m_lasso.size() > 1) {
        p.setRenderHint(QPainter::Antialiasing);
        p.setPen(QPen(QColor(30, 90, 200), 1.5, Qt::DashLine));
        p.setBrush(QColor(30, 90, 200, 40));
        p.drawPolygon(m_lasso);
        p.setRenderHint(QPainter::Antialiasing, false);
    }

    drawLegend(p);
    p.setPen(QColor(90, 90, 90));
    QString status = tr("%1 points").arg(m_drawn);
    if (!m_selection.isEmpty())
        status += tr(", %1 selected").arg(m_selection.size());
    p.drawText(rect().adjusted(8, 0, 0, -6), Qt::AlignLeft | Qt::AlignBottom, status);
    drawHoverCard(p);
}

void EmbeddingView::resizeEvent(QResizeEvent *)
{
    if (m_autoFit)
        resetView();
    invalidate();
}

// Mouse ----------------------------------------------------------------------

void EmbeddingView::wheelEvent(QWheelEvent *event)
{
    const int delta = event->angleDelta().y();
    if (delta == 0 || m_labels.empty())
        return;
    zoomAt(event->position(), std::pow(1.0015, delta));
    Q_EMIT viewChangedByUser();
    event->accept();
}

void EmbeddingView::mousePressEvent(QMouseEvent *event)
{
    if (event->button() != Qt::LeftButton)
        return;
    const QPointF pos = event->position();
    const int64_t legendClass = legendClassAt(pos.toPoint());
    if (legendClass >= 0) {
        setClassVisible(legendClass, !isClassVisible(legendClass));
        m_drag = Drag::None;
        return;
    }
    m_pressPos = m_lastPos = pos;
    m_moved = false;
    if (event->modifiers() & Qt::ShiftModifier) {
        m_drag = Drag::Rect;
    } else if (event->modifiers() & Qt::ControlModifier) {
        m_drag = Drag::Lasso;
        m_lasso = QPolygonF({pos});
    } else {
        m_drag = Drag::Pan;
    }
}

void EmbeddingView::mouseMoveEvent(QMouseEvent *event)
{
    const QPointF pos = event->position();
    if (!m_moved && (pos - m_pressPos).manhattanLength() > kDragSlop)
        m_moved = true;
    switch (m_drag) {
    case Drag::None: {
        const int hover = legendClassAt(pos.toPoint()) >= 0 ? -1 : pointAt(pos);
        const bool changed = hover != m_hover;
        if (changed) {
            m_hover = hover;
            Q_EMIT hovered(hover);
        }
        m_hoverPos = pos;
        if (changed || m_hover >= 0) // the card follows the cursor
            update();
        return;
    }
    case Drag::Pan:
        if (m_moved) {
            panBy(pos - m_lastPos);
            m_lastPos = pos;
            m_hover = -1;
            Q_EMIT viewChangedByUser();
        }
        return;
    case Drag::Rect:
        m_lastPos = pos;
        update();
        return;
    case Drag::Lasso:
        if (QLineF(m_lasso.last(), pos).length() >= 2)
            m_lasso.append(pos);
        m_lastPos = pos;
        update();
        return;
    }
}

void EmbeddingView::mouseReleaseEvent(QMouseEvent *event)
{
    if (event->button() != Qt::LeftButton)
        return;
    const QPointF pos = event->position();
    const Drag drag = m_drag;
    m_drag = Drag::None;
    if (drag == Drag::Rect && m_moved) {
        finishSelection(pointsInRect(QRectF(m_pressPos, pos)));
    } else if (drag == Drag::Lasso && m_moved) {
        m_lasso.append(pos);
        finishSelection(pointsInPolygon(m_lasso));
    } else if (drag != Drag::None && !m_moved) {
        const int index = pointAt(pos);
        if (index >= 0)
            Q_EMIT pointActivated(index);
    }
    m_lasso.clear();
    update();
}

void EmbeddingView::mouseDoubleClickEvent(QMouseEvent *event)
{
    if (event->button() != Qt::LeftButton)
        return;
    const int64_t legendClass = legendClassAt(event->position().toPoint());
    if (legendClass >= 0) {
        // Isolated already (every other class hidden; the first click of this
        // double click toggled the class itself): show all again.
        bool othersHidden = true;
        for (size_t s = 0; s < m_classes.size(); ++s)
            if (m_classes[s] != legendClass && m_classVisible[s])
                othersHidden = false;
        if (othersHidden && m_classes.size() > 1)
            showAllClasses();
        else
            isolateClass(legendClass);
        return;
    }
    if (pointAt(event->position()) < 0) {
        resetView();
        Q_EMIT viewChangedByUser();
    }
}

void EmbeddingView::leaveEvent(QEvent *)
{
    if (m_hover >= 0) {
        m_hover = -1;
        Q_EMIT hovered(-1);
        update();
    }
}

} // namespace liftlab
