#include "compare/comparisonretrieval.h"

#include "charts/colormap.h"
#include "explorer/explorercontext.h"
#include "explorer/retrievalbrowser.h"

#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QRandomGenerator>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>

namespace liftlab {

namespace {

constexpr int kQueryThumb = 84;

} // namespace

ComparisonRetrieval::ComparisonRetrieval(QWidget *parent)
    : QWidget(parent)
{
    m_queryImage = new QLabel;
    m_queryImage->setFixedSize(kQueryThumb + 8, kQueryThumb + 8);
    m_queryImage->setAlignment(Qt::AlignCenter);
    m_queryImage->setFrameShape(QFrame::StyledPanel);
    m_queryText = new QLabel;
    m_queryText->setObjectName(QStringLiteral("comparisonQueryText"));
    m_queryText->setWordWrap(true);
    m_indexBox = new QSpinBox;
    m_indexBox->setObjectName(QStringLiteral("comparisonQueryBox"));
    m_indexBox->setPrefix(tr("test image "));
    m_indexBox->setRange(0, 0);
    m_indexBox->setToolTip(tr("The query: a test image (or click a point in Embeddings)"));
    connect(m_indexBox, &QSpinBox::valueChanged, this, [this](int index) { setQueryIndex(index); });
    auto *random = new QPushButton(tr("Random query"));
    connect(random, &QPushButton::clicked, this, [this] {
        if (m_indexBox->maximum() > 0)
            m_indexBox->setValue(int(QRandomGenerator::global()->bounded(m_indexBox->maximum() + 1)));
    });
    m_kBox = new QSpinBox;
    m_kBox->setObjectName(QStringLiteral("comparisonKBox"));
    m_kBox->setRange(1, 100);
    m_kBox->setValue(10);
    m_kBox->setPrefix(tr("K = "));
    connect(m_kBox, &QSpinBox::valueChanged, this, [this](int k) {
        for (RetrievalBrowser *b : m_browsers)
            b->setK(k);
    });

    auto *controls = new QVBoxLayout;
    controls->addWidget(m_queryText);
    auto *boxes = new QHBoxLayout;
    boxes->addWidget(m_indexBox);
    boxes->addWidget(random);
    boxes->addWidget(m_kBox);
    boxes->addStretch(1);
    controls->addLayout(boxes);
    controls->addStretch(1);
    auto *top = new QHBoxLayout;
    top->addWidget(m_queryImage);
    top->addLayout(controls, 1);

    m_rowsWidget = new QWidget;
    auto *rowsLayout = new QVBoxLayout(m_rowsWidget);
    rowsLayout->setContentsMargins(0, 0, 0, 0);
    rowsLayout->addStretch(1);
    auto *scroll = new QScrollArea;
    scroll->setWidget(m_rowsWidget);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(top);
    layout->addWidget(scroll, 1);
    setRuns({}, {});
}

void ComparisonRetrieval::setRuns(const QStringList &labels, const std::vector<ExplorerContext *> &contexts)
{
    for (QWidget *row : m_rows)
        delete row; // and its browser
    m_rows.clear();
    m_browsers.clear();
    if (m_first)
        disconnect(m_first, nullptr, this, nullptr);
    m_first = contexts.empty() ? nullptr : contexts.front();
    auto *rowsLayout = static_cast<QVBoxLayout *>(m_rowsWidget->layout());
    for (int i = 0; i < labels.size() && size_t(i) < contexts.size(); ++i) {
        auto *row = new QGroupBox(labels[i]);
        row->setStyleSheet(QStringLiteral("QGroupBox { font-weight: bold; color: %1; }").arg(runColour(i).name()));
        auto *browser = new RetrievalBrowser(contexts[size_t(i)]);
        browser->setObjectName(QStringLiteral("comparisonRetrieval%1").arg(i));
        browser->setCompact(true);
        browser->setK(m_kBox->value());
        auto *rowLayout = new QVBoxLayout(row);
        rowLayout->setContentsMargins(4, 2, 4, 2);
        rowLayout->addWidget(browser);
        rowsLayout->insertWidget(rowsLayout->count() - 1, row);
        connect(browser, &RetrievalBrowser::queryRequested, this,
                [this](int, qint64 index) { m_indexBox->setValue(int(index)); });
        // A row is ready once its own run has loaded, whichever run loads
        // first: search from the current query.
        connect(contexts[size_t(i)], &ExplorerContext::embeddingChanged, browser, [this, browser] {
            if (!browser->hasQuery())
                browser->setQueryIndex(m_indexBox->value()); // ignored while its run has no test set
        });
        m_rows.push_back(row);
        m_browsers.push_back(browser);
    }
    if (m_first)
        connect(m_first, &ExplorerContext::runChanged, this, [this] {
            const QSignalBlocker block(m_indexBox);
            m_indexBox->setRange(0, int(std::max<int64_t>(m_first->size(Subset::Test) - 1, 0)));
            showQuery();
        });
    m_queryText->setText(labels.isEmpty() ? tr("No comparison yet.")
                                          : tr("The nearest test images of one query under each loss appear once "
                                               "every run has been evaluated."));
    m_queryImage->clear();
}

void ComparisonRetrieval::setQueryIndex(qint64 testIndex)
{
    if (m_indexBox->value() != testIndex) {
        m_indexBox->setValue(int(testIndex)); // comes back here
        return;
    }
    for (RetrievalBrowser *b : m_browsers)
        b->setQueryIndex(testIndex);
    showQuery();
}

qint64 ComparisonRetrieval::queryIndex() const
{
    return m_indexBox->value();
}

void ComparisonRetrieval::showQuery()
{
    if (!m_first || m_first->size(Subset::Test) == 0)
        return;
    const qint64 index = m_indexBox->value();
    const QImage image = m_first->image(Subset::Test, index);
    if (!image.isNull())
        m_queryImage->setPixmap(QPixmap::fromImage(
            image.scaled(kQueryThumb, kQueryThumb, Qt::KeepAspectRatio, Qt::FastTransformation)));
    m_queryText->setText(tr("Query: test image %1 (%2). Its %3 nearest test images under each loss, green when "
                            "of the same class; double-click one to query it.")
                             .arg(index)
                             .arg(m_first->className(m_first->label(Subset::Test, index)))
                             .arg(m_kBox->value()));
}

} // namespace liftlab
