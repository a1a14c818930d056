#pragma once

#include "data/loadmonitor.h"
#include "train/comparison.h"
#include "train/trainer.h"

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace liftlab {

// Trains the runs of a comparison: the one loop that the CLI and the window
// both drive. Every run is advanced up to `stepsPerTurn` steps in turn
// (Trainer::run up to a step), which gives exactly the results of the runs
// trained one after the other: the CLI takes a whole run per turn, the
// window a few steps, so that all runs move together and its heatmaps show
// the same batches. Torch-free, like Trainer.
class ComparisonRun
{
public:
    // What a front end hears besides each run's Trainer::Callbacks.
    struct Turns
    {
        std::function<void(size_t run)> before; // a turn of `run` begins
        std::function<void(size_t run)> after;  // it ended (reached its step, finished, cancelled or failed)
        // A run failed (its loss diverged); the others go on.
        std::function<void(size_t run, const std::string &message)> failed;
    };
    enum class Outcome { Finished, Cancelled };

    // Loads the dataset once and starts a trainer per run (all share its
    // images); a run whose directory exists (an interrupted comparison,
    // opened again) is resumed from its last checkpoint. A failure before
    // any run has started (a missing dataset, P x K too large) removes a new
    // comparison's folder again, since nothing was trained, and throws
    // liftlab::Error. Returns null when `monitor.cancel` stopped the loading.
    static std::unique_ptr<ComparisonRun> start(const Comparison &comparison, const LoadMonitor &monitor = {});
    ~ComparisonRun();

    const Comparison &comparison() const { return m_comparison; }
    size_t size() const { return m_trainers.size(); }
    const Trainer &trainer(size_t i) const { return *m_trainers.at(i); }

    // Trains every run to its end, in turns of `stepsPerTurn` steps (0: a
    // whole run per turn). When `cancel` is set, the run in its turn stops
    // after its batch and the runs waiting for their turn save a checkpoint
    // too. Once every run has ended, results.csv and results.md are written.
    // `callbacks[i]` are run i's.
    Outcome run(const std::vector<Trainer::Callbacks> &callbacks, const Turns &turns, const std::atomic<bool> &cancel,
                int64_t stepsPerTurn);

private:
    ComparisonRun(Comparison comparison, std::vector<std::unique_ptr<Trainer>> trainers);

    Comparison m_comparison;
    std::vector<std::unique_ptr<Trainer>> m_trainers;
};

} // namespace liftlab
