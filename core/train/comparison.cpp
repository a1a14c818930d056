#include "train/comparison.h"

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
#include <stdexcept>

namespace fs = std::filesystem;

namespace liftlab {

namespace {

std::vector<std::string> split(const std::string &text, char separator)
{
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        const size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos)
            return parts;
        start = end + 1;
    }
}

constexpr int kMaxSeeds = 100;

std::string manifestPath(const std::string &folder)
{
    return (fs::path(folder) / "comparison.json").string();
}


// Names, parameters and labels of some losses.
void checkChoices(const std::vector<LossChoice> &losses)
{
    for (size_t i = 0; i < losses.size(); ++i) {
        resolveParams(describeLoss(losses[i].name), losses[i].params); // throws for a bad name, parameter or value
        for (size_t j = 0; j < i; ++j)
            if (losses[j].label == losses[i].label)
                throw Error("loss '" + losses[i].label + "' is listed twice");
    }
}

// ... and that they are enough for a comparison.
void checkLosses(const std::vector<LossChoice> &losses)
{
    checkChoices(losses);
    if (losses.size() < 2)
        throw Error("a comparison needs at least two losses (got " + std::to_string(losses.size()) + ")");
}

} // namespace

std::string runFolderName(size_t index, const std::string &label)
{
    std::string name;
    for (const char c : label)
        name += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '-';
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%02zu-", index + 1);
    return prefix + name;
}

std::string lossLabel(const std::string &name, const std::map<std::string, std::string> &params)
{
    std::string label = name;
    for (const auto &[param, value] : params)
        label += ":" + param + "=" + value;
    return label;
}

std::vector<LossChoice> parseLossList(const std::string &text)
{
    std::vector<LossChoice> choices;
    for (const std::string &spec : split(text, ',')) {
        if (spec.empty())
            throw Error("--losses '" + text + "' has an empty entry");
        const std::vector<std::string> parts = split(spec, ':');
        LossChoice c;
        c.name = parts[0];
        c.label = spec;
        for (size_t i = 1; i < parts.size(); ++i) {
            const size_t eq = parts[i].find('=');
            if (eq == std::string::npos || eq == 0)
                throw Error("loss '" + spec + "': parameter '" + parts[i] + "' is not of the form name=value");
            c.params[parts[i].substr(0, eq)] = parts[i].substr(eq + 1);
        }
        choices.push_back(c);
    }
    checkChoices(choices);
    return choices;
}

namespace {

// Command-line names of the fields a sweep may vary, and their config.json names.
const std::pair<const char *, const char *> kSweepFields[] = {
    {"lr", "lr"},
    {"weight-decay", "weight_decay"},
    {"embedding-dim", "embedding_dim"},
    {"classes-per-batch", "classes_per_batch"},
    {"P", "classes_per_batch"},
    {"per-class", "per_class"},
    {"K", "per_class"},
};

} // namespace

std::string sweepOptionName(const std::string &field)
{
    for (const auto &[option, json] : kSweepFields)
        if (field == json)
            return option;
    return field;
}

Sweep parseSweep(const std::string &text)
{
    const size_t eq = text.find('=');
    if (eq == std::string::npos)
        throw Error("--sweep '" + text + "' is not of the form field=v1,v2,... (e.g. embedding-dim=64,128,256,512)");
    const std::string option = text.substr(0, eq);
    Sweep sweep;
    std::string known;
    for (const auto &[name, json] : kSweepFields) {
        if (option == name)
            sweep.field = json;
        known += std::string(known.empty() ? "" : ", ") + name;
    }
    if (sweep.field.empty())
        throw Error("--sweep: '" + option + "' cannot be swept (these can: " + known + ")");
    for (const std::string &v : split(text.substr(eq + 1), ',')) {
        char *end = nullptr;
        const double value = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0' || !std::isfinite(value))
            throw Error("--sweep: '" + v + "' is not a number");
        for (const double seen : sweep.values)
            if (seen == value)
                throw Error("--sweep: " + v + " is listed twice");
        sweep.values.push_back(value);
    }
    if (sweep.values.size() < 2)
        throw Error("--sweep needs at least two values");
    return sweep;
}

bool presetSweep(const std::string &name, Sweep &sweep, std::string &losses)
{
    if (name == "embedding-size") {
        sweep = {"embedding_dim", {64, 128, 256, 512}};
        losses = "lifted";
        return true;
    }
    if (name == "batch-size") {
        sweep = {"classes_per_batch", {8, 16, 32, 64}};
        losses = "lifted,triplet:miner=semi-hard,contrastive";
        return true;
    }
    return false;
}

std::vector<LossChoice> sweepChoices(const std::vector<LossChoice> &losses, const Sweep &sweep)
{
    std::vector<LossChoice> choices;
    for (const LossChoice &loss : losses)
        for (const double value : sweep.values) {
            LossChoice c = loss;
            c.experiment[sweep.field] = value;
            char text[64];
            std::snprintf(text, sizeof text, " @ %s %g", sweepOptionName(sweep.field).c_str(), value);
            c.label = loss.label + text;
            choices.push_back(c);
        }
    return choices;
}

QJsonObject lossToJson(const LossChoice &loss)
{
    QJsonObject params, experiment;
    for (const auto &[name, value] : loss.params)
        params[QString::fromStdString(name)] = QString::fromStdString(value);
    for (const auto &[field, value] : loss.experiment)
        experiment[QString::fromStdString(field)] = value;
    return QJsonObject{{"label", QString::fromStdString(loss.label)},
                       {"loss", QString::fromStdString(loss.name)},
                       {"params", params},
                       {"experiment", experiment}};
}

LossChoice lossFromJson(const QJsonObject &json, const std::string &source)
{
    LossChoice loss;
    loss.name = json.value("loss").toString().toStdString();
    loss.label = json.value("label").toString().toStdString();
    const QJsonObject params = json.value("params").toObject();
    for (auto it = params.begin(); it != params.end(); ++it)
        loss.params[it.key().toStdString()] = it.value().toString().toStdString();
    const QJsonObject experiment = json.value("experiment").toObject(); // absent before overrides
    for (auto it = experiment.begin(); it != experiment.end(); ++it)
        loss.experiment[it.key().toStdString()] = it.value().toDouble();
    if (loss.name.empty() || loss.label.empty())
        throw Error(source + ": a loss without a name or label");
    return loss;
}

void createEmptyFolder(const std::string &folder, const std::string &what)
{
    std::error_code ec;
    if (fs::exists(folder, ec) && !fs::is_empty(folder, ec))
        throw Error(what + " folder '" + folder + "' already exists and is not empty");
    fs::create_directories(folder, ec);
    if (ec)
        throw Error("cannot create " + what + " folder '" + folder + "': " + ec.message());
}

ExperimentConfig withOverrides(const ExperimentConfig &base, const std::map<std::string, double> &overrides)
{
    if (overrides.empty())
        return base;
    // What may differ between the runs of one comparison: not the data
    // (they share one copy of the images), the seed or the step count.
    static const char *const allowed[] = {"lr", "weight_decay", "embedding_dim", "classes_per_batch", "per_class", "pairs", "random_images"};
    QJsonObject json = toJson(base);
    for (const auto &[field, value] : overrides) {
        if (std::find(std::begin(allowed), std::end(allowed), field) == std::end(allowed)) {
            std::string known;
            for (const char *name : allowed)
                known += std::string(known.empty() ? "" : ", ") + name;
            throw Error("'" + field + "' cannot vary between the runs of a comparison (these can: " + known + ")");
        }
        json[QString::fromStdString(field)] = value;
    }
    return configFromJson(json, "the overridden experiment");
}

void validateComparison(const ExperimentConfig &base, const std::vector<LossChoice> &losses)
{
    checkLosses(losses);
    for (const LossChoice &c : losses) {
        try {
            ExperimentConfig config = withOverrides(base, c.experiment);
            config.loss = c.name;
            config.lossParams = c.params;
            config.validate(); // e.g. n-pair takes K = 2 images per class
        } catch (const Error &e) {
            throw Error(c.label + ": " + e.what());
        }
    }
}

const char *Comparison::resultsFileName(Results format)
{
    return format == Results::Csv ? "results.csv" : "results.md";
}

std::string Comparison::resultsPath(Results format) const
{
    return (fs::path(m_folder) / resultsFileName(format)).string();
}

bool Comparison::exists(const std::string &folder)
{
    return fs::exists(manifestPath(folder));
}

Comparison Comparison::create(const std::string &folder, const ExperimentConfig &base,
                              const std::vector<LossChoice> &losses, int seeds, const std::string &sweep)
{
    Comparison c;
    c.m_folder = folder;
    c.m_base = base;
    c.m_losses = losses;
    c.m_seeds = seeds;
    c.m_sweep = sweep;
    validateComparison(base, losses); // before anything is written
    if (seeds < 1 || seeds > kMaxSeeds)
        throw Error("--seeds must be between 1 and " + std::to_string(kMaxSeeds) + " (got " + std::to_string(seeds) + ")");
    createEmptyFolder(folder, "comparison");
    QJsonArray runs;
    for (size_t i = 0; i < losses.size(); ++i) {
        QJsonArray dirs;
        for (int seed = 0; seed < seeds; ++seed)
            dirs.append(QString::fromStdString(fs::path(c.runPath(size_t(seed) * losses.size() + i)).filename().string()));
        QJsonObject run = lossToJson(losses[i]);
        run["dirs"] = dirs;
        runs.append(run);
    }
    QJsonObject manifest{{"format", 1}, {"base", toJson(base)}, {"seeds", seeds}, {"runs", runs}};
    if (!sweep.empty())
        manifest["sweep"] = QString::fromStdString(sweep);
    writeFileAtomically(manifestPath(folder), QJsonDocument(manifest).toJson().toStdString());
    return c;
}

Comparison Comparison::open(const std::string &folder)
{
    const std::string path = manifestPath(folder);
    QFile file(QString::fromStdString(path));
    if (!file.open(QIODevice::ReadOnly))
        throw Error("'" + folder + "' is not a comparison: " + path + " cannot be read");
    const QJsonObject manifest = QJsonDocument::fromJson(file.readAll()).object();
    if (manifest.value("format").toInt() != 1 || !manifest.value("base").isObject() || !manifest.value("runs").isArray())
        throw Error(path + ": not a LiftLab comparison manifest");
    Comparison c;
    c.m_folder = folder;
    c.m_base = configFromJson(manifest.value("base").toObject(), path);
    c.m_seeds = manifest.value("seeds").toInt(1); // absent before seeds
    if (c.m_seeds < 1 || c.m_seeds > kMaxSeeds)
        throw Error(path + ": 'seeds' must be between 1 and " + std::to_string(kMaxSeeds));
    for (const QJsonValue &v : manifest.value("runs").toArray())
        c.m_losses.push_back(lossFromJson(v.toObject(), path));
    c.m_sweep = manifest.value("sweep").toString().toStdString(); // absent: not a sweep
    for (const LossChoice &loss : c.m_losses)
        if (!c.m_sweep.empty() && !loss.experiment.count(c.m_sweep))
            throw Error(path + ": run '" + loss.label + "' has no value of the swept '" + c.m_sweep + "'");
    return c;
}

double Comparison::sweepValue(size_t loss) const
{
    const auto &experiment = m_losses.at(loss).experiment;
    const auto it = experiment.find(m_sweep);
    return it == experiment.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
}

std::string Comparison::sweepSeries(size_t loss) const
{
    return lossLabel(m_losses.at(loss).name, m_losses.at(loss).params);
}

ExperimentConfig Comparison::config(size_t run) const
{
    if (run >= runCount())
        throw std::out_of_range("Comparison::config: no run " + std::to_string(run));
    ExperimentConfig c = withOverrides(m_base, m_losses[lossIndex(run)].experiment);
    c.loss = m_losses[lossIndex(run)].name;
    c.lossParams = m_losses[lossIndex(run)].params;
    c.seed = m_base.seed + uint64_t(seedIndex(run));
    return c;
}

std::string Comparison::runPath(size_t run) const
{
    std::string name = runFolderName(lossIndex(run), m_losses.at(lossIndex(run)).label);
    if (m_seeds > 1)
        name += "-seed" + std::to_string(m_base.seed + uint64_t(seedIndex(run)));
    return (fs::path(m_folder) / name).string();
}

std::string Comparison::runLabel(size_t run) const
{
    const std::string &label = m_losses.at(lossIndex(run)).label;
    return m_seeds > 1 ? label + ", seed " + std::to_string(m_base.seed + uint64_t(seedIndex(run))) : label;
}

std::vector<ComparisonRow> comparisonResults(const Comparison &comparison)
{
    std::vector<ComparisonRow> rows;
    for (size_t i = 0; i < comparison.runCount(); ++i) {
        ComparisonRow row;
        row.label = comparison.runLabel(i);
        row.loss = comparison.losses()[comparison.lossIndex(i)].label;
        row.seed = comparison.config(i).seed;
        const RunFiles run(comparison.runPath(i));
        const std::vector<EvalReport> evals = RunDirectory::readEvals(run.evals());
        if (!evals.empty()) {
            row.step = evals.back().step;
            row.metrics = evals.back().metrics;
        }
        QFile summary(QString::fromStdString(run.summary()));
        if (summary.open(QIODevice::ReadOnly)) {
            const QJsonObject s = QJsonDocument::fromJson(summary.readAll()).object();
            row.imagesPerSec = s.value("images_per_sec").toDouble();
            row.trainSeconds = s.value("train_seconds").toDouble();
        }
        rows.push_back(row);
    }
    return rows;
}

namespace {

// Columns padded to their widest cell: the first (a label) left-aligned,
// the numbers right-aligned.
std::string alignedTable(const std::vector<std::vector<std::string>> &table)
{
    std::vector<size_t> width(table.at(0).size(), 0);
    for (const auto &line : table)
        for (size_t c = 0; c < line.size(); ++c)
            width[c] = std::max(width[c], line[c].size());
    std::string out;
    for (const auto &line : table) {
        for (size_t c = 0; c < line.size(); ++c) {
            const std::string pad(width[c] - line[c].size(), ' ');
            out += c == 0 ? line[c] + pad : "  " + pad + line[c];
        }
        while (!out.empty() && out.back() == ' ') // an empty last cell
            out.pop_back();
        out += '\n';
    }
    return out;
}

// A Markdown table: the first column left-aligned, the others right.
std::string markdownTable(const std::vector<std::vector<std::string>> &table)
{
    std::string out;
    for (size_t r = 0; r < table.size(); ++r) {
        out += "|";
        for (const std::string &cell : table[r])
            out += " " + cell + " |";
        out += "\n";
        if (r == 0) {
            out += "|";
            for (size_t c = 0; c < table[0].size(); ++c)
                out += c == 0 ? " --- |" : " ---: |";
            out += "\n";
        }
    }
    return out;
}

const char *const kColumns[] = {"loss", "seed", "step", "R@1", "R@2", "R@4", "R@8", "MAP@R", "R-prec", "NMI", "F1", "img/s", "train s"};

std::vector<std::string> cells(const ComparisonRow &r)
{
    auto f = [](double v, const char *format) {
        char text[32];
        std::snprintf(text, sizeof text, format, v);
        return std::string(text);
    };
    const Metrics &m = r.metrics;
    return {r.loss, std::to_string(r.seed), std::to_string(r.step),  f(m.recallAt1, "%.4f"),  f(m.recallAt2, "%.4f"),
            f(m.recallAt4, "%.4f"), f(m.recallAt8, "%.4f"), f(m.mapAtR, "%.4f"),    f(m.rPrecision, "%.4f"),
            f(m.nmi, "%.4f"),  f(m.f1, "%.4f"),          f(r.imagesPerSec, "%.0f"), f(r.trainSeconds, "%.1f")};
}

std::vector<std::vector<std::string>> rowsTable(const std::vector<ComparisonRow> &rows)
{
    std::vector<std::vector<std::string>> table = {std::vector<std::string>(std::begin(kColumns), std::end(kColumns))};
    for (const ComparisonRow &r : rows)
        table.push_back(cells(r));
    return table;
}

} // namespace

std::string comparisonTable(const std::vector<ComparisonRow> &rows)
{
    return alignedTable(rowsTable(rows));
}

std::string comparisonCsv(const std::vector<ComparisonRow> &rows)
{
    std::string out;
    for (const char *column : kColumns)
        out += std::string(out.empty() ? "" : ",") + column;
    out += '\n';
    for (const ComparisonRow &r : rows) {
        const std::vector<std::string> line = cells(r);
        for (size_t c = 0; c < line.size(); ++c) {
            std::string cell = line[c];
            if (cell.find_first_of(",\"") != std::string::npos) { // quote per RFC 4180
                std::string quoted = "\"";
                for (const char ch : cell)
                    quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
                cell = quoted + "\"";
            }
            out += (c ? "," : "") + cell;
        }
        out += '\n';
    }
    return out;
}

std::string comparisonMarkdown(const std::vector<ComparisonRow> &rows)
{
    return markdownTable(rowsTable(rows));
}

double studentT975(int df)
{
    if (df < 1)
        throw std::invalid_argument("studentT975: df must be at least 1");
    // Exact to the digits shown for df <= 30 (the standard tables); beyond,
    // the Cornish-Fisher expansion in 1/df, which is within 1e-4 there.
    static const double table[] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                                   2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                   2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    if (df <= 30)
        return table[df - 1];
    const double z = 1.959963984540054, n = df;
    const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n)
           + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n);
}

Interval confidenceInterval(const std::vector<double> &sample)
{
    Interval interval;
    const size_t n = sample.size();
    if (n == 0) {
        interval.mean = interval.halfWidth = std::numeric_limits<double>::quiet_NaN();
        return interval;
    }
    double sum = 0;
    for (const double x : sample)
        sum += x;
    interval.mean = sum / double(n);
    if (n < 2) {
        interval.halfWidth = std::numeric_limits<double>::quiet_NaN();
        return interval;
    }
    double squares = 0;
    for (const double x : sample)
        squares += (x - interval.mean) * (x - interval.mean);
    const double sd = std::sqrt(squares / double(n - 1));
    interval.halfWidth = studentT975(int(n - 1)) * sd / std::sqrt(double(n));
    return interval;
}

std::vector<ComparisonSummary> summarizeSeeds(const Comparison &comparison, const std::vector<ComparisonRow> &rows)
{
    std::vector<ComparisonSummary> summary;
    for (const LossChoice &loss : comparison.losses()) {
        ComparisonSummary s;
        s.loss = loss.label;
        std::vector<double> r1, r2, r4, r8, map, rp, nmi, f1, speed;
        for (const ComparisonRow &row : rows) {
            if (row.loss != loss.label || row.step == 0)
                continue;
            r1.push_back(row.metrics.recallAt1);
            r2.push_back(row.metrics.recallAt2);
            r4.push_back(row.metrics.recallAt4);
            r8.push_back(row.metrics.recallAt8);
            map.push_back(row.metrics.mapAtR);
            rp.push_back(row.metrics.rPrecision);
            nmi.push_back(row.metrics.nmi);
            f1.push_back(row.metrics.f1);
            if (row.imagesPerSec > 0)
                speed.push_back(row.imagesPerSec);
        }
        s.runs = int(r1.size());
        s.recallAt1 = confidenceInterval(r1);
        s.recallAt2 = confidenceInterval(r2);
        s.recallAt4 = confidenceInterval(r4);
        s.recallAt8 = confidenceInterval(r8);
        s.mapAtR = confidenceInterval(map);
        s.rPrecision = confidenceInterval(rp);
        s.nmi = confidenceInterval(nmi);
        s.f1 = confidenceInterval(f1);
        s.imagesPerSec = speed.empty() ? 0 : confidenceInterval(speed).mean;
        summary.push_back(s);
    }
    // Losses without an evaluation last; the rest by their mean Recall@1.
    std::stable_sort(summary.begin(), summary.end(), [](const ComparisonSummary &a, const ComparisonSummary &b) {
        if ((a.runs > 0) != (b.runs > 0))
            return a.runs > 0;
        return a.runs > 0 && a.recallAt1.mean > b.recallAt1.mean;
    });
    if (!summary.empty() && summary.front().runs > 0) {
        ComparisonSummary &best = summary.front();
        best.best = true;
        // Intervals need two runs; with one, nothing counts as tied.
        for (size_t i = 1; i < summary.size(); ++i)
            summary[i].tied = summary[i].runs > 1 && best.runs > 1 && summary[i].recallAt1.high() >= best.recallAt1.low();
    }
    return summary;
}

namespace {

const char *const kSummaryColumns[] = {"loss", "seeds", "R@1", "R@2", "R@4", "R@8", "MAP@R", "R-prec", "NMI", "F1", "img/s", "vs best"};

std::vector<std::string> summaryCells(const ComparisonSummary &s, const char *plusMinus)
{
    auto f = [plusMinus](const Interval &i) {
        char text[48];
        if (std::isnan(i.halfWidth))
            std::snprintf(text, sizeof text, "%.4f", i.mean);
        else
            std::snprintf(text, sizeof text, "%.4f %s %.4f", i.mean, plusMinus, i.halfWidth);
        return std::string(text);
    };
    char speed[32];
    std::snprintf(speed, sizeof speed, "%.0f", s.imagesPerSec);
    return {s.loss,       std::to_string(s.runs), f(s.recallAt1), f(s.recallAt2), f(s.recallAt4), f(s.recallAt8),
            f(s.mapAtR),  f(s.rPrecision),        f(s.nmi),       f(s.f1),        speed,
            s.best ? "best" : s.tied ? "tied" : ""};
}

std::vector<std::vector<std::string>> summaryRows(const std::vector<ComparisonSummary> &summary, const char *plusMinus)
{
    std::vector<std::vector<std::string>> table = {std::vector<std::string>(std::begin(kSummaryColumns), std::end(kSummaryColumns))};
    for (const ComparisonSummary &s : summary)
        table.push_back(summaryCells(s, plusMinus));
    return table;
}

} // namespace

std::string summaryTable(const std::vector<ComparisonSummary> &summary)
{
    return alignedTable(summaryRows(summary, "+-"));
}

std::string summaryMarkdown(const std::vector<ComparisonSummary> &summary)
{
    return markdownTable(summaryRows(summary, "±"));
}

} // namespace liftlab
