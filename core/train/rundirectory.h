#pragma once

#include "train/config.h"
#include "train/events.h"

#include <fstream>
#include <string>
#include <vector>

namespace liftlab {

// A run directory is the contract between core, CLI and GUI:
//   config.json     the experiment (written once, atomically)
//   metrics.jsonl   one JSON object per training step
//   eval.jsonl      one JSON object per evaluation
//   summary.json    images/s and wall time of the finished run
//   snapshot.json   the last batch's distance matrix, for the heatmap
//   checkpoints/last.pt
//   embeddings/labels.npy, embeddings/step-<n>.npy   test-split labels and embedding at each evaluation
//   projections/<method>-<n>.npy                      2-D projections of those (explorer, CLI)
// Readers skip a torn last line, so a run can be read while it is written.
class RunDirectory
{
public:
    // Creates the folder (refusing a non-empty one) and writes config.json.
    static RunDirectory create(const std::string &path, const ExperimentConfig &config);
    // Opens an existing run; throws liftlab::Error if config.json is missing or bad.
    static RunDirectory open(const std::string &path);

    const std::string &path() const { return m_path; }
    const ExperimentConfig &config() const { return m_config; }
    std::string checkpointPath() const;
    std::string metricsPath() const;
    std::string evalPath() const;
    std::string summaryPath() const;

    void appendStep(const TrainingStep &step);
    void appendEval(const EvalReport &report);
    void flush();
    // Drops records after `step` (used when resuming from a checkpoint).
    void truncateAfter(int64_t step);
    // dataWaitSeconds: of trainSeconds, the steps' waits for their batches;
    // batchSeconds: the time spent making the batches (on a worker thread,
    // while the steps train).
    void writeSummary(double imagesPerSec, double trainSeconds, int64_t steps, double dataWaitSeconds,
                      double batchSeconds);
    // The latest batch distance matrix (snapshot.json), kept with each checkpoint.
    void writeSnapshot(const DistanceSnapshot &snapshot);
    std::string snapshotPath() const;

    // The test-split embedding [rows, cols] of the evaluation at `step`
    // (written atomically as .npy), and the split's labels (once).
    void writeEmbedding(int64_t step, const std::vector<float> &values, int64_t rows, int64_t cols);
    void writeTestLabels(const std::vector<int64_t> &labels);
    std::string embeddingPath(int64_t step) const;
    std::string testLabelsPath() const;
    std::string projectionPath(const std::string &method, int64_t step) const;
    // Steps that have an embedding file, ascending.
    std::vector<int64_t> embeddingSteps() const;

    static std::vector<TrainingStep> readSteps(const std::string &metricsPath);
    static std::vector<EvalReport> readEvals(const std::string &evalPath);
    // Returns an empty snapshot (size 0) if the file is missing or unreadable.
    static DistanceSnapshot readSnapshot(const std::string &snapshotPath);

private:
    void append(const std::string &file, std::ofstream &stream, const std::string &line);

    std::string m_path;
    ExperimentConfig m_config;
    std::ofstream m_metrics;
    std::ofstream m_eval;
    int m_unflushed = 0;
};

std::string metricsToJsonLine(const EvalReport &report);
std::string metricsTable(const std::vector<std::pair<std::string, Metrics>> &rows);

} // namespace liftlab
