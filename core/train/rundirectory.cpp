#include "train/rundirectory.h"

#include "data/npy.h"
#include "error.h"
#include "train/runlock.h"
#include "util/atomicfile.h"
#include "util/version.h"

#include <QByteArray>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;

namespace liftlab {

namespace {

std::string compact(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Compact).toStdString();
}

// Parses each complete line; a torn or garbled line (a writer killed
// mid-line) is skipped rather than failing the whole read.
std::vector<QJsonObject> readJsonLines(const std::string &path)
{
    std::vector<QJsonObject> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (in.eof())
            break; // no newline yet: the writer has not finished this line
        const QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromStdString(line));
        if (doc.isObject())
            out.push_back(doc.object());
    }
    return out;
}

QJsonObject metricsObject(const Metrics &m)
{
    QJsonObject o{{"recall_at_1", m.recallAt1},
                  {"recall_at_2", m.recallAt2},
                  {"recall_at_4", m.recallAt4},
                  {"recall_at_8", m.recallAt8},
                  {"map_at_r", m.mapAtR},
                  {"r_precision", m.rPrecision},
                  {"nmi", m.nmi},
                  {"f1", m.f1},
                  {"queries", qint64(m.queries)},
                  {"singleton_queries", qint64(m.singletonQueries)}};
    if (m.largeRecall) {
        o.insert("recall_at_10", m.recallAt10);
        o.insert("recall_at_100", m.recallAt100);
        o.insert("recall_at_1000", m.recallAt1000);
    }
    return o;
}

QJsonObject metricsObject(const EvalReport &r)
{
    QJsonObject o = metricsObject(r.metrics);
    o.insert("step", qint64(r.step));
    o.insert("seconds", r.seconds);
    return o;
}

void rewriteKeeping(const std::string &path, int64_t lastStep)
{
    if (!fs::exists(path))
        return;
    std::string kept;
    for (const QJsonObject &o : readJsonLines(path))
        if (o.value("step").toInteger() <= lastStep)
            kept += compact(o) + "\n";
    writeFileAtomically(path, kept);
}

} // namespace

RunFiles::RunFiles(std::string dir)
    : m_dir(std::move(dir))
{
}

std::string RunFiles::file(const std::string &name) const
{
    return (fs::path(m_dir) / name).string();
}

std::string RunFiles::config() const { return file("config.json"); }
std::string RunFiles::status() const { return file("status.json"); }
std::string RunFiles::lock() const { return file("lock"); }
std::string RunFiles::metrics() const { return file("metrics.jsonl"); }
std::string RunFiles::evals() const { return file("eval.jsonl"); }
std::string RunFiles::summary() const { return file("summary.json"); }
std::string RunFiles::snapshot() const { return file("snapshot.json"); }
std::string RunFiles::skippedImages() const { return file("skipped_images.txt"); }
std::string RunFiles::checkpoints() const { return file("checkpoints"); }
std::string RunFiles::checkpoint() const { return file("checkpoints/last.pt"); }
std::string RunFiles::embeddings() const { return file("embeddings"); }
std::string RunFiles::testLabels() const { return file("embeddings/labels.npy"); }
std::string RunFiles::retention() const { return file("embeddings/retention.json"); }

std::string RunFiles::embedding(int64_t step) const
{
    return file("embeddings/step-" + std::to_string(step) + ".npy");
}

std::string RunFiles::projection(const std::string &method, int64_t step) const
{
    return file("projections/" + method + "-" + std::to_string(step) + ".npy");
}

std::vector<int64_t> RunFiles::embeddingSteps() const
{
    std::vector<int64_t> steps;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(embeddings(), ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() > 9 && name.compare(0, 5, "step-") == 0 && name.compare(name.size() - 4, 4, ".npy") == 0) {
            const std::string digits = name.substr(5, name.size() - 9);
            if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos && digits.size() < 18)
                steps.push_back(std::stoll(digits));
        }
    }
    std::sort(steps.begin(), steps.end());
    return steps;
}

const char *runStateName(RunState state)
{
    switch (state) {
    case RunState::Created:
        return "created";
    case RunState::Training:
        return "training";
    case RunState::Stopped:
        return "stopped";
    case RunState::Finished:
        return "finished";
    case RunState::Failed:
        return "failed";
    }
    return "created";
}

RunDirectory RunDirectory::create(const std::string &path, const ExperimentConfig &config)
{
    if (fs::exists(path) && !(fs::is_directory(path) && fs::is_empty(path)))
        throw fileError(path, "already exists and is not empty (use --resume to continue a run)");
    // Made beside its final name and renamed into place: a run directory
    // either holds its config.json or does not exist, whenever the process dies.
    fs::path target = fs::path(path).lexically_normal();
    if (!target.has_filename()) // "runs/x/"
        target = target.parent_path();
    const fs::path staging = temporaryPathFor(target.string());
    std::error_code ec;
    const RunFiles files(staging.string());
    fs::create_directories(files.checkpoints(), ec);
    if (ec)
        throw fileError(path, "cannot create run directory (" + ec.message() + ")");
    try {
        QJsonObject json = toJson(config);
        json[QStringLiteral("liftlab_version")] = QString::fromLatin1(version()); // which LiftLab made the run
        writeFileAtomically(files.config(), QJsonDocument(json).toJson(QJsonDocument::Indented).toStdString());
    } catch (const Error &) {
        fs::remove_all(staging, ec);
        throw;
    }
    fs::rename(staging, target, ec); // replaces an empty folder
    if (ec) {
        const std::string reason = ec.message();
        fs::remove_all(staging, ec);
        throw fileError(path, "cannot create run directory (" + reason + ")");
    }
    return open(path);
}

RunDirectory RunDirectory::open(const std::string &path)
{
    if (!fs::is_directory(path))
        throw fileError(path, "run directory does not exist");
    const std::string configPath = RunFiles(path).config();
    std::ifstream in(configPath);
    if (!in)
        throw fileError(configPath, "missing (not a LiftLab run directory?)");
    std::stringstream text;
    text << in.rdbuf();
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromStdString(text.str()), &error);
    if (!doc.isObject())
        throw fileError(configPath, "not valid JSON (" + error.errorString().toStdString() + ")");
    RunDirectory run;
    run.m_files = RunFiles(path);
    run.m_config = configFromJson(doc.object(), configPath);
    return run;
}

void RunDirectory::append(const std::string &file, std::ofstream &stream, const std::string &line)
{
    if (!stream.is_open()) {
        stream.open(file, std::ios::app);
        if (!stream)
            throw fileError(file, "cannot append");
    }
    stream << line << '\n';
}

void RunDirectory::appendStep(const TrainingStep &s)
{
    append(m_files.metrics(), m_metrics,
           compact(QJsonObject{{"step", qint64(s.step)},
                               {"loss", s.loss},
                               {"lr", s.learningRate},
                               {"images_per_sec", s.imagesPerSec},
                               {"active_fraction", s.activeFraction},
                               {"seconds", s.elapsedSeconds}}));
    if (++m_unflushed >= 50)
        flush();
}

void RunDirectory::appendEval(const EvalReport &report)
{
    append(m_files.evals(), m_eval, metricsToJsonLine(report));
    flush();
}

void RunDirectory::flush()
{
    m_unflushed = 0;
    for (std::ofstream *stream : {&m_metrics, &m_eval})
        if (stream->is_open() && !stream->flush())
            throw fileError(path(), "cannot write metrics (disk full?)");
}

void RunDirectory::truncateAfter(int64_t step)
{
    m_metrics.close();
    m_eval.close();
    rewriteKeeping(m_files.metrics(), step);
    rewriteKeeping(m_files.evals(), step);
    for (const int64_t later : m_files.embeddingSteps())
        if (later > step)
            fs::remove(m_files.embedding(later));
}

void RunDirectory::writeEmbedding(int64_t step, const std::vector<float> &values, int64_t rows, int64_t cols)
{
    fs::create_directories(m_files.embeddings());
    writeNpy(m_files.embedding(step), npyFromFloats({rows, cols}, values.data()));
}

std::vector<int64_t> retainedEmbeddingSteps(const std::vector<int64_t> &steps, int keepLast, int keepEvery)
{
    if (keepLast <= 0)
        return steps;
    std::vector<int64_t> kept;
    const size_t n = steps.size();
    for (size_t i = 0; i < n; ++i)
        if (i == 0 || i + size_t(keepLast) >= n || (keepEvery > 0 && (i + 1) % size_t(keepEvery) == 0))
            kept.push_back(steps[i]);
    return kept;
}

std::vector<int64_t> RunDirectory::applyEmbeddingRetention(int keepLast, int keepEvery)
{
    const std::vector<int64_t> present = m_files.embeddingSteps();
    std::vector<int64_t> all = present;
    for (const EvalReport &r : readEvals(m_files.evals()))
        all.push_back(r.step);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    const std::vector<int64_t> kept = retainedEmbeddingSteps(all, keepLast, keepEvery);
    std::vector<int64_t> dropped;
    for (const int64_t step : present) {
        if (std::binary_search(kept.begin(), kept.end(), step))
            continue;
        std::error_code ec;
        fs::remove(m_files.embedding(step), ec);
        for (const char *method : {"tsne", "umap", "pca"})
            fs::remove(m_files.projection(method, step), ec);
        dropped.push_back(step);
    }
    if (dropped.empty())
        return dropped;
    QJsonArray allDropped;
    std::ifstream in(m_files.retention());
    if (in) {
        std::stringstream text;
        text << in.rdbuf();
        allDropped = QJsonDocument::fromJson(QByteArray::fromStdString(text.str())).object().value("dropped").toArray();
    }
    for (const int64_t step : dropped)
        allDropped.append(qint64(step));
    const QJsonObject json{{"keep_first", true},
                           {"keep_last", keepLast},
                           {"keep_every", keepEvery},
                           {"dropped", allDropped}};
    writeFileAtomically(m_files.retention(), QJsonDocument(json).toJson(QJsonDocument::Indented).toStdString());
    return dropped;
}

void RunDirectory::writeTestLabels(const std::vector<int64_t> &labels)
{
    fs::create_directories(m_files.embeddings());
    writeNpy(m_files.testLabels(), npyFromInt64({int64_t(labels.size())}, labels.data()));
}

void RunDirectory::writeSummary(const RunSummary &s)
{
    QJsonObject json{{"images_per_sec", s.imagesPerSec},
                     {"train_seconds", s.trainSeconds},
                     {"steps", qint64(s.steps)},
                     {"data_wait_seconds", s.dataWaitSeconds},
                     {"batch_seconds", s.batchSeconds}};
    if (m_config.worldSize > 1)
        json["communication_seconds"] = s.communicationSeconds;
    writeFileAtomically(m_files.summary(), compact(json) + "\n");
}

void RunDirectory::writeSnapshot(const DistanceSnapshot &s)
{
    auto array = [](const auto &values) {
        QJsonArray a;
        for (const auto v : values)
            a.append(double(v));
        return a;
    };
    writeFileAtomically(m_files.snapshot(), compact(QJsonObject{{"step", qint64(s.step)},
                                                            {"size", qint64(s.size)},
                                                            {"distances", array(s.distances)},
                                                            {"pair_terms", array(s.pairTerms)},
                                                            {"labels", array(s.labels)},
                                                            {"indices", array(s.indices)}}));
}

void RunDirectory::writeStatus(RunState state, int64_t step, const std::string &message)
{
    QJsonObject status{{"state", runStateName(state)}, {"step", qint64(step)}};
    if (!message.empty())
        status["message"] = QString::fromStdString(message);
    writeFileAtomically(m_files.status(), compact(status) + "\n");
}

RunStatus RunDirectory::readStatus(const std::string &dir)
{
    const RunFiles files(dir);
    RunStatus status;
    std::ifstream in(files.status());
    if (!in) { // a run from before status.json, or one not started yet
        std::error_code ec;
        if (fs::exists(files.summary(), ec))
            status.state = RunState::Finished;
        else if (fs::exists(files.checkpoint(), ec))
            status.state = RunState::Stopped;
        return status;
    }
    std::stringstream text;
    text << in.rdbuf();
    const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(text.str())).object();
    const std::string name = o.value("state").toString().toStdString();
    for (const RunState state : {RunState::Training, RunState::Stopped, RunState::Finished, RunState::Failed})
        if (name == runStateName(state))
            status.state = state;
    status.step = o.value("step").toInteger();
    status.message = o.value("message").toString().toStdString();
    if (status.state == RunState::Training) {
        if (const std::optional<std::string> holder = RunLock::holder(dir)) {
            status.message = "by " + *holder;
        } else {
            status.state = RunState::Stopped;
            status.message = "its process ended while training (killed?); a resume continues from its last checkpoint";
        }
    }
    return status;
}

DistanceSnapshot RunDirectory::readSnapshot(const std::string &snapshotPath)
{
    std::ifstream in(snapshotPath);
    std::stringstream text;
    text << in.rdbuf();
    const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(text.str())).object();
    DistanceSnapshot s;
    const int64_t n = o.value("size").toInteger();
    const QJsonArray distances = o.value("distances").toArray(), terms = o.value("pair_terms").toArray(),
                     labels = o.value("labels").toArray(), indices = o.value("indices").toArray();
    if (n <= 0 || distances.size() != n * n || labels.size() != n || indices.size() != n
        || !(terms.isEmpty() || terms.size() == n * n))
        return s;
    s.step = o.value("step").toInteger();
    s.size = n;
    for (const QJsonValue &v : distances)
        s.distances.push_back(float(v.toDouble()));
    for (const QJsonValue &v : terms)
        s.pairTerms.push_back(float(v.toDouble()));
    for (const QJsonValue &v : labels)
        s.labels.push_back(v.toInteger());
    for (const QJsonValue &v : indices)
        s.indices.push_back(v.toInteger());
    return s;
}

std::vector<TrainingStep> RunDirectory::readSteps(const std::string &metricsPath)
{
    std::vector<TrainingStep> steps;
    for (const QJsonObject &o : readJsonLines(metricsPath)) {
        TrainingStep s;
        s.step = o.value("step").toInteger();
        s.loss = o.value("loss").toDouble();
        s.learningRate = o.value("lr").toDouble();
        s.imagesPerSec = o.value("images_per_sec").toDouble();
        s.activeFraction = o.value("active_fraction").toDouble();
        s.elapsedSeconds = o.value("seconds").toDouble();
        steps.push_back(s);
    }
    return steps;
}

std::vector<EvalReport> RunDirectory::readEvals(const std::string &evalPath)
{
    std::vector<EvalReport> reports;
    for (const QJsonObject &o : readJsonLines(evalPath)) {
        EvalReport r;
        r.step = o.value("step").toInteger();
        r.seconds = o.value("seconds").toDouble();
        Metrics &m = r.metrics;
        m.recallAt1 = o.value("recall_at_1").toDouble();
        m.recallAt2 = o.value("recall_at_2").toDouble();
        m.recallAt4 = o.value("recall_at_4").toDouble();
        m.recallAt8 = o.value("recall_at_8").toDouble();
        m.mapAtR = o.value("map_at_r").toDouble();
        m.rPrecision = o.value("r_precision").toDouble();
        m.nmi = o.value("nmi").toDouble();
        m.f1 = o.value("f1").toDouble();
        m.queries = o.value("queries").toInteger();
        m.singletonQueries = o.value("singleton_queries").toInteger();
        m.largeRecall = o.contains("recall_at_1000");
        m.recallAt10 = o.value("recall_at_10").toDouble();
        m.recallAt100 = o.value("recall_at_100").toDouble();
        m.recallAt1000 = o.value("recall_at_1000").toDouble();
        reports.push_back(r);
    }
    return reports;
}

std::string metricsToJsonLine(const EvalReport &report)
{
    return compact(metricsObject(report));
}

std::string metricsToJson(const Metrics &metrics)
{
    return compact(metricsObject(metrics));
}

std::string metricsTable(const std::vector<std::pair<std::string, Metrics>> &rows)
{
    size_t width = 10;
    for (const auto &row : rows)
        width = std::max(width, row.first.size());
    std::ostringstream s;
    char buffer[256];
    std::snprintf(buffer, sizeof buffer, "%-*s %8s %8s %8s %8s %8s %8s %8s\n", int(width), "embedding", "R@1", "R@2",
                  "R@4", "R@8", "MAP@R", "NMI", "F1");
    s << buffer;
    for (const auto &[name, m] : rows) {
        std::snprintf(buffer, sizeof buffer, "%-*s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f\n", int(width),
                      name.c_str(), m.recallAt1, m.recallAt2, m.recallAt4, m.recallAt8, m.mapAtR, m.nmi, m.f1);
        s << buffer;
    }
    for (const auto &[name, m] : rows)
        if (m.largeRecall) {
            std::snprintf(buffer, sizeof buffer, "%-*s %8.4f %8.4f %8.4f   (R@10, R@100, R@1000)\n", int(width),
                          name.c_str(), m.recallAt10, m.recallAt100, m.recallAt1000);
            s << buffer;
        }
    for (const auto &[name, m] : rows)
        if (m.singletonQueries > 0) { // the same test set in every row: said once
            s << m.singletonQueries << " of the " << m.queries
              << " queries have no other image of their class: left out of MAP@R (Recall@K counts them as misses)\n";
            break;
        }
    return s.str();
}

} // namespace liftlab
