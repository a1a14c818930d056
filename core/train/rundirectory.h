#pragma once

#include "train/config.h"
#include "train/events.h"

#include <fstream>
#include <string>
#include <vector>

namespace liftlab {

// The files of a run directory, named in this one place. The directory is
// the contract between core, CLI and GUI:
//   config.json     the experiment (written once, atomically)
//   status.json     what the run is doing (RunStatus), rewritten as it changes
//   lock            held while a process trains into the directory (RunLock)
//   metrics.jsonl   one JSON object per training step
//   eval.jsonl      one JSON object per evaluation
//   summary.json    images/s and wall time of the finished run
//   snapshot.json   the last batch's distance matrix, for the heatmap
//   skipped_images.txt   images of the dataset that could not be used
//   checkpoints/last.pt
//   embeddings/labels.npy, embeddings/step-<n>.npy   test-set labels and embedding at each evaluation
//   embeddings/retention.json     the policy and the steps whose embeddings it dropped
//   projections/<method>-<n>.npy                      2-D projections of those (explorer, CLI)
// Readers skip a torn last line, so a run can be read while it is written.
class RunFiles
{
public:
    explicit RunFiles(std::string dir);

    const std::string &dir() const { return m_dir; }
    std::string config() const;
    std::string status() const;
    std::string lock() const;
    std::string metrics() const;
    std::string evals() const;
    std::string summary() const;
    std::string snapshot() const;
    std::string skippedImages() const;
    std::string checkpoints() const; // the folder
    std::string checkpoint() const;
    std::string embeddings() const; // the folder
    std::string embedding(int64_t step) const;
    std::string testLabels() const;
    std::string retention() const;
    std::string projection(const std::string &method, int64_t step) const;
    // Steps that have an embedding file, ascending.
    std::vector<int64_t> embeddingSteps() const;

private:
    std::string file(const std::string &name) const;
    std::string m_dir;
};

// What a run is doing. A writer records each change in status.json; a run
// that says "training" while nobody holds its lock was ended from outside
// (killed, or its machine went down) and reads as stopped.
enum class RunState { Created, Training, Stopped, Finished, Failed };
const char *runStateName(RunState state); // "created", "training", ...

struct RunStatus
{
    RunState state = RunState::Created;
    int64_t step = 0;    // the last step recorded with the state
    std::string message; // Failed: why; Training: who trains it; Stopped: how it ended
};

// summary.json: how fast the run trained.
struct RunSummary
{
    double imagesPerSec = 0; // global batch images per second of training
    double trainSeconds = 0;
    int64_t steps = 0;
    double dataWaitSeconds = 0; // of trainSeconds, the steps' waits for their batches
    double batchSeconds = 0;    // making the batches (on a worker thread, while the steps train)
    // Of trainSeconds, rank 0's time in the collectives of a distributed
    // run (the gathers, the gradient all-reduce, waiting for slower ranks).
    double communicationSeconds = 0;
};

class RunDirectory
{
public:
    // Creates the folder (refusing a non-empty one) and writes config.json.
    static RunDirectory create(const std::string &path, const ExperimentConfig &config);
    // Opens an existing run; throws liftlab::Error if config.json is missing or bad.
    static RunDirectory open(const std::string &path);

    const std::string &path() const { return m_files.dir(); }
    const RunFiles &files() const { return m_files; }
    const ExperimentConfig &config() const { return m_config; }

    void appendStep(const TrainingStep &step);
    void appendEval(const EvalReport &report);
    void flush();
    // Drops records after `step` (used when resuming from a checkpoint).
    void truncateAfter(int64_t step);
    void writeSummary(const RunSummary &summary);
    // The latest batch distance matrix (snapshot.json), written with each
    // checkpoint and every 2 seconds of training.
    void writeSnapshot(const DistanceSnapshot &snapshot);
    // Records what the run is doing now (status.json).
    void writeStatus(RunState state, int64_t step, const std::string &message = {});

    // The test-set embedding [rows, cols] of the evaluation at `step`
    // (written atomically as .npy), and the split's labels (once).
    void writeEmbedding(int64_t step, const std::vector<float> &values, int64_t rows, int64_t cols);
    void writeTestLabels(const std::vector<int64_t> &labels);
    // Deletes the embeddings (and their projections) that the policy no
    // longer keeps among every evaluation so far (eval.jsonl and the
    // embedding files), and adds their steps to embeddings/retention.json.
    // Returns the steps it dropped now.
    std::vector<int64_t> applyEmbeddingRetention(int keepLast, int keepEvery);

    static std::vector<TrainingStep> readSteps(const std::string &metricsPath);
    static std::vector<EvalReport> readEvals(const std::string &evalPath);
    // Returns an empty snapshot (size 0) if the file is missing or unreadable.
    static DistanceSnapshot readSnapshot(const std::string &snapshotPath);
    // The state of the run in `dir`, from its status.json and its lock.
    // Runs written before status.json existed read as finished when they
    // have a summary, else as stopped when they have a checkpoint.
    static RunStatus readStatus(const std::string &dir);

private:
    void append(const std::string &file, std::ofstream &stream, const std::string &line);

    RunFiles m_files{{}};
    ExperimentConfig m_config;
    std::ofstream m_metrics;
    std::ofstream m_eval;
    int m_unflushed = 0;
};

// The evaluation steps whose embeddings the retention policy keeps, of
// `steps` (every evaluation so far, ascending): the first, the last
// `keepLast`, and every `keepEvery`-th (the keepEvery-th, the 2 keepEvery-th,
// ...; 0: none of those). keepLast 0 keeps them all.
std::vector<int64_t> retainedEmbeddingSteps(const std::vector<int64_t> &steps, int keepLast, int keepEvery);

std::string metricsToJsonLine(const EvalReport &report);
// The metrics alone as one compact JSON object, with eval.jsonl's names.
std::string metricsToJson(const Metrics &metrics);
std::string metricsTable(const std::vector<std::pair<std::string, Metrics>> &rows);

} // namespace liftlab
