#include "train/comparison.h"

#include "error.h"
#include "losses/params.h"
#include "train/rundirectory.h"
#include "util/atomicfile.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>
#include <filesystem>

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

std::string manifestPath(const std::string &folder)
{
    return (fs::path(folder) / "comparison.json").string();
}

// A label as a folder name: letters, digits, '.', '_' and '-' only.
std::string folderName(size_t index, const std::string &label)
{
    std::string name;
    for (const char c : label)
        name += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '-';
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%02zu-", index + 1);
    return prefix + name;
}

// Names, parameters and labels of the losses of one comparison.
void checkLosses(const std::vector<LossChoice> &losses)
{
    for (size_t i = 0; i < losses.size(); ++i) {
        resolveParams(describeLoss(losses[i].name), losses[i].params); // throws for a bad name, parameter or value
        for (size_t j = 0; j < i; ++j)
            if (losses[j].label == losses[i].label)
                throw Error("loss '" + losses[i].label + "' is listed twice");
    }
    if (losses.size() < 2)
        throw Error("a comparison needs at least two losses (got " + std::to_string(losses.size()) + ")");
}

} // namespace

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
    checkLosses(choices);
    return choices;
}

void validateComparison(const ExperimentConfig &base, const std::vector<LossChoice> &losses)
{
    checkLosses(losses);
    ExperimentConfig config = base;
    for (const LossChoice &c : losses) {
        config.loss = c.name;
        config.lossParams = c.params;
        try {
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

Comparison Comparison::create(const std::string &folder, const ExperimentConfig &base,
                              const std::vector<LossChoice> &losses)
{
    Comparison c;
    c.m_folder = folder;
    c.m_base = base;
    c.m_losses = losses;
    validateComparison(base, losses); // before anything is written
    std::error_code ec;
    if (fs::exists(folder, ec) && !fs::is_empty(folder, ec))
        throw Error("comparison folder '" + folder + "' already exists and is not empty");
    fs::create_directories(folder, ec);
    if (ec)
        throw Error("cannot create comparison folder '" + folder + "': " + ec.message());
    QJsonArray runs;
    for (size_t i = 0; i < losses.size(); ++i) {
        QJsonObject params;
        for (const auto &[name, value] : losses[i].params)
            params[QString::fromStdString(name)] = QString::fromStdString(value);
        runs.append(QJsonObject{{"label", QString::fromStdString(losses[i].label)},
                                {"loss", QString::fromStdString(losses[i].name)},
                                {"params", params},
                                {"dir", QString::fromStdString(folderName(i, losses[i].label))}});
    }
    const QJsonObject manifest{{"format", 1}, {"base", toJson(base)}, {"runs", runs}};
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
    for (const QJsonValue &v : manifest.value("runs").toArray()) {
        const QJsonObject run = v.toObject();
        LossChoice choice;
        choice.name = run.value("loss").toString().toStdString();
        choice.label = run.value("label").toString().toStdString();
        const QJsonObject params = run.value("params").toObject();
        for (auto it = params.begin(); it != params.end(); ++it)
            choice.params[it.key().toStdString()] = it.value().toString().toStdString();
        if (choice.name.empty() || choice.label.empty())
            throw Error(path + ": a run without a loss or label");
        c.m_losses.push_back(choice);
    }
    return c;
}

ExperimentConfig Comparison::config(size_t i) const
{
    ExperimentConfig c = m_base;
    c.loss = m_losses.at(i).name;
    c.lossParams = m_losses.at(i).params;
    return c;
}

std::string Comparison::runPath(size_t i) const
{
    return (fs::path(m_folder) / folderName(i, m_losses.at(i).label)).string();
}

std::vector<ComparisonRow> comparisonResults(const Comparison &comparison)
{
    std::vector<ComparisonRow> rows;
    for (size_t i = 0; i < comparison.losses().size(); ++i) {
        ComparisonRow row;
        row.label = comparison.losses()[i].label;
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

const char *const kColumns[] = {"loss", "step", "R@1", "R@2", "R@4", "R@8", "MAP@R", "R-prec", "NMI", "F1", "img/s", "train s"};

std::vector<std::string> cells(const ComparisonRow &r)
{
    auto f = [](double v, const char *format) {
        char text[32];
        std::snprintf(text, sizeof text, format, v);
        return std::string(text);
    };
    const Metrics &m = r.metrics;
    return {r.label,           std::to_string(r.step),  f(m.recallAt1, "%.4f"),  f(m.recallAt2, "%.4f"),
            f(m.recallAt4, "%.4f"), f(m.recallAt8, "%.4f"), f(m.mapAtR, "%.4f"),    f(m.rPrecision, "%.4f"),
            f(m.nmi, "%.4f"),  f(m.f1, "%.4f"),          f(r.imagesPerSec, "%.0f"), f(r.trainSeconds, "%.1f")};
}

} // namespace

std::string comparisonTable(const std::vector<ComparisonRow> &rows)
{
    std::vector<std::vector<std::string>> table = {std::vector<std::string>(std::begin(kColumns), std::end(kColumns))};
    for (const ComparisonRow &r : rows)
        table.push_back(cells(r));
    std::vector<size_t> width(table[0].size(), 0);
    for (const auto &line : table)
        for (size_t c = 0; c < line.size(); ++c)
            width[c] = std::max(width[c], line[c].size());
    std::string out;
    for (const auto &line : table) {
        for (size_t c = 0; c < line.size(); ++c) {
            const std::string pad(width[c] - line[c].size(), ' ');
            out += c == 0 ? line[c] + pad : "  " + pad + line[c]; // the label left, numbers right
        }
        out += '\n';
    }
    return out;
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
    std::string out = "|", rule = "|";
    for (const char *column : kColumns) {
        out += std::string(" ") + column + " |";
        rule += std::string(column == kColumns[0] ? " --- |" : " ---: |");
    }
    out += "\n" + rule + "\n";
    for (const ComparisonRow &r : rows) {
        out += "|";
        for (const std::string &cell : cells(r))
            out += " " + cell + " |";
        out += "\n";
    }
    return out;
}

} // namespace liftlab
