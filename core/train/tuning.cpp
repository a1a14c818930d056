#include "train/tuning.h"

#include "error.h"
#include "losses/params.h"
#include "train/rundirectory.h"
#include "util/atomicfile.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>

namespace fs = std::filesystem;

namespace liftlab {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

double fourDigits(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.4g", v);
    return std::strtod(text, nullptr);
}

std::string number(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.4g", v);
    return text;
}

constexpr int kMaxTrials = 1000;

std::string manifestPath(const std::string &folder)
{
    return (fs::path(folder) / "tuning.json").string();
}

QJsonObject readJson(const std::string &path, const std::string &what)
{
    QFile file(q(path));
    if (!file.open(QIODevice::ReadOnly))
        throw Error(what + ": " + path + " cannot be read");
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &error);
    if (!document.isObject())
        throw fileError(path, "not a JSON object (" + error.errorString().toStdString() + ")");
    return document.object();
}

// The evaluation a trial recorded at `step`, if it has one.
std::optional<EvalReport> evaluationAt(const std::string &runPath, int64_t step)
{
    for (const EvalReport &e : RunDirectory::readEvals(RunFiles(runPath).evals()))
        if (e.step == step)
            return e;
    return std::nullopt;
}

} // namespace

std::vector<TuningDimension> tuningSpace(const ExperimentConfig &base, const LossChoice &loss)
{
    std::vector<TuningDimension> space = {{"lr", base.learningRate / 10, base.learningRate * 5, true}};
    for (const ParamSpec &spec : describeLoss(loss.name).params)
        if (spec.tunable() && !loss.params.count(spec.name))
            space.push_back({spec.name, spec.tuneLow, spec.tuneHigh, spec.tuneLow > 0 && spec.tuneHigh >= 10 * spec.tuneLow});
    return space;
}

std::vector<TrialSetting> drawTrials(const std::vector<TuningDimension> &space, int count, uint64_t seed)
{
    std::mt19937_64 engine(seed);
    // Uniform in [0, 1) from the engine's raw bits: the same on every
    // standard library (its distributions may differ).
    auto uniform = [&] { return double(engine() >> 11) * 0x1.0p-53; };
    std::vector<TrialSetting> trials(size_t(std::max(count, 0)));
    for (TrialSetting &trial : trials)
        for (const TuningDimension &d : space) {
            const double u = uniform();
            const double value = d.logScale ? d.low * std::exp(u * std::log(d.high / d.low)) : d.low + u * (d.high - d.low);
            trial[d.name] = fourDigits(value);
        }
    return trials;
}

LossChoice applySetting(const LossChoice &loss, const TrialSetting &setting)
{
    LossChoice c = loss;
    for (const auto &[name, value] : setting) {
        if (name == "lr")
            c.experiment["lr"] = value;
        else
            c.params[name] = number(value);
    }
    return c;
}

std::string settingText(const TrialSetting &setting)
{
    std::string text;
    // The learning rate first, then the loss's parameters.
    if (const auto lr = setting.find("lr"); lr != setting.end())
        text = "lr " + number(lr->second);
    for (const auto &[name, value] : setting)
        if (name != "lr")
            text += (text.empty() ? "" : ", ") + name + " " + number(value);
    return text;
}

std::vector<int64_t> halvingBudgets(int trials, int64_t maxSteps, int eta)
{
    if (trials < 2 || eta < 2)
        throw Error("successive halving needs at least 2 trials and a reduction factor of at least 2");
    int rungs = 0;
    for (int64_t kept = 1; kept < trials; kept *= eta)
        ++rungs;
    int64_t growth = 1;
    for (int r = 1; r < rungs; ++r)
        growth *= eta;
    const int64_t first = maxSteps / growth;
    if (first < 1)
        throw Error("tuning " + std::to_string(trials) + " trials with eta " + std::to_string(eta) + " takes "
                    + std::to_string(rungs) + " rungs, whose first would be shorter than a step: give the trials at "
                    "least " + std::to_string(growth) + " steps");
    std::vector<int64_t> budgets;
    for (int64_t b = first; int(budgets.size()) < rungs; b *= eta)
        budgets.push_back(b);
    return budgets;
}

HalvingOutcome successiveHalving(int trials, const std::vector<int64_t> &budgets, int eta,
                                 const std::function<std::optional<double>(int trial, int64_t budget)> &score)
{
    HalvingOutcome outcome;
    std::vector<int> alive(size_t(std::max(trials, 0)));
    for (int t = 0; t < trials; ++t)
        alive[size_t(t)] = t;
    for (size_t r = 0; r < budgets.size() && !alive.empty(); ++r) {
        std::vector<std::pair<int, double>> scored;
        for (const int t : alive) {
            const std::optional<double> s = score(t, budgets[r]);
            if (!s)
                return outcome; // cancelled
            scored.emplace_back(t, *s);
        }
        std::stable_sort(scored.begin(), scored.end(), [](const auto &a, const auto &b) {
            if (std::isnan(a.second) != std::isnan(b.second))
                return std::isnan(b.second);
            return a.second > b.second; // stable: equal scores keep the lower index first
        });
        HalvingRung rung;
        rung.budget = budgets[r];
        for (const auto &[t, s] : scored) {
            rung.trials.push_back(t);
            rung.scores.push_back(s);
        }
        outcome.rungs.push_back(rung);
        const size_t keep = (scored.size() + size_t(eta) - 1) / size_t(eta);
        alive.clear();
        for (size_t i = 0; i < keep; ++i)
            alive.push_back(scored[i].first);
        std::sort(alive.begin(), alive.end()); // train in index order
    }
    if (!outcome.rungs.empty())
        outcome.best = outcome.rungs.back().trials.front();
    return outcome;
}

Tuning Tuning::create(const std::string &folder, const ExperimentConfig &base, const std::vector<LossChoice> &losses,
                      const TuningPlan &plan, int seeds)
{
    validateComparison(base, losses);
    if (plan.trials < 2 || plan.trials > kMaxTrials)
        throw Error("--tune takes between 2 and " + std::to_string(kMaxTrials) + " trials per loss (got "
                    + std::to_string(plan.trials) + ")");
    if (plan.eta < 2 || plan.eta > 10)
        throw Error("--tune-eta must be between 2 and 10");
    if (!(plan.validationFraction > 0 && plan.validationFraction <= 0.9))
        throw Error("--validation must be above 0 and at most 0.9 of the training classes");
    if (plan.steps < 0)
        throw Error("--tune-steps must be positive (or 0: the experiment's iterations)");
    if (seeds < 1 || seeds > 100)
        throw Error("--seeds must be between 1 and 100");
    for (const LossChoice &loss : losses)
        if (!loss.experiment.empty())
            throw Error(loss.label + ": a tuned loss takes its learning rate from the tuning");
    Tuning t;
    t.m_folder = folder;
    t.m_base = base;
    t.m_losses = losses;
    t.m_plan = plan;
    t.m_seeds = seeds;
    for (size_t l = 0; l < losses.size(); ++l) {
        t.m_spaces.push_back(tuningSpace(base, losses[l]));
        // Each loss its own draws, the same for a given base seed.
        t.m_trials.push_back(drawTrials(t.m_spaces.back(), plan.trials, base.seed * 0x9E3779B97F4A7C15ull + l + 1));
    }
    t.budgets(); // throws when the steps cannot hold the rungs
    // Throws when the validation split cannot be made; P classes must remain.
    std::vector<int64_t> classes = trainingLabels(t.trialConfig(0, 0));
    std::sort(classes.begin(), classes.end());
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
    if (base.sampler == "pk" && int64_t(classes.size()) < base.classesPerBatch)
        throw Error("holding out " + std::to_string(int(std::lround(plan.validationFraction * 100)))
                    + "% of the training classes for validation leaves " + std::to_string(classes.size())
                    + " to train on, fewer than the " + std::to_string(base.classesPerBatch)
                    + " classes of a batch (-P): hold out fewer or take a smaller P");

    createEmptyFolder(folder, "tuning");
    QJsonArray lossArray;
    for (size_t l = 0; l < losses.size(); ++l) {
        QJsonArray space, trials;
        for (const TuningDimension &d : t.m_spaces[l])
            space.append(QJsonObject{{"name", q(d.name)}, {"low", d.low}, {"high", d.high}, {"log", d.logScale}});
        for (const TrialSetting &setting : t.m_trials[l]) {
            QJsonObject values;
            for (const auto &[name, value] : setting)
                values[q(name)] = value;
            trials.append(values);
        }
        QJsonObject entry = lossToJson(losses[l]);
        entry["space"] = space;
        entry["trials"] = trials;
        lossArray.append(entry);
    }
    const QJsonObject manifest{{"format", 1},
                               {"base", toJson(base)},
                               {"trials", plan.trials},
                               {"eta", plan.eta},
                               {"validation_fraction", plan.validationFraction},
                               {"steps", qint64(plan.steps)},
                               {"seeds", seeds},
                               {"losses", lossArray}};
    writeFileAtomically(manifestPath(folder), QJsonDocument(manifest).toJson().toStdString());
    return t;
}

bool Tuning::isTuning(const std::string &folder)
{
    return fs::exists(manifestPath(folder));
}

Tuning Tuning::open(const std::string &folder)
{
    const std::string path = manifestPath(folder);
    const QJsonObject m = readJson(path, "'" + folder + "' is not a tuning");
    if (m.value("format").toInt() != 1 || !m.value("base").isObject() || !m.value("losses").isArray())
        throw fileError(path, "not a LiftLab tuning manifest");
    Tuning t;
    t.m_folder = folder;
    t.m_base = configFromJson(m.value("base").toObject(), path);
    t.m_plan.trials = m.value("trials").toInt();
    t.m_plan.eta = m.value("eta").toInt();
    t.m_plan.validationFraction = m.value("validation_fraction").toDouble();
    t.m_plan.steps = m.value("steps").toInteger();
    t.m_seeds = m.value("seeds").toInt(1);
    for (const QJsonValue &v : m.value("losses").toArray()) {
        const QJsonObject entry = v.toObject();
        const LossChoice loss = lossFromJson(entry, path);
        std::vector<TuningDimension> space;
        for (const QJsonValue &d : entry.value("space").toArray()) {
            const QJsonObject o = d.toObject();
            space.push_back({o.value("name").toString().toStdString(), o.value("low").toDouble(),
                             o.value("high").toDouble(), o.value("log").toBool()});
        }
        std::vector<TrialSetting> trials;
        for (const QJsonValue &trial : entry.value("trials").toArray()) {
            const QJsonObject o = trial.toObject();
            TrialSetting setting;
            for (auto it = o.begin(); it != o.end(); ++it)
                setting[it.key().toStdString()] = it.value().toDouble();
            trials.push_back(setting);
        }
        if (int(trials.size()) != t.m_plan.trials)
            throw fileError(path, loss.label + " has " + std::to_string(trials.size()) + " trials, not "
                                      + std::to_string(t.m_plan.trials));
        t.m_losses.push_back(loss);
        t.m_spaces.push_back(space);
        t.m_trials.push_back(trials);
    }
    try {
        validateComparison(t.m_base, t.m_losses);
        t.budgets();
    } catch (const Error &e) {
        throw fileError(path, e.what());
    }
    return t;
}

std::vector<int64_t> Tuning::budgets() const
{
    return halvingBudgets(m_plan.trials, m_plan.steps > 0 ? m_plan.steps : m_base.iterations, m_plan.eta);
}

ExperimentConfig Tuning::trialConfig(size_t loss, int trial) const
{
    const LossChoice choice = applySetting(m_losses.at(loss), m_trials.at(loss).at(size_t(trial)));
    ExperimentConfig c = withOverrides(m_base, choice.experiment);
    c.loss = choice.name;
    c.lossParams = choice.params;
    c.validationFraction = m_plan.validationFraction;
    c.validationSeed = m_base.seed;
    const std::vector<int64_t> b = budgets();
    c.iterations = b.back();
    c.evalEvery = b.front();
    c.checkpointEvery = b.front();
    return c;
}

std::string Tuning::trialPath(size_t loss, int trial) const
{
    char name[32];
    std::snprintf(name, sizeof name, "trial-%02d", trial + 1);
    return (fs::path(m_folder) / "trials" / runFolderName(loss, m_losses.at(loss).label) / name).string();
}

std::string Tuning::tunedPath() const
{
    return (fs::path(m_folder) / "tuned.json").string();
}

std::string Tuning::testFolder() const
{
    return (fs::path(m_folder) / "test").string();
}

std::vector<TrialResult> tuningResults(const Tuning &tuning)
{
    std::vector<TrialResult> results;
    for (size_t l = 0; l < tuning.losses().size(); ++l)
        for (int t = 0; t < tuning.plan().trials; ++t) {
            const std::vector<EvalReport> evals = RunDirectory::readEvals(RunFiles(tuning.trialPath(l, t)).evals());
            if (!evals.empty())
                results.push_back({l, t, evals.back().step, evals.back().metrics});
        }
    return results;
}

std::map<size_t, int> tunedTrials(const Tuning &tuning)
{
    std::map<size_t, int> tuned;
    if (!fs::exists(tuning.tunedPath()))
        return tuned;
    const QJsonObject json = readJson(tuning.tunedPath(), "tuned choices");
    for (const QJsonValue &v : json.value("losses").toArray()) {
        const QJsonObject o = v.toObject();
        const std::string label = o.value("label").toString().toStdString();
        const int trial = o.value("trial").toInt() - 1;
        if (trial < 0 || trial >= tuning.plan().trials)
            throw fileError(tuning.tunedPath(), label + ": no trial " + std::to_string(trial + 1));
        for (size_t l = 0; l < tuning.losses().size(); ++l)
            if (tuning.losses()[l].label == label)
                tuned[l] = trial;
    }
    return tuned;
}

namespace {

void writeTuned(const Tuning &tuning, const std::map<size_t, int> &tuned)
{
    QJsonArray losses;
    for (const auto &[l, trial] : tuned) {
        QJsonObject setting;
        for (const auto &[name, value] : tuning.trials(l).at(size_t(trial)))
            setting[q(name)] = value;
        losses.append(QJsonObject{{"label", q(tuning.losses()[l].label)},
                                  {"trial", trial + 1},
                                  {"run", q(fs::relative(tuning.trialPath(l, trial), tuning.folder()).string())},
                                  {"setting", setting}});
    }
    writeFileAtomically(tuning.tunedPath(), QJsonDocument(QJsonObject{{"losses", losses}}).toJson().toStdString());
}

} // namespace

std::optional<Comparison> TuningRun::run(const Tuning &tuning, const Callbacks &callbacks,
                                         const std::atomic<bool> &cancel, const LoadMonitor &monitor)
{
    const std::vector<int64_t> budgets = tuning.budgets();
    std::shared_ptr<const ExperimentData> data; // the validation split, shared by every trial
    std::map<size_t, int> tuned;
    for (size_t l = 0; l < tuning.losses().size(); ++l) {
        auto score = [&](int trial, int64_t budget) -> std::optional<double> {
            const std::string path = tuning.trialPath(l, trial);
            std::optional<EvalReport> eval = evaluationAt(path, budget);
            if (!eval) {
                if (cancel.load())
                    return std::nullopt;
                std::unique_ptr<Trainer> trainer =
                    fs::exists(RunFiles(path).config())
                        ? Trainer::resume(path, monitor, nullptr, {}, {}, data)
                        : Trainer::start(tuning.trialConfig(l, trial), path, monitor, data);
                if (!data)
                    data = trainer->data();
                try {
                    if (trainer->run(callbacks.trainer, cancel, budget) == Trainer::Outcome::Cancelled)
                        return std::nullopt;
                } catch (const Diverged &e) { // ranks last; other failures end the tuning
                    if (callbacks.log)
                        callbacks.log(tuning.losses()[l].label + " trial " + std::to_string(trial + 1)
                                                + " stopped: " + e.what());
                    return std::numeric_limits<double>::quiet_NaN();
                }
                eval = evaluationAt(path, budget);
            }
            if (!eval)
                return std::numeric_limits<double>::quiet_NaN();
            if (callbacks.trialScored)
                callbacks.trialScored({l, trial, budget, eval->metrics});
            return eval->metrics.recallAt1;
        };
        const HalvingOutcome outcome = successiveHalving(tuning.plan().trials, budgets, tuning.plan().eta, score);
        if (outcome.best < 0)
            return std::nullopt;
        tuned[l] = outcome.best;
        writeTuned(tuning, tuned);
        if (callbacks.lossTuned)
            callbacks.lossTuned(l, outcome.best);
    }
    if (Comparison::exists(tuning.testFolder()))
        return Comparison::open(tuning.testFolder());
    std::vector<LossChoice> choices;
    for (const auto &[l, trial] : tuned)
        choices.push_back(applySetting(tuning.losses()[l], tuning.trials(l)[size_t(trial)]));
    return Comparison::create(tuning.testFolder(), tuning.base(), choices, tuning.seeds());
}

} // namespace liftlab
