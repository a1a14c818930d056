#pragma once

#include "data/loadmonitor.h"
#include "train/config.h"
#include "train/events.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace liftlab {

struct ExperimentData;
class ProcessGroup;

// Trains an embedding network on one experiment and keeps its run directory.
// The header is free of torch so that the GUI can hold a Trainer; everything
// reported leaves as value types (events.h).
class Trainer
{
public:
    struct Callbacks
    {
        std::function<void(const TrainingStep &)> onStep;
        std::function<void(const EvalReport &)> onEval;
        std::function<void(const DistanceSnapshot &)> onSnapshot; // twice a second at most
        // > 0: onSnapshot every that many steps instead of by time, so that
        // interleaved runs show the same batches.
        int64_t snapshotEvery = 0;
        std::function<void(const std::string &)> onLog;
    };

    // Finished: all configured steps done. Cancelled: `cancel` was set (a
    // checkpoint was saved). Reached: stopped at `untilStep`, to be continued
    // by another run() call (nothing saved; a comparison interleaves its
    // runs this way).
    enum class Outcome { Finished, Cancelled, Reached };

    // Loads the data and builds everything; creates `runDir` only once all of
    // that has succeeded, so a bad experiment leaves nothing behind.
    // Throws liftlab::Error with a clear message.
    // `monitor` watches the dataset load (image datasets take a while).
    // `data`: the dataset another trainer of the same dataset, split, image
    // size, box crop and augmentation loaded (data()), used instead of
    // loading it again: the runs of a comparison share one copy of the images.
    // `group`: the process group of a distributed run (core/dist), whose
    // every rank calls start() (or resume()) with the same arguments and
    // then run(); config.worldSize is its size. Each rank embeds its slice
    // of every global batch, the loss sees all of it, and rank 0 alone
    // writes the run directory. A failure on any rank ends every rank.
    static std::unique_ptr<Trainer> start(const ExperimentConfig &config, const std::string &runDir,
                                          const LoadMonitor &monitor = {},
                                          const std::shared_ptr<const ExperimentData> &data = nullptr,
                                          const std::shared_ptr<ProcessGroup> &group = nullptr);
    // Continues a run from its last checkpoint, exactly as if it had not
    // stopped. A distributed run resumes with the world size it was
    // started with (its global batch depends on it); rank 0 reads the run
    // and hands its config and checkpoint to the others. `device` and
    // `kernels`, where given, replace the run's own (config.h): where a run
    // computes is chosen at each launch. `data` as for start().
    static std::unique_ptr<Trainer> resume(const std::string &runDir, const LoadMonitor &monitor = {},
                                           const std::shared_ptr<ProcessGroup> &group = nullptr,
                                           const std::string &device = {}, const std::string &kernels = {},
                                           const std::shared_ptr<const ExperimentData> &data = nullptr);

    ~Trainer();

    // Trains until the configured iterations are done, `cancel` is set
    // (checked between batches) or `untilStep` steps are finished (-1: no
    // such limit). Saves a checkpoint every checkpointEvery steps and at the
    // end (also when cancelled). A NaN/Inf loss stops training with
    // liftlab::Error; the last good checkpoint is kept.
    Outcome run(const Callbacks &callbacks, const std::atomic<bool> &cancel, int64_t untilStep = -1);

    const ExperimentConfig &config() const;
    const std::string &runPath() const;
    int64_t step() const;

    // A training image as 8-bit pixels (row-major, channels interleaved), for
    // showing the images behind a DistanceSnapshot. Safe from any thread:
    // the dataset is read-only once loaded.
    struct Image
    {
        int width = 0, height = 0, channels = 0;
        std::vector<uint8_t> pixels;
    };
    Image trainImage(int64_t index) const;
    std::vector<std::string> classNames() const;
    // The loaded dataset, shared (see start()).
    std::shared_ptr<const ExperimentData> data() const;
    // The images of an image dataset that could not be used, all listed in
    // skippedImagesPath() (the run's skipped_images.txt) when there are any.
    const std::vector<SkippedImage> &skippedImages() const;
    std::string skippedImagesPath() const;

    // Evaluates the current model on the test set. In a distributed run
    // every rank calls it: each embeds its share of the test set, and rank
    // 0 computes the metrics (the others' report holds only the step).
    EvalReport evaluate();
    // The two baselines a trained embedding must beat, on the same test
    // split: the normalised raw pixels, and the network as initialised (same
    // seed, no training).
    Metrics evaluateRawPixels();
    Metrics evaluateUntrained();

private:
    struct Private;
    explicit Trainer(std::unique_ptr<Private> d);
    Outcome train(const Callbacks &callbacks, const std::atomic<bool> &cancel, int64_t untilStep);
    void reportSkipped(const Callbacks &callbacks);
    std::unique_ptr<Private> d;
};

} // namespace liftlab
