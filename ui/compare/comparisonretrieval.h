#pragma once

#include <QStringList>
#include <QWidget>

#include <vector>

class QLabel;
class QSpinBox;

namespace liftlab {

class ExplorerContext;
class RetrievalBrowser;

// One query's top K under each loss, in parallel rows: a RetrievalBrowser
// per run, each searching that run's last test embedding, all with the
// same query test image and K.
class ComparisonRetrieval : public QWidget
{
    Q_OBJECT

public:
    explicit ComparisonRetrieval(QWidget *parent = nullptr);

    // One row per run; each context holds that run (opened by the owner).
    void setRuns(const QStringList &labels, const std::vector<ExplorerContext *> &contexts);
    // Searches from this test image in every row.
    void setQueryIndex(qint64 testIndex);
    qint64 queryIndex() const;

    int runCount() const { return int(m_browsers.size()); }
    RetrievalBrowser *browser(int run) const { return m_browsers.at(size_t(run)); }

private:
    void showQuery();

    std::vector<RetrievalBrowser *> m_browsers;
    std::vector<QWidget *> m_rows;
    ExplorerContext *m_first = nullptr;
    QLabel *m_queryImage = nullptr;
    QLabel *m_queryText = nullptr;
    QSpinBox *m_indexBox = nullptr;
    QSpinBox *m_kBox = nullptr;
    QWidget *m_rowsWidget = nullptr;
};

} // namespace liftlab
