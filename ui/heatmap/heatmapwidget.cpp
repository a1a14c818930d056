#include "heatmap/heatmapwidget.h"

#include "charts/colormap.h"

#include <QMouseEvent>
#include <QPainter>
#include <QCursor>
#include <QToolTip>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace liftlab {

namespace {

constexpr int kLeftMargin = 86;  // class names
constexpr int kTopMargin = 22;   // title
constexpr int kRightMargin = 64; // scale bar and its labels
constexpr int kBottomMargin = 8;

} // namespace

HeatmapWidget::HeatmapWidget(QWidget *parent)
    : QWidget(parent)
{
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    QImage scale(1, 256, QImage::Format_RGB32);
    for (int y = 0; y < 256; ++y)
        scale.setPixel(0, y, viridis(1.0 - y / 255.0));
    m_scalePixmap = QPixmap::fromImage(scale);
}

void HeatmapWidget::setColourRange(float min, float max)
{
    if ((min == m_rangeMin && max == m_rangeMax) || (std::isnan(min) && std::isnan(m_rangeMin)))
        return;
    m_rangeMin = min;
    m_rangeMax = max;
    if (hasFrame()) {
        rebuild();
        update();
    }
}

void HeatmapWidget::setFrame(const SnapshotFrame &frame)
{
    const DistanceSnapshot &s = frame.snapshot;
    const size_t n = size_t(std::max<int64_t>(s.size, 0));
    if (n == 0 || s.distances.size() != n * n || s.labels.size() != n) {
        clear();
        return;
    }
    m_frame = frame;
    if (!m_frame.snapshot.pairTerms.empty() && m_frame.snapshot.pairTerms.size() != n * n)
        m_frame.snapshot.pairTerms.clear();
    rebuild();
    update();
    // A tooltip open over the old batch describes the new one.
    if (underMouse() && QToolTip::isVisible())
        showCellTip(mapFromGlobal(QCursor::pos()));
}

void HeatmapWidget::clear()
{
    m_frame = SnapshotFrame();
    m_order.clear();
    m_blockStart.clear();
    m_hardest.clear();
    m_image = QImage();
    m_pixmap = QPixmap();
    m_termsPixmap = QPixmap();
    update();
}

float HeatmapWidget::distance(int i, int j) const
{
    return m_frame.snapshot.distances[size_t(i) * size_t(m_frame.snapshot.size) + size_t(j)];
}

bool HeatmapWidget::isPositive(int i, int j) const
{
    return i != j && m_frame.snapshot.labels[size_t(i)] == m_frame.snapshot.labels[size_t(j)];
}

void HeatmapWidget::rebuild()
{
    const DistanceSnapshot &s = m_frame.snapshot;
    const int n = int(s.size);

    // Sort by class, keeping batch order within a class.
    m_order.resize(size_t(n));
    std::iota(m_order.begin(), m_order.end(), 0);
    std::stable_sort(m_order.begin(), m_order.end(),
                     [&](int a, int b) { return s.labels[size_t(a)] < s.labels[size_t(b)]; });
    m_blockStart.clear();
    for (int p = 0; p < n; ++p)
        if (p == 0 || s.labels[size_t(m_order[size_t(p)])] != s.labels[size_t(m_order[size_t(p - 1)])])
            m_blockStart.push_back(p);
    m_blockStart.push_back(n);

    // Colour range over the off-diagonal distances; hardest negative per row.
    m_min = std::numeric_limits<float>::infinity();
    m_max = -m_min;
    m_hardest.assign(size_t(n), -1);
    for (int i = 0; i < n; ++i) {
        float closest = std::numeric_limits<float>::infinity();
        for (int j = 0; j < n; ++j) {
            if (i == j)
                continue;
            const float d = distance(i, j);
            if (!std::isfinite(d))
                continue;
            m_min = std::min(m_min, d);
            m_max = std::max(m_max, d);
            if (!isPositive(i, j) && d < closest) {
                closest = d;
                m_hardest[size_t(i)] = j;
            }
        }
    }
    if (!(m_max > m_min)) {
        m_min = std::isfinite(m_min) ? m_min : 0.f;
        m_max = m_min + 1.f;
    }
    m_dataMin = m_min;
    m_dataMax = m_max;
    if (m_rangeMax > m_rangeMin) { // a common range (not NaN)
        m_min = m_rangeMin;
        m_max = m_rangeMax;
    }

    m_image = QImage(n, n, QImage::Format_RGB32);
    for (int r = 0; r < n; ++r) {
        auto *line = reinterpret_cast<QRgb *>(m_image.scanLine(r));
        for (int c = 0; c < n; ++c)
            line[c] = viridis((distance(m_order[size_t(r)], m_order[size_t(c)]) - m_min) / (m_max - m_min));
    }
    m_pixmap = QPixmap::fromImage(m_image);

    m_termsPixmap = QPixmap();
    if (!s.pairTerms.empty()) {
        float maxTerm = 0;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j)
                if (isPositive(i, j))
                    maxTerm = std::max(maxTerm, s.pairTerms[size_t(i) * size_t(n) + size_t(j)]);
        QImage terms(n, n, QImage::Format_ARGB32_Premultiplied);
        terms.fill(Qt::transparent);
        for (int r = 0; r < n; ++r)
            for (int c = 0; c < n; ++c) {
                const int i = m_order[size_t(r)], j = m_order[size_t(c)];
                if (!isPositive(i, j))
                    continue;
                const float term = s.pairTerms[size_t(i) * size_t(n) + size_t(j)];
                // Active pairs (J > 0) in red, stronger for larger terms; inactive ones grey.
                const QColor colour = term > 0 && maxTerm > 0
                                          ? QColor(activeTermColour().red(), activeTermColour().green(),
                                                   activeTermColour().blue(), 90 + int(165 * std::min(1.f, term / maxTerm)))
                                          : QColor(200, 200, 200, 200);
                terms.setPixelColor(c, r, colour);
            }
        m_termsPixmap = QPixmap::fromImage(terms);
    }
}

QRectF HeatmapWidget::matrixRect() const
{
    const int w = width() - kLeftMargin - kRightMargin, h = height() - kTopMargin - kBottomMargin;
    const int side = std::max(0, std::min(w, h));
    // Centred in the room it does not fill (a tall dock, a wide one).
    return QRectF(kLeftMargin + (w - side) / 2, kTopMargin + (h - side) / 2, side, side);
}

QRect HeatmapWidget::scaleBarRect() const
{
    const QRectF m = matrixRect();
    return QRect(int(m.right()) + 10, int(m.top()), 12, int(m.height()));
}

bool HeatmapWidget::cellAt(const QPoint &pos, int *i, int *j) const
{
    const int n = int(m_frame.snapshot.size);
    const QRectF m = matrixRect();
    if (n == 0 || m.isEmpty() || !m.contains(pos))
        return false;
    const int c = std::clamp(int((pos.x() - m.left()) / m.width() * n), 0, n - 1);
    const int r = std::clamp(int((pos.y() - m.top()) / m.height() * n), 0, n - 1);
    *i = m_order[size_t(r)];
    *j = m_order[size_t(c)];
    return true;
}

int HeatmapWidget::hardestNegative(int i) const
{
    return i >= 0 && size_t(i) < m_hardest.size() ? m_hardest[size_t(i)] : -1;
}

void HeatmapWidget::setShowPositives(bool show)
{
    m_showPositives = show;
    update();
}

void HeatmapWidget::setShowHardestNegatives(bool show)
{
    m_showHardest = show;
    update();
}

void HeatmapWidget::setShowPairTerms(bool show)
{
    m_showTerms = show;
    update();
}

void HeatmapWidget::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.fillRect(rect(), palette().window());
    const QRectF m = matrixRect();
    if (!hasFrame() || m.isEmpty()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap,
                   tr("The distances between the images of the current batch appear here, sorted by class, "
                      "once training starts: press Start (Ctrl+R), or open a run."));
        return;
    }
    const int n = int(m_frame.snapshot.size);
    const double cell = m.width() / n;
    p.setPen(palette().color(QPalette::WindowText));
    p.drawText(QRectF(0, m.top() - kTopMargin, width(), kTopMargin), Qt::AlignCenter,
               tr("Batch distances at step %1 (B = %2, sorted by class)").arg(m_frame.snapshot.step).arg(n));

    // Nearest-neighbour scaling: one crisp square per pair.
    p.setRenderHint(QPainter::SmoothPixmapTransform, false);
    p.drawPixmap(m, m_pixmap, QRectF(m_pixmap.rect()));
    if (m_showTerms && !m_termsPixmap.isNull())
        p.drawPixmap(m, m_termsPixmap, QRectF(m_termsPixmap.rect()));

    // Class boundaries, and the class of each block on the left.
    p.setPen(QPen(QColor(255, 255, 255, 170), 1));
    for (size_t b = 1; b + 1 < m_blockStart.size(); ++b) {
        const double at = m_blockStart[b] * cell;
        p.drawLine(QPointF(m.left() + at, m.top()), QPointF(m.left() + at, m.bottom()));
        p.drawLine(QPointF(m.left(), m.top() + at), QPointF(m.right(), m.top() + at));
    }
    p.setPen(palette().color(QPalette::WindowText));
    const QFontMetrics fm(font());
    for (size_t b = 0; b + 1 < m_blockStart.size(); ++b) {
        const double top = m.top() + m_blockStart[b] * cell, bottom = m.top() + m_blockStart[b + 1] * cell;
        if (bottom - top < fm.height() * 0.8)
            continue;
        const int64_t label = m_frame.snapshot.labels[size_t(m_order[size_t(m_blockStart[b])])];
        const QString name = fm.elidedText(m_frame.className(label), Qt::ElideRight, kLeftMargin - 8);
        p.drawText(QRectF(m.left() - kLeftMargin, top, kLeftMargin - 6, bottom - top), Qt::AlignRight | Qt::AlignVCenter,
                   name);
    }

    if (m_showPositives) {
        // Positive pairs are exactly the diagonal blocks once sorted by class.
        QColor fill = positivesColour();
        fill.setAlpha(40);
        p.setPen(QPen(positivesColour(), 2));
        p.setBrush(fill);
        for (size_t b = 0; b + 1 < m_blockStart.size(); ++b) {
            const double at = m_blockStart[b] * cell, size = (m_blockStart[b + 1] - m_blockStart[b]) * cell;
            p.drawRect(QRectF(m.left() + at, m.top() + at, size, size));
        }
        p.setBrush(Qt::NoBrush);
    }
    if (m_showHardest) {
        std::vector<int> position(static_cast<size_t>(n));
        for (int r = 0; r < n; ++r)
            position[size_t(m_order[size_t(r)])] = r;
        p.setRenderHint(QPainter::Antialiasing);
        p.setPen(Qt::NoPen);
        p.setBrush(hardestNegativeColour());
        const double radius = std::clamp(cell * 0.45, 1.5, 6.0);
        for (int r = 0; r < n; ++r) {
            const int j = m_hardest[size_t(m_order[size_t(r)])];
            if (j < 0)
                continue;
            const QPointF centre(m.left() + (position[size_t(j)] + 0.5) * cell, m.top() + (r + 0.5) * cell);
            p.drawEllipse(centre, radius, radius);
        }
        p.setRenderHint(QPainter::Antialiasing, false);
        p.setBrush(Qt::NoBrush);
    }

    // Scale bar.
    const QRect bar = scaleBarRect();
    p.setRenderHint(QPainter::SmoothPixmapTransform, true);
    p.drawPixmap(bar, m_scalePixmap);
    p.setPen(palette().color(QPalette::WindowText));
    p.drawRect(bar.adjusted(0, 0, -1, -1));
    const int textX = bar.right() + 4;
    const int textW = width() - textX;
    for (int k = 0; k <= 4; ++k) {
        const double value = m_max - (m_max - m_min) * k / 4.0;
        const int y = bar.top() + int(bar.height() * k / 4.0);
        p.drawLine(bar.right() - 2, y, bar.right() + 2, y);
        p.drawText(QRect(textX, y - fm.height() / 2, textW, fm.height()), Qt::AlignLeft | Qt::AlignVCenter,
                   QString::number(value, 'g', 3));
    }
}

void HeatmapWidget::mouseMoveEvent(QMouseEvent *event)
{
    showCellTip(event->position().toPoint());
}

void HeatmapWidget::showCellTip(const QPoint &pos)
{
    int i = 0, j = 0;
    if (!cellAt(pos, &i, &j)) {
        QToolTip::hideText();
        return;
    }
    const DistanceSnapshot &s = m_frame.snapshot;
    QString text = tr("batch of step %1\ni = %2 (%3), j = %4 (%5)\ndistance %6")
                       .arg(s.step)
                       .arg(i)
                       .arg(m_frame.className(s.labels[size_t(i)]))
                       .arg(j)
                       .arg(m_frame.className(s.labels[size_t(j)]))
                       .arg(distance(i, j), 0, 'g', 4);
    if (i == j)
        text += tr("\nthe same image");
    else
        text += isPositive(i, j) ? tr("\npositive pair") : tr("\nnegative pair");
    // Losses that score only positive pairs (the lifted J_ij) leave zeros elsewhere.
    const float term = s.pairTerms.empty() || i == j ? 0.f : s.pairTerms[size_t(i) * size_t(s.size) + size_t(j)];
    if (!s.pairTerms.empty() && i != j && (isPositive(i, j) || term != 0.f))
        text += tr(", loss term %1").arg(term, 0, 'g', 4);
    if (hardestNegative(i) == j)
        text += tr("\nthe hardest negative of row %1").arg(i);
    QToolTip::showText(mapToGlobal(pos), text, this);
}

void HeatmapWidget::mousePressEvent(QMouseEvent *event)
{
    int i = 0, j = 0;
    if (event->button() == Qt::LeftButton && cellAt(event->position().toPoint(), &i, &j))
        Q_EMIT cellClicked(i, j);
}

} // namespace liftlab
