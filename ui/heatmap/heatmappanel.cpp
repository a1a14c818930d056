#include "heatmap/heatmappanel.h"

#include "heatmap/distancehistogram.h"
#include "heatmap/heatmapwidget.h"
#include "heatmap/pairdialog.h"
#include "widgets/flowlayout.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QIcon>
#include <QLabel>
#include <QPainter>
#include <QPixmap>
#include <QVBoxLayout>

namespace liftlab {

namespace {

// An overlay's legend: its mark, drawn as on the heatmap, on the heatmap's
// dark end.
QIcon swatch(const QColor &colour, bool dot, bool outline)
{
    QPixmap pixmap(16, 16);
    pixmap.fill(QColor(0x44, 0x01, 0x54)); // viridis(0)
    QPainter p(&pixmap);
    p.setRenderHint(QPainter::Antialiasing);
    if (dot) {
        p.setPen(Qt::NoPen);
        p.setBrush(colour);
        p.drawEllipse(QRectF(4, 4, 8, 8));
    } else if (outline) {
        p.setPen(QPen(colour, 2));
        p.drawRect(QRectF(3, 3, 10, 10));
    } else {
        p.fillRect(QRectF(3, 3, 10, 10), colour);
    }
    return QIcon(pixmap);
}

} // namespace

HeatmapPanel::HeatmapPanel(QWidget *parent)
    : QWidget(parent)
{
    m_heatmap = new HeatmapWidget;
    m_heatmap->setObjectName(QStringLiteral("heatmap"));
    m_histogram = new DistanceHistogram;
    m_histogram->setObjectName(QStringLiteral("distanceHistogram"));
    m_pairDialog = new PairDialog(this);

    auto *positives = new QCheckBox(tr("Positive pairs"));
    positives->setObjectName(QStringLiteral("showPositivesBox"));
    positives->setToolTip(tr("Outline the same-class blocks on the diagonal"));
    positives->setIcon(swatch(HeatmapWidget::positivesColour(), false, true));
    positives->setChecked(m_heatmap->showPositives());
    connect(positives, &QCheckBox::toggled, m_heatmap, &HeatmapWidget::setShowPositives);
    auto *hardest = new QCheckBox(tr("Hardest negatives"));
    hardest->setObjectName(QStringLiteral("showHardestBox"));
    hardest->setToolTip(tr("Mark with a magenta dot the closest image of another class in each row: the "
                          "negative the loss pushes away hardest"));
    hardest->setIcon(swatch(HeatmapWidget::hardestNegativeColour(), true, false));
    hardest->setChecked(m_heatmap->showHardestNegatives());
    connect(hardest, &QCheckBox::toggled, m_heatmap, &HeatmapWidget::setShowHardestNegatives);
    auto *terms = new QCheckBox(tr("Loss terms J_ij"));
    terms->setObjectName(QStringLiteral("showTermsBox"));
    terms->setToolTip(tr("Colour positive pairs by their loss term: red when active (J_ij > 0, stronger for larger "
                         "terms), grey when the hinge is zero"));
    terms->setIcon(swatch(HeatmapWidget::activeTermColour(), false, false));
    terms->setChecked(m_heatmap->showPairTerms());
    connect(terms, &QCheckBox::toggled, m_heatmap, &HeatmapWidget::setShowPairTerms);

    connect(m_heatmap, &HeatmapWidget::cellClicked, this,
            [this](int i, int j) { m_pairDialog->showPair(m_heatmap->frame(), i, j); });

    auto *hint = new QLabel(tr("Hover a cell: its pair. Click: both images."));
    hint->setForegroundRole(QPalette::PlaceholderText);
    auto *overlays = new FlowLayout;
    overlays->addWidget(positives);
    overlays->addWidget(hardest);
    overlays->addWidget(terms);
    overlays->addWidget(hint);
    m_histogram->setMinimumHeight(110);
    m_histogram->setMaximumHeight(170);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(overlays);
    layout->addWidget(m_heatmap, 1);
    layout->addWidget(m_histogram);
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
