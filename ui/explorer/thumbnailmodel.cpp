#include "explorer/thumbnailmodel.h"

#include <QPainter>

#include <cmath>

namespace liftlab {

namespace {

quint64 cacheKey(Subset subset, int64_t index, int mark)
{
    return (quint64(index) << 3) | (quint64(subset) << 2) | quint64(mark + 1);
}

} // namespace

ThumbnailModel::ThumbnailModel(ExplorerContext *context, QObject *parent)
    : QAbstractListModel(parent)
    , m_context(context)
{
    m_cache.setMaxCost(16 * 1024); // KiB: a few screens of thumbnails
    // A new run or step means other images behind the same rows.
    connect(context, &ExplorerContext::runChanged, this, [this] {
        m_cache.clear();
        setItems({});
    });
}

void ThumbnailModel::setItems(std::vector<Item> items)
{
    beginResetModel();
    m_items = std::move(items);
    endResetModel();
}

void ThumbnailModel::setDistances(const std::vector<float> &distanceOfRow)
{
    for (size_t r = 0; r < m_items.size(); ++r)
        m_items[r].distance = r < distanceOfRow.size() ? distanceOfRow[r] : std::numeric_limits<float>::quiet_NaN();
    if (!m_items.empty())
        Q_EMIT dataChanged(index(0), index(int(m_items.size()) - 1), {DistanceRole, Qt::DisplayRole, Qt::ToolTipRole});
}

void ThumbnailModel::setThumbnailSize(int size)
{
    m_thumbSize = std::max(8, size);
    m_cache.clear();
    if (!m_items.empty())
        Q_EMIT dataChanged(index(0), index(int(m_items.size()) - 1), {Qt::DecorationRole});
}

int ThumbnailModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_items.size());
}

QPixmap ThumbnailModel::thumbnail(const Item &item) const
{
    const quint64 key = cacheKey(item.subset, item.index, item.mark);
    if (QPixmap *cached = m_cache.object(key))
        return *cached;
    QImage image = m_context->image(item.subset, item.index);
    QPixmap pixmap(m_thumbSize, m_thumbSize);
    pixmap.fill(Qt::transparent);
    QPainter p(&pixmap);
    if (!image.isNull()) {
        // Small images (28 x 28) scale by a whole factor without smoothing: crisp pixels.
        const int frame = item.mark != 0 ? 3 : 0;
        const int room = m_thumbSize - 2 * frame;
        const int factor = std::max(1, room / std::max(image.width(), image.height()));
        QSize target = image.size() * factor;
        if (target.width() > room || target.height() > room)
            target.scale(room, room, Qt::KeepAspectRatio);
        const Qt::TransformationMode mode = factor > 1 ? Qt::FastTransformation : Qt::SmoothTransformation;
        const QImage scaled = image.scaled(target, Qt::KeepAspectRatio, mode);
        p.drawImage(QPoint((m_thumbSize - scaled.width()) / 2, (m_thumbSize - scaled.height()) / 2), scaled);
        if (frame > 0) {
            p.setPen(QPen(item.mark > 0 ? QColor(40, 170, 60) : QColor(220, 50, 40), frame, Qt::SolidLine,
                          Qt::SquareCap, Qt::MiterJoin));
            const double half = frame / 2.0;
            p.drawRect(QRectF(half, half, m_thumbSize - frame, m_thumbSize - frame));
        }
    }
    p.end();
    ++m_made;
    m_cache.insert(key, new QPixmap(pixmap), std::max(1, m_thumbSize * m_thumbSize * 4 / 1024));
    return pixmap;
}

QVariant ThumbnailModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_items.size()))
        return {};
    const Item &item = m_items[size_t(index.row())];
    switch (role) {
    case Qt::DisplayRole: {
        QString text = m_context->className(item.label);
        if (item.rank > 0)
            text = QStringLiteral("%1. %2").arg(item.rank).arg(text);
        if (std::isfinite(item.distance))
            text += QStringLiteral("\n%1").arg(item.distance, 0, 'f', 3);
        return text;
    }
    case Qt::DecorationRole:
        return thumbnail(item);
    case Qt::ToolTipRole: {
        QString text = tr("%1 image %2: %3")
                           .arg(item.subset == Subset::Test ? tr("Test") : tr("Train"))
                           .arg(item.index)
                           .arg(m_context->className(item.label));
        if (std::isfinite(item.distance))
            text += tr("\ndistance %1").arg(item.distance, 0, 'g', 4);
        if (item.mark != 0)
            text += item.mark > 0 ? tr("\nsame class as the query") : tr("\nanother class than the query");
        return text;
    }
    case Qt::ForegroundRole:
        if (item.mark > 0)
            return QColor(20, 130, 40);
        if (item.mark < 0)
            return QColor(200, 40, 30);
        return {};
    case Qt::TextAlignmentRole:
        return int(Qt::AlignHCenter | Qt::AlignTop);
    case SubsetRole:
        return int(item.subset);
    case IndexRole:
        return qint64(item.index);
    case LabelRole:
        return qint64(item.label);
    case DistanceRole:
        return double(item.distance);
    case MarkRole:
        return item.mark;
    case RankRole:
        return item.rank;
    default:
        return {};
    }
}

} // namespace liftlab
