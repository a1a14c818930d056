#pragma once

#include "explorer/explorercontext.h"

#include <QAbstractListModel>
#include <QCache>
#include <QPixmap>

#include <limits>
#include <vector>

namespace liftlab {

// Images of a run as a list: the explorer's selection grid, the retrieval
// results and the dataset browser. Thumbnails are made on demand in data()
// (a QListView asks only for the rows it shows) and kept in a small cache,
// so a model over all 70,000 Fashion-MNIST images costs a few bytes a row.
class ThumbnailModel : public QAbstractListModel
{
    Q_OBJECT

public:
    enum Role {
        SubsetRole = Qt::UserRole + 1, // int(Subset)
        IndexRole,                    // index in the subset
        LabelRole,
        DistanceRole,                 // NaN when not set
        MarkRole,                     // +1 same class as the query, -1 other, 0 none
        RankRole,                     // 1-based, 0 when not set
    };

    struct Item
    {
        Subset subset = Subset::Test;
        int64_t index = 0;
        int64_t label = -1;
        float distance = std::numeric_limits<float>::quiet_NaN();
        int mark = 0;
        int rank = 0;
    };

    explicit ThumbnailModel(ExplorerContext *context, QObject *parent = nullptr);

    void setItems(std::vector<Item> items);
    const std::vector<Item> &items() const { return m_items; }
    const Item &item(int row) const { return m_items[size_t(row)]; }
    // Distances change in place (the dataset browser's distance sort).
    void setDistances(const std::vector<float> &distanceOfRow);
    void clear() { setItems({}); }

    // Thumbnail edge in pixels (images are scaled by whole steps up to it).
    void setThumbnailSize(int size);
    // How many thumbnails have been made so far (tests check laziness).
    int thumbnailsMade() const { return m_made; }

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

private:
    QPixmap thumbnail(const Item &item) const;

    ExplorerContext *m_context;
    std::vector<Item> m_items;
    int m_thumbSize = 56;
    mutable QCache<quint64, QPixmap> m_cache;
    mutable int m_made = 0;
};

} // namespace liftlab
