#pragma once

#include <QChartView>

class QString;
class QValueAxis;

namespace liftlab {

// Ticks at round values (1, 2 or 5 times a power of ten, about six of them)
// anchored at zero, for the axis's current range; the range itself is kept.
void setNiceTicks(QValueAxis *axis);
// A new range with round ticks. The axis never lays out the new range with
// the old tick interval, not even once: an interval of 0.2 over 100,000
// steps would be half a million tick items.
void setNiceRange(QValueAxis *axis, double min, double max);
// A text field of a chart's CSV export, quoted.
QString csvField(const QString &text);

// A chart view with box zoom (drag a rectangle; right click zooms out) that
// reports where the mouse hovers, in chart values, so its owner can show a
// tooltip for the nearest data point.
class ChartView : public QChartView
{
    Q_OBJECT

public:
    explicit ChartView(QChart *chart, QWidget *parent = nullptr);

    // Said over the plot while no series has a point: what will appear and
    // how to get it.
    void setPlaceholderText(const QString &text);

Q_SIGNALS:
    void hovered(const QPointF &value, const QPoint &globalPos);
    void hoverLeft();
    // The user zoomed in or out with the mouse.
    void zoomedByUser();

protected:
    void mouseMoveEvent(QMouseEvent *event) override;
    void mouseReleaseEvent(QMouseEvent *event) override;
    void leaveEvent(QEvent *event) override;
    void paintEvent(QPaintEvent *event) override;

private:
    QString m_placeholder;
    bool m_placeholderShown = false;
};

} // namespace liftlab
