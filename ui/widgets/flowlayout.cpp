#include "widgets/flowlayout.h"

#include <QLabel>
#include <QStyle>
#include <QWidget>

#include <algorithm>

namespace liftlab {

QHBoxLayout *labelled(const QString &label, QWidget *field)
{
    auto *pair = new QHBoxLayout;
    pair->addWidget(new QLabel(label));
    pair->addWidget(field, 1);
    return pair;
}

FlowLayout::FlowLayout(QWidget *parent)
    : QLayout(parent)
{
}

FlowLayout::~FlowLayout()
{
    while (QLayoutItem *item = takeAt(0))
        delete item;
}

void FlowLayout::addLayout(QLayout *layout)
{
    addChildLayout(layout);
    addItem(layout);
}

void FlowLayout::addItem(QLayoutItem *item)
{
    m_items.append(item);
    invalidate();
}

QLayoutItem *FlowLayout::takeAt(int index)
{
    if (index < 0 || index >= m_items.size())
        return nullptr;
    QLayoutItem *item = m_items.takeAt(index);
    invalidate();
    return item;
}

int FlowLayout::heightForWidth(int width) const
{
    return arrange(QRect(0, 0, width, 0), false);
}

QSize FlowLayout::minimumSize() const
{
    QSize size;
    for (const QLayoutItem *item : m_items)
        if (!item->isEmpty())
            size = size.expandedTo(item->minimumSize());
    const QMargins m = contentsMargins();
    return size + QSize(m.left() + m.right(), m.top() + m.bottom());
}

QSize FlowLayout::sizeHint() const
{
    // Everything on one row.
    int width = 0, height = 0, shown = 0;
    for (const QLayoutItem *item : m_items) {
        if (item->isEmpty())
            continue;
        const QSize hint = item->sizeHint();
        width += hint.width();
        height = std::max(height, hint.height());
        ++shown;
    }
    width += std::max(0, shown - 1) * gap(Qt::Horizontal);
    const QMargins m = contentsMargins();
    return QSize(width + m.left() + m.right(), height + m.top() + m.bottom());
}

void FlowLayout::setGeometry(const QRect &rect)
{
    QLayout::setGeometry(rect);
    arrange(rect, true);
}

int FlowLayout::gap(Qt::Orientation orientation) const
{
    if (spacing() >= 0)
        return spacing();
    const QWidget *parent = parentWidget();
    if (!parent)
        return 6;
    const QStyle::PixelMetric metric =
        orientation == Qt::Horizontal ? QStyle::PM_LayoutHorizontalSpacing : QStyle::PM_LayoutVerticalSpacing;
    const int value = parent->style()->pixelMetric(metric, nullptr, parent);
    return value >= 0 ? value : 6;
}

int FlowLayout::arrange(const QRect &rect, bool apply) const
{
    const QRect area = rect.marginsRemoved(contentsMargins());
    const int hGap = gap(Qt::Horizontal), vGap = gap(Qt::Vertical);
    QList<QLayoutItem *> visible;
    for (QLayoutItem *item : m_items)
        if (!item->isEmpty())
            visible.append(item);

    int y = area.top();
    qsizetype first = 0;
    while (first < visible.size()) {
        // As many items as fit (at least one) form the row.
        int used = visible[first]->sizeHint().width();
        qsizetype end = first + 1;
        while (end < visible.size() && used + hGap + visible[end]->sizeHint().width() <= area.width())
            used += hGap + visible[end++]->sizeHint().width();
        int height = 0, expanding = 0;
        for (qsizetype i = first; i < end; ++i) {
            height = std::max(height, visible[i]->sizeHint().height());
            expanding += visible[i]->expandingDirections() & Qt::Horizontal ? 1 : 0;
        }
        if (apply) {
            const int extra = std::max(0, area.width() - used);
            int x = area.left(), given = 0;
            for (qsizetype i = first; i < end; ++i) {
                QLayoutItem *item = visible[i];
                int width = item->sizeHint().width();
                if (expanding > 0 && item->expandingDirections() & Qt::Horizontal) {
                    const int share = extra / expanding + (given++ < extra % expanding ? 1 : 0);
                    width += share;
                }
                width = std::min(width, area.right() + 1 - x); // an item wider than the area is narrowed
                const int itemHeight = item->sizeHint().height();
                item->setGeometry(QRect(x, y + (height - itemHeight) / 2, std::max(width, 0), itemHeight));
                x += width + hGap;
            }
        }
        y += height + vGap;
        first = end;
    }
    if (!visible.isEmpty())
        y -= vGap;
    return y - area.top() + contentsMargins().top() + contentsMargins().bottom();
}

} // namespace liftlab
