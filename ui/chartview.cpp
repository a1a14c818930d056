#include "chartview.h"

#include <QMouseEvent>

namespace liftlab {

ChartView::ChartView(QChart *chart, QWidget *parent)
    : QChartView(chart, parent)
{
    setRubberBand(QChartView::RectangleRubberBand);
    setRenderHint(QPainter::Antialiasing);
    setMouseTracking(true);
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
