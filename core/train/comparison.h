#pragma once

#include "eval/metrics.h"
#include "train/config.h"

#include <map>
#include <string>
#include <vector>

namespace liftlab {

// One loss of a comparison: a registry name, its parameters, and the label
// it is shown under ("triplet:miner=semi-hard").
struct LossChoice
{
    std::string name;
    std::map<std::string, std::string> params;
    std::string label;
};

// The label of a loss with these parameters, in the form parseLossList
// reads: "triplet:margin=0.2:miner=semi-hard".
std::string lossLabel(const std::string &name, const std::map<std::string, std::string> &params);

// "lifted,contrastive,triplet:miner=semi-hard:margin=0.2": losses separated
// by commas, each loss's parameters by colons. Names and parameters are
// checked as validateLosses() does; throws liftlab::Error naming the bad one.
std::vector<LossChoice> parseLossList(const std::string &text);

// Throws liftlab::Error when the losses cannot be compared on `base`: fewer
// than two, a loss listed twice, an unknown name or parameter, or an
// experiment that one of them rejects (n-pair takes K = 2), named by label.
void validateComparison(const ExperimentConfig &base, const std::vector<LossChoice> &losses);

// A comparison of losses: one experiment (data, split, model, seed, so the
// same initialisation and the same sequence of batches) trained once per
// loss. On disk, a folder with comparison.json (the base experiment and the
// losses) and one run directory per loss, 01-<label>, 02-<label>, ...
class Comparison
{
public:
    // The results table, written once every run has finished.
    enum class Results { Csv, Markdown };
    static const char *resultsFileName(Results format); // results.csv, results.md

    // Validates (validateComparison), creates the folder (refusing a
    // non-empty one) and writes the manifest.
    static Comparison create(const std::string &folder, const ExperimentConfig &base,
                             const std::vector<LossChoice> &losses);
    // Throws liftlab::Error if the manifest is missing or bad.
    static Comparison open(const std::string &folder);

    const std::string &folder() const { return m_folder; }
    const ExperimentConfig &base() const { return m_base; }
    const std::vector<LossChoice> &losses() const { return m_losses; }
    // The experiment and run directory of loss i.
    ExperimentConfig config(size_t i) const;
    std::string runPath(size_t i) const;
    std::string resultsPath(Results format) const;

private:
    std::string m_folder;
    ExperimentConfig m_base;
    std::vector<LossChoice> m_losses;
};

// What each run of a comparison reached: its last evaluation and, once it
// has finished, its speed.
struct ComparisonRow
{
    std::string label;
    int64_t step = 0; // of the last evaluation (0: none yet)
    Metrics metrics;
    double imagesPerSec = 0, trainSeconds = 0; // from summary.json (0 while unfinished)
};
std::vector<ComparisonRow> comparisonResults(const Comparison &comparison);

// The results as an aligned text table, CSV, or a Markdown table.
std::string comparisonTable(const std::vector<ComparisonRow> &rows);
std::string comparisonCsv(const std::vector<ComparisonRow> &rows);
std::string comparisonMarkdown(const std::vector<ComparisonRow> &rows);

} // namespace liftlab
