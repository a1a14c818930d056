#include "compare/tuningview.h"

#include "charts/chartview.h"
#include "charts/colormap.h"

#include <QChart>
#include <QLegendMarker>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLogValueAxis>
#include <QScatterSeries>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace liftlab {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

QString parameterTitle(const std::string &name)
{
    return name == "lr" ? QObject::tr("learning rate") : q(name);
}

} // namespace

TuningView::TuningView(QWidget *parent)
    : QWidget(parent)
{
    m_parameter = new QComboBox;
    m_parameter->setObjectName(QStringLiteral("tuningParameterBox"));
    m_parameter->setToolTip(tr("The tuned value on the horizontal axis"));
    connect(m_parameter, &QComboBox::currentIndexChanged, this, &TuningView::redraw);
    m_chart = new QChart;
    m_chart->legend()->setAlignment(Qt::AlignBottom);
    m_chart->setMargins(QMargins(4, 4, 4, 4));
    m_view = new ChartView(m_chart);
    m_view->setObjectName(QStringLiteral("tuningChart"));
    m_view->setRenderHint(QPainter::Antialiasing);
    m_view->setPlaceholderText(tr("With \"Tune each loss first\" checked, Start tunes every loss on validation classes "
                                  "held out from the training classes; each trial appears here as it finishes."));
    m_summary = new QLabel;
    m_summary->setObjectName(QStringLiteral("tuningSummary"));
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Validation Recall@1 against")));
    bar->addWidget(m_parameter);
    bar->addStretch(1);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(bar);
    layout->addWidget(m_view, 1);
    layout->addWidget(m_summary);
    setTuning(std::nullopt);
}

TuningView::~TuningView() = default;

void TuningView::setTuning(const std::optional<Tuning> &tuning)
{
    m_tuning.reset(tuning ? new Tuning(*tuning) : nullptr);
    m_results.clear();
    m_chosen.clear();
    const QSignalBlocker blocker(m_parameter);
    m_parameter->clear();
    if (m_tuning) {
        // Every tuned value, in the order the losses first name them.
        for (size_t l = 0; l < m_tuning->losses().size(); ++l)
            for (const TuningDimension &d : m_tuning->space(l))
                if (m_parameter->findData(q(d.name)) < 0)
                    m_parameter->addItem(parameterTitle(d.name), q(d.name));
        for (const TrialResult &r : tuningResults(*m_tuning))
            m_results[{r.loss, r.trial}] = r;
        m_chosen = tunedTrials(*m_tuning);
    }
    redraw();
}

void TuningView::addResult(const TrialResult &result)
{
    if (!m_tuning)
        return;
    TrialResult &kept = m_results[{result.loss, result.trial}];
    if (result.step >= kept.step)
        kept = result;
    redraw();
}

void TuningView::setChosen(int loss, int trial)
{
    m_chosen[size_t(loss)] = trial;
    redraw();
}

int TuningView::pointCount() const
{
    int n = 0;
    for (const QAbstractSeries *s : m_chart->series())
        if (s->objectName() == QLatin1String("trials"))
            n += static_cast<const QScatterSeries *>(s)->count();
    return n;
}

void TuningView::redraw()
{
    m_chart->removeAllSeries();
    for (QAbstractAxis *axis : m_chart->axes()) {
        m_chart->removeAxis(axis); // gives it back
        delete axis;
    }
    m_summary->clear();
    if (!m_tuning || m_parameter->count() == 0)
        return;
    const std::string name = m_parameter->currentData().toString().toStdString();
    double low = 0, high = 0;
    bool logScale = false;
    for (size_t l = 0; l < m_tuning->losses().size(); ++l)
        for (const TuningDimension &d : m_tuning->space(l))
            if (d.name == name) {
                low = low == high ? d.low : std::min(low, d.low);
                high = std::max(high, d.high);
                logScale = d.logScale;
            }
    QAbstractAxis *axisX = nullptr;
    if (logScale) {
        auto *log = new QLogValueAxis;
        log->setLabelFormat(QStringLiteral("%g"));
        log->setRange(low, high);
        axisX = log;
    } else {
        auto *value = new QValueAxis;
        value->setLabelFormat(QStringLiteral("%g"));
        setNiceRange(value, low, high);
        axisX = value;
    }
    axisX->setTitleText(parameterTitle(name));
    auto *axisY = new QValueAxis;
    axisY->setTitleText(tr("validation Recall@1 (last rung reached)"));
    axisY->setLabelFormat(QStringLiteral("%.2f"));
    double yMax = 0.1;
    for (const auto &[key, r] : m_results)
        yMax = std::max(yMax, r.metrics.recallAt1);
    setNiceRange(axisY, 0, std::min(1.0, yMax * 1.1));
    m_chart->addAxis(axisX, Qt::AlignBottom);
    m_chart->addAxis(axisY, Qt::AlignLeft);

    QStringList summary;
    for (size_t l = 0; l < m_tuning->losses().size(); ++l) {
        const std::vector<TuningDimension> &space = m_tuning->space(l);
        const bool tunesIt = std::any_of(space.begin(), space.end(), [&](const TuningDimension &d) { return d.name == name; });
        const QString label = q(m_tuning->losses()[l].label);
        auto *trials = new QScatterSeries;
        trials->setObjectName(QStringLiteral("trials"));
        trials->setName(tunesIt ? label : tr("%1 (does not tune it)").arg(label));
        trials->setColor(runColour(int(l)));
        trials->setBorderColor(runColour(int(l)).darker(130));
        trials->setMarkerSize(9);
        auto *chosen = new QScatterSeries;
        chosen->setMarkerSize(18);
        chosen->setColor(Qt::transparent);
        chosen->setBorderColor(runColour(int(l)).darker(150));
        chosen->setPen(QPen(runColour(int(l)).darker(150), 2));
        const auto pick = m_chosen.find(l);
        for (const auto &[key, r] : m_results) {
            if (key.first != l || !tunesIt)
                continue;
            const double x = m_tuning->trials(l).at(size_t(r.trial)).at(name);
            if (std::isnan(r.metrics.recallAt1))
                continue;
            trials->append(x, r.metrics.recallAt1);
            if (pick != m_chosen.end() && pick->second == r.trial)
                chosen->append(x, r.metrics.recallAt1);
        }
        for (QScatterSeries *s : {trials, chosen}) {
            m_chart->addSeries(s);
            s->attachAxis(axisX);
            s->attachAxis(axisY);
        }
        m_chart->legend()->markers(chosen).first()->setVisible(false);
        if (pick != m_chosen.end()) {
            const auto r = m_results.find({l, pick->second});
            summary.append(tr("<b style='color:%1'>&#9632;</b> <b>%2</b>: trial %3, %4%5")
                               .arg(runColour(int(l)).name(), label.toHtmlEscaped())
                               .arg(pick->second + 1)
                               .arg(q(settingText(m_tuning->trials(l).at(size_t(pick->second)))))
                               .arg(r == m_results.end() ? QString()
                                                         : tr(" (validation Recall@1 %1 at step %2)")
                                                               .arg(r->second.metrics.recallAt1, 0, 'f', 4)
                                                               .arg(r->second.step)));
        }
    }
    const auto budgets = m_tuning->budgets();
    m_summary->setText(tr("%1 trials per loss on %2% of the training classes held out for validation; successive "
                          "halving keeps the best 1/%3 at steps %4.")
                           .arg(m_tuning->plan().trials)
                           .arg(m_tuning->plan().validationFraction * 100, 0, 'f', 0)
                           .arg(m_tuning->plan().eta)
                           .arg([&] {
                               QStringList steps;
                               for (const int64_t b : budgets)
                                   steps.append(QString::number(b));
                               return steps.join(QStringLiteral(", "));
                           }())
                       + (summary.isEmpty() ? QString() : QStringLiteral("<br>") + tr("Chosen (ringed): ")
                                                              + summary.join(QStringLiteral("; "))));
}

} // namespace liftlab
