#include "heatmappanel.h"

#include "distancehistogram.h"
#include "heatmapwidget.h"
#include "pairdialog.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

namespace liftlab {

HeatmapPanel::HeatmapPanel(QWidget *parent)
    : QWidget(parent)
{
    m_heatmap = new HeatmapWidget;
    m_heatmap->setObjectName(QStringLiteral("heatmap"));
    m_histogram = new DistanceHistogram;
    m_histogram->setObjectName(QStringLiteral("distanceHistogram"));
    m_histogram->setMinimumWidth(170);
    m_pairDialog = new PairDialog(this);

    auto *positives = new QCheckBox(tr("Positive pairs"));
    positives->setObjectName(QStringLiteral("showPositivesBox"));
    positives->setToolTip(tr("Outline the same-class blocks on the diagonal"));
    positives->setChecked(m_heatmap->showPositives());
    connect(positives, &QCheckBox::toggled, m_heatmap, &HeatmapWidget::setShowPositives);
    auto *hardest = new QCheckBox(tr("Hardest negatives"));
    hardest->setObjectName(QStringLiteral("showHardestBox"));
    hardest->setToolTip(tr("Mark the closest image of another class in each row"));
    hardest->setChecked(m_heatmap->showHardestNegatives());
    connect(hardest, &QCheckBox::toggled, m_heatmap, &HeatmapWidget::setShowHardestNegatives);
    auto *terms = new QCheckBox(tr("Loss terms J_ij"));
    terms->setObjectName(QStringLiteral("showTermsBox"));
    terms->setToolTip(tr("Colour positive pairs by their loss term: red when active (J_ij > 0, stronger for larger "
                         "terms), grey when the hinge is zero"));
    terms->setChecked(m_heatmap->showPairTerms());
    connect(terms, &QCheckBox::toggled, m_heatmap, &HeatmapWidget::setShowPairTerms);

    connect(m_heatmap, &HeatmapWidget::cellClicked, this,
            [this](int i, int j) { m_pairDialog->showPair(m_heatmap->frame(), i, j); });

    auto *hint = new QLabel(tr("Hover a cell for the pair, click it to see both images."));
    hint->setWordWrap(true);
    hint->setForegroundRole(QPalette::PlaceholderText);
    m_histogram->setToolTip(tr("Distances of the batch's positive (same class) and negative pairs, each scaled to "
                               "its own count: the less they overlap, the better the classes are separated"));
    auto *side = new QVBoxLayout;
    side->addWidget(positives);
    side->addWidget(hardest);
    side->addWidget(terms);
    side->addWidget(m_histogram, 1);
    side->addWidget(hint);
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addWidget(m_heatmap, 3);
    layout->addLayout(side, 1);
}

void HeatmapPanel::setFrame(const SnapshotFrame &frame)
{
    m_heatmap->setFrame(frame);
    m_histogram->setSnapshot(frame.snapshot);
}

void HeatmapPanel::clear()
{
    m_heatmap->clear();
    m_histogram->clear();
}

} // namespace liftlab
