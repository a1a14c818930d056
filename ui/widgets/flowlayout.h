#pragma once

#include <QHBoxLayout>
#include <QLayout>
#include <QList>

namespace liftlab {

// Lays its items out left to right and wraps them onto more rows when the
// width runs out, so a row of controls above a chart never makes a dock, or
// the window, wider than the screen. Items of one row are centred
// vertically; what is left of a row's width goes to the items that expand
// horizontally (a slider). A label and its field stay together when added as
// one QHBoxLayout with addLayout().
class FlowLayout : public QLayout
{
public:
    explicit FlowLayout(QWidget *parent = nullptr);
    ~FlowLayout() override;

    void addLayout(QLayout *layout);

    void addItem(QLayoutItem *item) override;
    int count() const override { return int(m_items.size()); }
    QLayoutItem *itemAt(int index) const override { return m_items.value(index); }
    QLayoutItem *takeAt(int index) override;
    Qt::Orientations expandingDirections() const override { return Qt::Horizontal; }
    bool hasHeightForWidth() const override { return true; }
    int heightForWidth(int width) const override;
    QSize minimumSize() const override;
    QSize sizeHint() const override;
    void setGeometry(const QRect &rect) override;

private:
    // Places the items in `rect` (only measures when `apply` is false) and
    // returns the height they take.
    int arrange(const QRect &rect, bool apply) const;
    int gap(Qt::Orientation orientation) const;

    QList<QLayoutItem *> m_items;
};

// A label and its field as one item of a FlowLayout: they wrap together.
QHBoxLayout *labelled(const QString &label, QWidget *field);

} // namespace liftlab
