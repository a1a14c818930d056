#pragma once

// Tuning every loss of a comparison with the same budget, on validation
// classes held out from the training classes, before the tuned losses are
// compared on the test classes (the protocol of Musgrave, Belongie and Lim,
// "A Metric Learning Reality Check", ECCV 2020). Torch-free.

#include "train/comparison.h"
#include "train/trainer.h"

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace liftlab {

// One tuned value of a loss: "lr", or a parameter the registry marks
// tunable (ParamSpec::tuneLow/tuneHigh).
struct TuningDimension
{
    std::string name;
    double low = 0, high = 0;
    bool logScale = false; // drawn log-uniformly: the range spans a decade or more
};

// The learning rate, from a tenth of the base experiment's to five times
// it, and every tunable parameter of the loss that its choice does not fix
// ("triplet:margin=0.2" keeps its margin).
std::vector<TuningDimension> tuningSpace(const ExperimentConfig &base, const LossChoice &loss);

// A trial's values, by dimension name, rounded to 4 significant digits (the
// values it trains with are the ones shown).
using TrialSetting = std::map<std::string, double>;
std::vector<TrialSetting> drawTrials(const std::vector<TuningDimension> &space, int count, uint64_t seed);
// `loss` with a setting applied: its parameters in params, the learning
// rate as an experiment override. The label stays the loss's.
LossChoice applySetting(const LossChoice &loss, const TrialSetting &setting);
// "lr 0.0031, margin 0.42"
std::string settingText(const TrialSetting &setting);

// Successive halving (Jamieson and Talwalkar 2016; the synchronous form of
// ASHA and Hyperband's inner loop): every trial trains for the first
// budget, the best 1/eta (rounded up) continue to the next, eta times as
// long, and so on until the last rung; its best trial is the choice.
// The step budgets of the rungs: ceil(log_eta(trials)) of them (at least
// one), growing by eta and ending at `maxSteps` rounded down to a multiple
// of the first.
std::vector<int64_t> halvingBudgets(int trials, int64_t maxSteps, int eta);

struct HalvingRung
{
    int64_t budget = 0;
    std::vector<int> trials; // in the order of their scores, best first
    std::vector<double> scores;
};
struct HalvingOutcome
{
    int best = -1; // -1: cancelled
    std::vector<HalvingRung> rungs;
};
// `score(trial, budget)` trains a trial to `budget` steps (continuing it)
// and returns its validation score, higher is better, or nullopt when it
// was cancelled (the outcome is then cancelled too). NaN (a diverged
// trial) ranks last; equal scores go to the lower trial index.
HalvingOutcome successiveHalving(int trials, const std::vector<int64_t> &budgets, int eta,
                                 const std::function<std::optional<double>(int trial, int64_t budget)> &score);

struct TuningPlan
{
    int trials = 16;                 // per loss
    int eta = 2;                     // successive halving's reduction factor
    double validationFraction = 0.2; // of the training classes
    int64_t steps = 0;               // the last rung's budget (0: the base experiment's iterations)
};

// A tuning on disk: tuning.json (the base experiment, the plan, the number
// of test seeds, and for each loss its space and its drawn trials), a run
// directory per trial in trials/<NN-loss>/trial-<TT>, tuned.json once each
// loss has its choice, and the comparison of the tuned losses in test/.
// Every trial trains with the base seed on the same validation split
// (seeded by the base seed too); the test images are never used.
class Tuning
{
public:
    // Validates, draws every trial, creates the folder (refusing a
    // non-empty one) and writes tuning.json.
    static Tuning create(const std::string &folder, const ExperimentConfig &base, const std::vector<LossChoice> &losses,
                         const TuningPlan &plan, int seeds);
    // Throws liftlab::Error if tuning.json is missing or bad.
    static Tuning open(const std::string &folder);
    static bool isTuning(const std::string &folder);

    const std::string &folder() const { return m_folder; }
    const ExperimentConfig &base() const { return m_base; }
    const std::vector<LossChoice> &losses() const { return m_losses; }
    const TuningPlan &plan() const { return m_plan; }
    int seeds() const { return m_seeds; }
    const std::vector<TuningDimension> &space(size_t loss) const { return m_spaces.at(loss); }
    const std::vector<TrialSetting> &trials(size_t loss) const { return m_trials.at(loss); }
    std::vector<int64_t> budgets() const;

    // A trial's experiment: the base with the trial's setting, on the
    // validation split, trained for the last budget's steps with an
    // evaluation and a checkpoint at every multiple of the first budget.
    ExperimentConfig trialConfig(size_t loss, int trial) const;
    std::string trialPath(size_t loss, int trial) const;
    std::string tunedPath() const; // tuned.json
    std::string testFolder() const;

private:
    std::string m_folder;
    ExperimentConfig m_base;
    std::vector<LossChoice> m_losses;
    TuningPlan m_plan;
    int m_seeds = 1;
    std::vector<std::vector<TuningDimension>> m_spaces;
    std::vector<std::vector<TrialSetting>> m_trials;
};

// What a trial has reached: its last validation evaluation.
struct TrialResult
{
    size_t loss = 0;
    int trial = 0;
    int64_t step = 0;
    Metrics metrics;
};
// Every trial with an evaluation, loss by loss.
std::vector<TrialResult> tuningResults(const Tuning &tuning);

// The tuned choice of each loss that has one (tuned.json), by loss index.
std::map<size_t, int> tunedTrials(const Tuning &tuning);

// Runs a tuning: for each loss, successive halving over its trials (a
// trial's score is its validation Recall@1 at the rung's step; trials and
// rungs already done are read back, a trial cut short goes on from its
// checkpoint), then the comparison of the tuned losses in testFolder(),
// created once. Returns that comparison, to be trained with ComparisonRun,
// or nullopt when `cancel` stopped it.
class TuningRun
{
public:
    struct Callbacks
    {
        std::function<void(const TrialResult &)> trialScored;
        std::function<void(size_t loss, int trial)> lossTuned;
        std::function<void(const std::string &)> log; // a trial that diverged (it ranks last)
        // A trial's training, for progress (may be empty).
        Trainer::Callbacks trainer;
    };
    static std::optional<Comparison> run(const Tuning &tuning, const Callbacks &callbacks,
                                         const std::atomic<bool> &cancel, const LoadMonitor &monitor = {});
};

} // namespace liftlab
