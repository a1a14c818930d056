#include "compare/comparisonheatmaps.h"

#include "compare/comparisongrid.h"
#include "explorer/explorercontext.h"
#include "heatmap/heatmapwidget.h"
#include "heatmap/pairdialog.h"
#include "widgets/flowlayout.h"

#include <QCheckBox>
#include <QGridLayout>
#include <QLabel>
#include <QVBoxLayout>

#include <algorithm>
#include <limits>

namespace liftlab {

ComparisonHeatmaps::ComparisonHeatmaps(QWidget *parent)
    : QWidget(parent)
{
    m_pairDialog = new PairDialog(this);
    m_stepLabel = new QLabel;
    m_stepLabel->setObjectName(QStringLiteral("heatmapStepLabel"));
    auto *positives = new QCheckBox(tr("Positive pairs"));
    positives->setChecked(m_showPositives);
    positives->setToolTip(tr("Outline the same-class blocks on the diagonal"));
    auto *hardest = new QCheckBox(tr("Hardest negatives"));
    hardest->setChecked(m_showHardest);
    hardest->setToolTip(tr("Mark the closest image of another class in each row"));
    auto *terms = new QCheckBox(tr("Loss terms"));
    terms->setChecked(m_showTerms);
    terms->setToolTip(tr("Colour positive pairs by their loss term (for losses that report one)"));
    connect(positives, &QCheckBox::toggled, this, [this](bool on) {
        m_showPositives = on;
        for (Run &r : m_runs)
            r.heatmap->setShowPositives(on);
    });
    connect(hardest, &QCheckBox::toggled, this, [this](bool on) {
        m_showHardest = on;
        for (Run &r : m_runs)
            r.heatmap->setShowHardestNegatives(on);
    });
    connect(terms, &QCheckBox::toggled, this, [this](bool on) {
        m_showTerms = on;
        for (Run &r : m_runs)
            r.heatmap->setShowPairTerms(on);
    });
    auto *shared = new QCheckBox(tr("One colour scale"));
    shared->setObjectName(QStringLiteral("sharedScaleBox"));
    shared->setChecked(m_sharedScale);
    shared->setToolTip(tr("The same distances in the same colour in every heatmap (else each spans its own "
                          "range: losses differ in scale)"));
    connect(shared, &QCheckBox::toggled, this, [this](bool on) {
        m_sharedScale = on;
        applyScale();
    });
    m_stepLabel->setWordWrap(true);
    auto *controls = new FlowLayout;
    controls->addWidget(positives);
    controls->addWidget(hardest);
    controls->addWidget(terms);
    controls->addWidget(shared);
    m_grid = new QWidget;
    new QGridLayout(m_grid);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_stepLabel);
    layout->addWidget(m_grid, 1);
    setRuns({});
}

void ComparisonHeatmaps::setRuns(const QStringList &labels)
{
    for (Run &r : m_runs) {
        delete r.title;
        delete r.heatmap;
    }
    m_runs.clear();
    auto *grid = static_cast<QGridLayout *>(m_grid->layout());
    for (int i = 0; i < labels.size(); ++i) {
        Run r;
        r.label = labels[i];
        r.title = new QLabel(runTitle(i, labels[i]));
        r.heatmap = new HeatmapWidget;
        r.heatmap->setObjectName(QStringLiteral("comparisonHeatmap%1").arg(i));
        r.heatmap->setShowPositives(m_showPositives);
        r.heatmap->setShowHardestNegatives(m_showHardest);
        r.heatmap->setShowPairTerms(m_showTerms);
        HeatmapWidget *heatmap = r.heatmap;
        connect(heatmap, &HeatmapWidget::cellClicked, this,
                [this, heatmap](int a, int b) { m_pairDialog->showPair(heatmap->frame(), a, b); });
        addRunPanel(grid, i, int(labels.size()), r.title, r.heatmap);
        m_runs.push_back(std::move(r));
    }
    m_shownStep = -1;
    m_stepLabel->setText(labels.isEmpty() ? tr("No comparison yet.")
                                          : tr("Waiting for the first batch..."));
}

void ComparisonHeatmaps::addFrame(int run, const SnapshotFrame &frame)
{
    if (run < 0 || run >= runCount())
        return;
    m_runs[size_t(run)].frames[frame.snapshot.step] = frame;
    showCommonStep();
}

void ComparisonHeatmaps::setRunEnded(int run)
{
    if (run < 0 || run >= runCount())
        return;
    m_runs[size_t(run)].ended = true;
    showCommonStep();
}

void ComparisonHeatmaps::completeFrames(const ExplorerContext &dataset)
{
    for (Run &r : m_runs) {
        if (!r.heatmap->hasFrame() || !r.heatmap->frame().images.isEmpty())
            continue;
        SnapshotFrame frame = r.heatmap->frame();
        frame.classNames = dataset.classNames();
        for (const int64_t index : frame.snapshot.indices)
            frame.images.append(dataset.image(Subset::Train, index));
        r.heatmap->setFrame(frame);
    }
}

void ComparisonHeatmaps::applyScale()
{
    float min = std::numeric_limits<float>::quiet_NaN(), max = min; // each its own
    if (m_sharedScale) {
        min = std::numeric_limits<float>::infinity();
        max = -min;
        for (const Run &r : m_runs)
            if (r.heatmap->hasFrame()) {
                min = std::min(min, r.heatmap->dataMin());
                max = std::max(max, r.heatmap->dataMax());
            }
    }
    for (Run &r : m_runs)
        r.heatmap->setColourRange(min, max);
}

void ComparisonHeatmaps::showCommonStep()
{
    // The latest step every run still training has a frame of (runs that
    // ended count with their last frame).
    int64_t common = std::numeric_limits<int64_t>::max();
    bool waiting = false;
    for (const Run &r : m_runs) {
        if (!r.frames.empty())
            common = std::min(common, r.frames.rbegin()->first);
        else
            waiting = waiting || !r.ended;
    }
    if (waiting || common == std::numeric_limits<int64_t>::max() || common == m_shownStep)
        return;
    m_shownStep = common;
    bool allSame = true;
    for (size_t i = 0; i < m_runs.size(); ++i) {
        Run &r = m_runs[i];
        if (r.frames.empty())
            continue;
        // Its frame of that step, else the nearest it has (a run opened from
        // disk keeps only the batch of its last checkpoint).
        auto it = r.frames.upper_bound(common);
        if (it != r.frames.begin())
            --it;
        r.heatmap->setFrame(it->second);
        r.frames.erase(r.frames.begin(), it); // older frames will not be shown again
        const int64_t step = it->second.snapshot.step;
        allSame = allSame && step == common;
        r.title->setText(runTitle(int(i), r.label, tr("step %1").arg(step)));
    }
    applyScale();
    const SnapshotFrame &first = m_runs.front().heatmap->frame();
    m_stepLabel->setText(allSame ? tr("Batch of step %1: the same %2 images under every loss (hover a cell for the "
                                      "pair, click it to see both images)")
                                       .arg(common)
                                       .arg(first.snapshot.size)
                                 : tr("The runs stopped at different steps: each heatmap shows its last saved batch"));
}

} // namespace liftlab
