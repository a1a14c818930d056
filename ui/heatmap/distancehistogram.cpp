#include "heatmap/distancehistogram.h"

#include <QPainter>

#include <algorithm>
#include <cmath>

namespace liftlab {

namespace {

const QColor kPositiveColour(40, 110, 210, 160);
const QColor kNegativeColour(235, 120, 30, 140);

} // namespace

DistanceHistogram::DistanceHistogram(QWidget *parent)
    : QWidget(parent)
{
}

void DistanceHistogram::setSnapshot(const DistanceSnapshot &s)
{
    clear();
    const size_t n = size_t(std::max<int64_t>(s.size, 0));
    if (n == 0 || s.distances.size() != n * n || s.labels.size() != n)
        return;
    for (size_t i = 0; i < n; ++i)
        for (size_t j = i + 1; j < n; ++j)
            if (std::isfinite(s.distances[i * n + j]))
                m_maxDistance = std::max(m_maxDistance, double(s.distances[i * n + j]));
    if (!(m_maxDistance > 0))
        m_maxDistance = 1;
    m_positive.assign(kBins, 0);
    m_negative.assign(kBins, 0);
    for (size_t i = 0; i < n; ++i)
        for (size_t j = i + 1; j < n; ++j) {
            const double d = s.distances[i * n + j];
            if (!std::isfinite(d))
                continue;
            const int bin = std::clamp(int(d / m_maxDistance * kBins), 0, kBins - 1);
            if (s.labels[i] == s.labels[j]) {
                ++m_positive[size_t(bin)];
                ++m_positiveTotal;
            } else {
                ++m_negative[size_t(bin)];
                ++m_negativeTotal;
            }
        }
    update();
}

void DistanceHistogram::clear()
{
    m_positive.clear();
    m_negative.clear();
    m_positiveTotal = m_negativeTotal = 0;
    m_maxDistance = 0;
    update();
}

void DistanceHistogram::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.fillRect(rect(), palette().base());
    const QFontMetrics fm(font());
    const QRectF plot(6, fm.height() + 8, width() - 12, height() - fm.height() * 2 - 14);
    p.setPen(palette().color(QPalette::Text));
    if (m_positive.empty() || plot.height() < 10) {
        p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap,
                   tr("The histogram of same-class and different-class distances in the batch appears here."));
        return;
    }
    // Legend, on one line.
    const QString positive = tr("positive pairs (%1)").arg(m_positiveTotal);
    const QString negative = tr("negative pairs (%1)").arg(m_negativeTotal);
    const double baseline = 4 + fm.ascent();
    p.fillRect(QRectF(6, 4 + fm.ascent() - 10, 10, 10), kPositiveColour);
    p.drawText(QPointF(20, baseline), positive);
    const double second = 20 + fm.horizontalAdvance(positive) + 16;
    p.fillRect(QRectF(second, 4 + fm.ascent() - 10, 10, 10), kNegativeColour);
    p.drawText(QPointF(second + 14, baseline), negative);

    double peak = 0;
    for (int b = 0; b < kBins; ++b) {
        if (m_positiveTotal)
            peak = std::max(peak, double(m_positive[size_t(b)]) / m_positiveTotal);
        if (m_negativeTotal)
            peak = std::max(peak, double(m_negative[size_t(b)]) / m_negativeTotal);
    }
    const double barWidth = plot.width() / kBins;
    auto drawBars = [&](const std::vector<int> &counts, int total, const QColor &colour) {
        if (total == 0 || peak <= 0)
            return;
        for (int b = 0; b < kBins; ++b) {
            const double h = double(counts[size_t(b)]) / total / peak * plot.height();
            p.fillRect(QRectF(plot.left() + b * barWidth, plot.bottom() - h, barWidth - 0.5, h), colour);
        }
    };
    drawBars(m_negative, m_negativeTotal, kNegativeColour);
    drawBars(m_positive, m_positiveTotal, kPositiveColour);
    p.drawLine(plot.bottomLeft(), plot.bottomRight());
    p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()), Qt::AlignLeft, QStringLiteral("0"));
    p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()), Qt::AlignHCenter, tr("distance"));
    p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()), Qt::AlignRight,
               QString::number(m_maxDistance, 'g', 3));
}

} // namespace liftlab
