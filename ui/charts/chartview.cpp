#include "charts/chartview.h"

#include <QMouseEvent>
#include <QPainter>
#include <QXYSeries>
#include <QValueAxis>

#include <cmath>

namespace liftlab {

void setNiceTicks(QValueAxis *axis)
{
    const double range = axis->max() - axis->min();
    if (!(range > 0) || !std::isfinite(range))
        return;
    const double raw = range / 6;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double residual = raw / magnitude;
    const double step = (residual < 1.5 ? 1 : residual < 3 ? 2 : residual < 7 ? 5 : 10) * magnitude;
    axis->setTickType(QValueAxis::TicksDynamic);
    axis->setTickAnchor(0);
    axis->setTickInterval(step);
}

void setNiceRange(QValueAxis *axis, double min, double max)
{
    axis->setTickType(QValueAxis::TicksFixed);
    axis->setRange(min, max);
    setNiceTicks(axis);
}

QString csvField(const QString &text)
{
    return QLatin1Char('"') + QString(text).replace(QLatin1Char('"'), QStringLiteral("\"\"")) + QLatin1Char('"');
}

ChartView::ChartView(QChart *chart, QWidget *parent)
    : QChartView(chart, parent)
{
    setRubberBand(QChartView::RectangleRubberBand);
    setRenderHint(QPainter::Antialiasing);
    setMouseTracking(true);
    setMinimumHeight(160); // below this the axes' labels collapse into "..."
}

void ChartView::setPlaceholderText(const QString &text)
{
    m_placeholder = text;
    viewport()->update();
}

void ChartView::paintEvent(QPaintEvent *event)
{
    QChartView::paintEvent(event);
    bool empty = !m_placeholder.isEmpty();
    for (const QAbstractSeries *series : chart()->series())
        if (const auto *xy = qobject_cast<const QXYSeries *>(series); xy && xy->isVisible() && xy->count() > 0)
            empty = false;
    if (!empty) {
        // The view repaints only what the chart changed: once, all of it,
        // so that no part of the text stays behind.
        if (m_placeholderShown) {
            m_placeholderShown = false;
            viewport()->update();
        }
        return;
    }
    m_placeholderShown = true;
    QPainter p(viewport());
    p.setPen(palette().color(QPalette::PlaceholderText));
    const QRectF plot = mapFromScene(chart()->mapToScene(chart()->plotArea())).boundingRect();
    p.drawText(plot.adjusted(12, 12, -12, -12), Qt::AlignCenter | Qt::TextWordWrap, m_placeholder);
}

void ChartView::mouseMoveEvent(QMouseEvent *event)
{
    QChartView::mouseMoveEvent(event);
    const QPointF scenePos = mapToScene(event->position().toPoint());
    const QPointF chartPos = chart()->mapFromScene(scenePos);
    if (chart()->series().isEmpty() || !chart()->plotArea().contains(chartPos)) {
        Q_EMIT hoverLeft();
        return;
    }
    Q_EMIT hovered(chart()->mapToValue(chartPos, chart()->series().first()), event->globalPosition().toPoint());
}

void ChartView::mouseReleaseEvent(QMouseEvent *event)
{
    QChartView::mouseReleaseEvent(event);
    // QChartView zooms on release: in with a left-button rectangle, out with the right button.
    if (event->button() == Qt::LeftButton || event->button() == Qt::RightButton)
        Q_EMIT zoomedByUser();
}

void ChartView::leaveEvent(QEvent *event)
{
    QChartView::leaveEvent(event);
    Q_EMIT hoverLeft();
}

} // namespace liftlab
