#pragma once

#include "eval/metrics.h"
#include "train/config.h"

#include <map>
#include <string>
#include <vector>

class QJsonObject;

namespace liftlab {

// One loss of a comparison: a registry name, its parameters, and the label
// it is shown under ("triplet:miner=semi-hard"). `experiment` overrides
// numeric fields of the comparison's base experiment for this loss, by
// their config.json names: a tuned learning rate {"lr": 0.003}, or the
// value a sweep varies {"embedding_dim": 256}.
struct LossChoice
{
    std::string name;
    std::map<std::string, std::string> params;
    std::string label;
    std::map<std::string, double> experiment;
};

// A loss in a manifest (comparison.json, tuning.json): {label, loss,
// params, experiment}. Reading throws liftlab::Error naming `source` when
// the loss or label is missing.
QJsonObject lossToJson(const LossChoice &loss);
LossChoice lossFromJson(const QJsonObject &json, const std::string &source);

// Makes the folder of a new comparison or tuning (`what`), refusing a
// non-empty one; throws liftlab::Error.
void createEmptyFolder(const std::string &folder, const std::string &what);

// `base` with `overrides` applied (LossChoice::experiment): lr,
// weight_decay, embedding_dim, classes_per_batch, per_class, pairs and
// random_images, which leave the data alone. Throws liftlab::Error for
// another field or a value the experiment rejects.
ExperimentConfig withOverrides(const ExperimentConfig &base, const std::map<std::string, double> &overrides);

// The label of a loss with these parameters, in the form parseLossList
// reads: "triplet:margin=0.2:miner=semi-hard".
std::string lossLabel(const std::string &name, const std::map<std::string, std::string> &params);

// The folder of the index-th run labelled `label`: "01-triplet-miner-semi-hard"
// (letters, digits, '.', '_' and '-' only).
std::string runFolderName(size_t index, const std::string &label);

// "lifted,contrastive,triplet:miner=semi-hard:margin=0.2": losses separated
// by commas, each loss's parameters by colons. Names and parameters are
// checked as validateLosses() does; throws liftlab::Error naming the bad one.
std::vector<LossChoice> parseLossList(const std::string &text);

// A sweep: one experiment field (a config.json name that
// withOverrides() takes) set to each of several values, for every loss.
struct Sweep
{
    std::string field;
    std::vector<double> values;
};
// "embedding-dim=64,128,256,512": the field by its command-line name
// (lr, weight-decay, embedding-dim, classes-per-batch or -P, per-class or
// -K) and its values. Throws liftlab::Error naming what is wrong.
Sweep parseSweep(const std::string &text);
// The command-line name of a sweep field ("embedding-dim").
std::string sweepOptionName(const std::string &field);
// The ready experiments the paper asks about: "embedding-size" (Recall@K
// against embedding sizes 64 to 512, the paper's figure; lifted) and
// "batch-size" (8 to 64 classes per batch; lifted, triplet and
// contrastive). Returns false for another name.
bool presetSweep(const std::string &name, Sweep &sweep, std::string &losses);
// Every loss with every value: "lifted @ embedding-dim 64", ...
std::vector<LossChoice> sweepChoices(const std::vector<LossChoice> &losses, const Sweep &sweep);

// Throws liftlab::Error when the losses cannot be compared on `base`: fewer
// than two, a loss listed twice, an unknown name or parameter, or an
// experiment that one of them rejects (n-pair takes K = 2), named by label.
void validateComparison(const ExperimentConfig &base, const std::vector<LossChoice> &losses);

// A comparison of losses: one experiment (data, split, model, seed, so the
// same initialisation and the same sequence of batches) trained once per
// loss and seed. With N seeds every loss is trained from the seeds base.seed,
// base.seed + 1, ..., base.seed + N - 1: each seed gives other initial
// weights and another batch order, and all losses share them. Runs are
// ordered seed by seed (all losses with the first seed, then the next), so
// runs 0 .. losses - 1 are those of the first seed. On disk, a folder with
// comparison.json (the base experiment, the losses and the number of seeds)
// and one run directory per run: 01-<label>, 02-<label>, ... with one seed,
// 01-<label>-seed<S> with several.
class Comparison
{
public:
    // The results table, written once every run has finished.
    enum class Results { Csv, Markdown };
    static const char *resultsFileName(Results format); // results.csv, results.md

    // Validates (validateComparison), creates the folder (refusing a
    // non-empty one) and writes the manifest.
    // `sweep`: the field the losses' overrides sweep (sweepChoices), so
    // that results can be plotted against it.
    static Comparison create(const std::string &folder, const ExperimentConfig &base,
                             const std::vector<LossChoice> &losses, int seeds = 1, const std::string &sweep = {});
    // Throws liftlab::Error if the manifest is missing or bad.
    static Comparison open(const std::string &folder);
    static bool exists(const std::string &folder); // it has a manifest

    const std::string &folder() const { return m_folder; }
    const ExperimentConfig &base() const { return m_base; }
    const std::vector<LossChoice> &losses() const { return m_losses; }
    int seeds() const { return m_seeds; }
    // The swept field (empty: not a sweep); a loss's value of it, and the
    // loss it belongs to without the value ("lifted").
    const std::string &sweep() const { return m_sweep; }
    double sweepValue(size_t loss) const;
    std::string sweepSeries(size_t loss) const;
    size_t runCount() const { return m_losses.size() * size_t(m_seeds); }
    // Run r trains loss r % losses with seed index r / losses.
    size_t lossIndex(size_t run) const { return run % m_losses.size(); }
    int seedIndex(size_t run) const { return int(run / m_losses.size()); }
    // The experiment, run directory and label ("lifted", or "lifted, seed 3"
    // with several seeds) of run r.
    ExperimentConfig config(size_t run) const;
    std::string runPath(size_t run) const;
    std::string runLabel(size_t run) const;
    std::string resultsPath(Results format) const;

private:
    std::string m_folder;
    ExperimentConfig m_base;
    std::vector<LossChoice> m_losses;
    int m_seeds = 1;
    std::string m_sweep;
};

// What each run of a comparison reached: its last evaluation and, once it
// has finished, its speed.
struct ComparisonRow
{
    std::string label; // runLabel
    std::string loss;  // the loss's label
    uint64_t seed = 0;
    int64_t step = 0; // of the last evaluation (0: none yet)
    Metrics metrics;
    double imagesPerSec = 0, trainSeconds = 0; // from summary.json (0 while unfinished)
};
std::vector<ComparisonRow> comparisonResults(const Comparison &comparison);

// The results as an aligned text table, CSV, or a Markdown table.
std::string comparisonTable(const std::vector<ComparisonRow> &rows);
std::string comparisonCsv(const std::vector<ComparisonRow> &rows);
std::string comparisonMarkdown(const std::vector<ComparisonRow> &rows);

// A sample's mean and the half-width of its two-sided 95% confidence
// interval for the mean, mean +- t(0.975, n - 1) s / sqrt(n) with s the
// sample standard deviation (Student's t; NaN half-width for n < 2).
struct Interval
{
    double mean = 0, halfWidth = 0;
    double low() const { return mean - halfWidth; }
    double high() const { return mean + halfWidth; }
};
Interval confidenceInterval(const std::vector<double> &sample);
// The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1).
double studentT975(int df);

// One loss over its seeds: every metric as mean and 95% interval over the
// runs that have been evaluated. `tied`: its Recall@1 interval overlaps the
// best loss's (the one with the highest mean), so the data cannot rank the
// two; `best` marks that loss.
struct ComparisonSummary
{
    std::string loss;
    int runs = 0; // evaluated runs (seeds)
    Interval recallAt1, recallAt2, recallAt4, recallAt8, mapAtR, rPrecision, nmi, f1;
    double imagesPerSec = 0; // mean over the finished runs
    bool best = false, tied = false;
};
// In the order of the mean Recall@1, best first.
std::vector<ComparisonSummary> summarizeSeeds(const Comparison &comparison, const std::vector<ComparisonRow> &rows);
// As a text table (mean +- half-width, and a column that marks the best
// loss and the ones tied with it) or a Markdown table.
std::string summaryTable(const std::vector<ComparisonSummary> &summary);
std::string summaryMarkdown(const std::vector<ComparisonSummary> &summary);

} // namespace liftlab
