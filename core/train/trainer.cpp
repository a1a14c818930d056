#include "train/trainer.h"

#include "data/augment.h"
#include "data/sampler.h"
#include "dist/processgroup.h"
#include "error.h"
#include "eval/evaluate.h"
#include "losses/loss.h"
#include "nn/batchnorm.h"
#include "nn/models.h"
#include "train/checkpoint.h"
#include "train/prefetcher.h"
#include "train/rundirectory.h"
#include "train/runlock.h"
#include "util/atomicfile.h"
#include "util/parallel.h"
#include "util/zipcheck.h"

#include <torch/optim.h>

#include <QJsonDocument>
#include <QJsonObject>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

namespace liftlab {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// One parameter group for the network and, when the loss learns something
// (proxies, a margin), a second one for the loss at its own rate.
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const ExperimentConfig &c, torch::nn::Module &model, Loss &loss)
{
    std::vector<torch::optim::OptimizerParamGroup> groups;
    auto addGroup = [&](std::vector<torch::Tensor> params, double scale) {
        if (params.empty())
            return;
        const double lr = c.learningRate * scale;
        std::unique_ptr<torch::optim::OptimizerOptions> options;
        if (c.optimizer == "adam")
            options = std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(lr).weight_decay(c.weightDecay));
        else if (c.optimizer == "adamw")
            options = std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr).weight_decay(c.weightDecay));
        else
            options = std::make_unique<torch::optim::SGDOptions>(
                torch::optim::SGDOptions(lr).momentum(0.9).weight_decay(c.weightDecay));
        groups.emplace_back(std::move(params), std::move(options));
    };
    addGroup(model.parameters(), 1.0);
    addGroup(loss.parameters(), loss.learningRateScale());
    if (c.optimizer == "adam")
        return std::make_unique<torch::optim::Adam>(groups, torch::optim::AdamOptions(c.learningRate));
    if (c.optimizer == "adamw")
        return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(c.learningRate));
    return std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(c.learningRate));
}

std::vector<int64_t> toVector(const torch::Tensor &t)
{
    const torch::Tensor c = t.to(torch::kCPU, torch::kInt64).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

std::vector<float> toFloats(const torch::Tensor &t)
{
    const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// How long the ranks of a distributed run wait for each other where one of
// them works alone for a while: loading the dataset, the baselines, rank
// 0's metrics. Within steps the process group's own timeout applies.
constexpr std::chrono::hours kPatience{1};

// Every rank of a distributed run gets past `what` ("preparing the
// experiment") or none does: a rank whose `part` failed throws its own
// error, the others one that points to it.
void agree(ProcessGroup *group, const std::function<void()> &part, const std::string &what)
{
    std::exception_ptr error;
    try {
        part();
    } catch (const std::exception &) {
        if (!group)
            throw;
        error = std::current_exception();
    }
    if (group && group->waitForAll(bool(error), kPatience, what)) {
        if (error)
            std::rethrow_exception(error);
        throw Error("distributed run: another rank failed while " + what + " (its message says why)");
    }
}

std::string worldSizeProblem(const ExperimentConfig &c, int ranks)
{
    const std::string trained = std::to_string(c.worldSize) + (c.worldSize == 1 ? " process" : " processes");
    return "this run trains with " + trained + " (a global batch of " + std::to_string(c.batchSize())
           + " images) and this launch has " + std::to_string(ranks) + ": resume it with " + std::to_string(c.worldSize)
           + (c.worldSize == 1 ? " (without a launcher)" : " (liftlab-cli train --resume RUN --nproc "
                                                            + std::to_string(c.worldSize)
                                                            + ", or a launcher with that world size)")
           + "; with another number its batches, and so its training, would change";
}

} // namespace

struct Trainer::Private
{
    ExperimentConfig config;
    std::shared_ptr<ProcessGroup> group; // a distributed run's; null in one process
    torch::Device device = torch::kCPU;  // of the network, the loss and the batches in training
    ExperimentData data;
    EmbeddingNet model;
    std::unique_ptr<Loss> loss;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    std::unique_ptr<Sampler> sampler;
    RunDirectory run;
    std::unique_ptr<RunLock> lock; // held while this trainer may write into `run`
    int64_t step = 0; // finished steps
    // Across run() calls of this process, for summary.json and the snapshot rate.
    double trainSeconds = 0;
    int64_t trainedImages = 0;
    double communicationSeconds = 0; // of trainSeconds, in collectives
    Clock::time_point lastSnapshot;
    Clock::time_point lastSnapshotFile;
    static constexpr double kSnapshotFileSeconds = 2;
    bool announced = false;
    bool statusTraining = false; // status.json says "training"
    // Made on first use; last, so that it stops before what it reads goes.
    std::unique_ptr<Prefetcher> prefetcher;

    // Everything that can fail because of the experiment happens here,
    // before the run directory is touched.
    Private(const ExperimentConfig &c, const LoadMonitor &monitor, const ExperimentData *loaded,
            std::shared_ptr<ProcessGroup> g)
        : config(c)
        , group(std::move(g))
    {
        config.validate();
        if (const int ranks = group ? group->size() : 1; config.worldSize != ranks)
            throw Error(worldSizeProblem(config, ranks));
        const LossInfo &info = findLoss(config.loss);
        const LossParams params = resolveParams(info, config.lossParams);
        prepareCompute(config.threads);
        setKernels(config.kernels == "generic" ? Kernels::Generic : Kernels::Fast);
        device = computeDevice(config.device, group ? group->localRank() : 0);
        data = loaded ? *loaded : loadExperimentData(config, monitor); // a copy shares the images
        const std::vector<int64_t> labels = toVector(data.train.labels);
        sampler = makeSampler(config, labels);
        model = createModelFor(config, data.train.images.channels());
        model->to(device);
        loss = info.create(params, lossContextFor(labels, config.embeddingDim, config.seed));
        loss->to(device);
        optimizer = makeOptimizer(config, *model, *loss);
        if (config.syncBatchNorm) {
            // In one process the sum over ranks is the identity: the same
            // statistics, computed by the same code as in a distributed run.
            ProcessGroup *g = group.get();
            synchronizeBatchNorm(*model, [g](const torch::Tensor &x) { return g ? g->allReduce(x) : x; });
        }
    }

    // Rank 0 alone writes the run directory.
    bool writes() const { return !group || group->rank() == 0; }

    // Rank 0's weights, batch-norm statistics and loss parameters on every rank.
    void broadcastWeights()
    {
        std::vector<torch::Tensor> tensors = model->parameters();
        for (const torch::Tensor &t : model->buffers())
            tensors.push_back(t);
        for (const torch::Tensor &t : loss->parameters())
            tensors.push_back(t);
        torch::NoGradGuard noGrad;
        group->broadcast(tensors);
    }

    // The sum over ranks of every gradient: each rank backpropagated its
    // share L / size() of the global loss, so the sums are dL/dw. A
    // parameter the step did not reach has no gradient on any rank (their
    // graphs are the same), and the optimiser leaves it alone, as in one process.
    void allReduceGradients()
    {
        std::vector<torch::Tensor> grads;
        for (const std::vector<torch::Tensor> &params : {model->parameters(), loss->parameters()})
            for (const torch::Tensor &p : params)
                if (p.grad().defined())
                    grads.push_back(p.grad());
        group->allReduceSum(grads);
    }

    // The embeddings of the whole global batch, in its order, on every rank.
    // Rank r embeds images r, r + W, r + 2W, ... of it (W ranks): every
    // rank sees every class of a P x K batch, so that per-rank batch-norm
    // statistics stay close to the global batch's. The gathered rows come
    // rank by rank and are put back in batch order (differentiably: each
    // row's gradient goes back to the rank that embedded it).
    torch::Tensor globalBatch(const torch::Tensor &local)
    {
        const torch::Tensor gathered = group->allGather(local);
        const int64_t ranks = group->size(), rows = local.size(0);
        const torch::Tensor position = torch::arange(gathered.size(0), gathered.options().dtype(torch::kInt64));
        return gathered.index_select(0, position.remainder(ranks) * rows + position.div(ranks, "floor"));
    }

    // Whether to stop now; in a distributed run every rank gets the same answer.
    bool stopRequested(const std::atomic<bool> &cancel) const
    {
        return group ? group->any(cancel.load()) : cancel.load();
    }

    void log(const Callbacks &cb, const std::string &text) const
    {
        if (cb.onLog)
            cb.onLog(text);
    }

    // In a distributed run rank 0 writes it while the others wait (on the
    // store: it may take longer than the group's timeout).
    void saveCheckpoint()
    {
        agree(group.get(), [this] {
            if (!writes())
                return;
            CheckpointInfo info;
            info.step = step;
            info.configJson = QJsonDocument(toJson(config)).toJson(QJsonDocument::Compact).toStdString();
            liftlab::saveCheckpoint(run.files().checkpoint(), *model, loss.get(), optimizer.get(), info);
        }, "saving the checkpoint of step " + std::to_string(step));
    }

    // What every rank of a distributed run must agree on: the experiment
    // and the training labels of its copy of the dataset.
    std::string fingerprint() const
    {
        const torch::Tensor labels = data.train.labels.to(torch::kInt64).contiguous();
        uint64_t hash = 1469598103934665603ull; // FNV-1a over the labels' bytes
        const auto *bytes = reinterpret_cast<const uint8_t *>(labels.data_ptr<int64_t>());
        for (int64_t i = 0; i < labels.numel() * int64_t(sizeof(int64_t)); ++i)
            hash = (hash ^ bytes[i]) * 1099511628211ull;
        return QJsonDocument(toJson(config)).toJson(QJsonDocument::Compact).toStdString() + " "
               + std::to_string(labels.numel()) + " " + std::to_string(hash);
    }

    // Evaluates the current step and records it; false when `cancel` stopped
    // the evaluation (nothing recorded).
    bool evaluateAndRecord(const Callbacks &cb, const std::atomic<bool> &cancel)
    {
        EvalReport report;
        try {
            report = evaluate(&cancel);
        } catch (const Cancelled &) {
            return false;
        }
        model->train();
        if (!writes())
            return true;
        run.appendEval(report);
        if (cb.onEval)
            cb.onEval(report);
        return true;
    }

    // In a distributed run every rank embeds its share of the test set
    // and rank 0 computes the metrics; it runs to its end (a stop comes at
    // the next step), so that no rank is left waiting for the others.
    EvalReport evaluate(const std::atomic<bool> *cancel = nullptr)
    {
        const Clock::time_point start = Clock::now();
        EvalReport report;
        report.step = step;
        torch::Tensor embedding;
        if (group) {
            cancel = nullptr;
            broadcastWeights(); // rank 0's batch-norm statistics, as in its checkpoint
            const int64_t n = data.test.size(), r = group->rank(), w = group->size();
            torch::Tensor share = embedRows(*model, data.test, data.normalization, n * r / w, n * (r + 1) / w);
            if (share.size(0) == 0)
                share = torch::empty({0, config.embeddingDim}, torch::TensorOptions(device));
            embedding = group->allGatherRows(share);
        } else {
            embedding = embedDataset(*model, data.test, data.normalization, 500, cancel);
        }
        agree(group.get(), [&] {
            if (!writes())
                return;
            report.metrics = evaluateEmbeddings(embedding, data.test.labels, config.seed, cancel);
            // For the explorer: the embedding behind these metrics.
            if (!std::filesystem::exists(run.files().testLabels()))
                run.writeTestLabels(toVector(data.test.labels));
            run.writeEmbedding(step, toFloats(embedding), embedding.size(0), embedding.size(1));
            run.applyEmbeddingRetention(config.keepLastEmbeddings, config.keepEveryEmbedding);
        }, "evaluating step " + std::to_string(step));
        report.seconds = secondsSince(start);
        return report;
    }

    void startPrefetcher()
    {
        if (prefetcher)
            return;
        const AugmentOptions augment{config.augment, augmentationFromString(config.augmentation), 2, true};
        // The batch of a step: a function of the step alone (stepGenerator).
        // In a distributed run: the global batch's indices and labels, and
        // this rank's share of its images (see globalBatch()).
        const int64_t ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
        auto make = [this, augment, ranks, rank](int64_t at) {
            Batch b;
            b.indices = sampler->batch(at);
            std::mt19937_64 rng = stepGenerator(config.seed, at, 2);
            b.images = makeBatch(data.train, b.indices, data.normalization, augment, &rng, rank, ranks,
                                 config.dataWorkers);
            b.labels = data.train.labels.index_select(0, torch::tensor(b.indices, torch::kInt64));
            return b;
        };
        prefetcher = std::make_unique<Prefetcher>(make, step, config.iterations);
    }

    struct StepResult
    {
        Batch batch;
        TrainingStep event;
        torch::Tensor embeddings; // of the batch, before the update
        torch::Tensor pairTerms;  // the loss's, when it has them
    };

    // One optimisation step on the step's batch; its time includes the wait
    // for that batch (summary.json's data_wait_seconds is a part of it). A
    // loss that is not finite stops training with Error, before the update.
    StepResult trainStep()
    {
        const Clock::time_point start = Clock::now();
        const double communicatedBefore = group ? group->communicationSeconds() : 0;
        StepResult r;
        r.batch = prefetcher->take(step);
        const Batch &batch = r.batch;
        const double lr = config.learningRateAt(step);
        auto &groups = optimizer->param_groups();
        for (size_t i = 0; i < groups.size(); ++i)
            groups[i].options().set_lr(i == 0 ? lr : lr * loss->learningRateScale());
        optimizer->zero_grad();
        loss->beginStep(step);
        const torch::Tensor local = model->forward(batch.images.to(device));
        const torch::Tensor embeddings = group ? globalBatch(local) : local;
        LossOutput out = loss->compute(embeddings, batch.labels.to(device));
        const double value = out.loss.item<double>(); // the same on every rank
        if (!std::isfinite(value)) {
            if (writes())
                run.flush();
            const std::string kept = std::filesystem::exists(run.files().checkpoint())
                ? "the last good checkpoint " + run.files().checkpoint() + " is kept"
                : "no checkpoint had been written yet";
            char rate[32];
            std::snprintf(rate, sizeof rate, "%g", lr);
            throw Diverged("step " + std::to_string(step + 1) + ": the loss is " + (std::isnan(value) ? "NaN" : "infinite")
                        + " (learning rate " + rate + " too high?); training stopped, " + kept);
        }
        if (group) {
            (out.loss / double(group->size())).backward();
            allReduceGradients();
        } else {
            out.loss.backward();
        }
        optimizer->step();
        ++step;

        const double seconds = secondsSince(start);
        trainSeconds += seconds;
        if (group)
            communicationSeconds += group->communicationSeconds() - communicatedBefore;
        trainedImages += int64_t(batch.indices.size());
        r.event.step = step;
        r.event.iterations = config.iterations;
        r.event.loss = value;
        r.event.learningRate = lr;
        r.event.imagesPerSec = double(batch.indices.size()) / std::max(seconds, 1e-9);
        r.event.activeFraction = out.activeFraction;
        r.event.elapsedSeconds = trainSeconds;
        r.embeddings = embeddings.detach();
        r.pairTerms = out.pairTerms;
        return r;
    }

    // The batch's distance matrix: to the callback when one is due, and into
    // the run directory with each checkpoint and every few seconds, for a
    // window following the run.
    void snapshot(const Callbacks &cb, const StepResult &r, bool checkpoint)
    {
        if (!writes())
            return;
        const Batch &batch = r.batch;
        const bool due = cb.snapshotEvery > 0 ? step % cb.snapshotEvery == 0 : secondsSince(lastSnapshot) > 0.5;
        const bool toCallback = cb.onSnapshot && (due || checkpoint);
        const bool toFile = checkpoint || secondsSince(lastSnapshotFile) >= kSnapshotFileSeconds;
        if (!toCallback && !toFile)
            return;
        DistanceSnapshot snapshot;
        snapshot.step = step;
        snapshot.size = int64_t(batch.indices.size());
        snapshot.distances = toFloats(pairwiseDistances(r.embeddings));
        if (r.pairTerms.defined())
            snapshot.pairTerms = toFloats(r.pairTerms);
        snapshot.labels = toVector(batch.labels);
        snapshot.indices = batch.indices;
        if (toCallback) {
            lastSnapshot = Clock::now();
            cb.onSnapshot(snapshot);
        }
        if (toFile) {
            lastSnapshotFile = Clock::now();
            run.writeSnapshot(snapshot);
        }
    }

    void writeSummary()
    {
        if (!writes())
            return;
        RunSummary summary;
        summary.steps = step;
        if (trainedImages > 0) {
            summary.imagesPerSec = double(trainedImages) / trainSeconds;
            summary.trainSeconds = trainSeconds;
            summary.dataWaitSeconds = prefetcher->waitedSeconds();
            summary.batchSeconds = prefetcher->makingSeconds();
            summary.communicationSeconds = communicationSeconds;
            run.writeSummary(summary);
        } else if (!std::filesystem::exists(run.files().summary())) {
            // Resumed only for its final evaluation: the summary from the steps' records.
            const std::vector<TrainingStep> steps = RunDirectory::readSteps(run.files().metrics());
            if (!steps.empty() && steps.back().elapsedSeconds > 0) {
                summary.trainSeconds = steps.back().elapsedSeconds;
                summary.imagesPerSec = double(int64_t(steps.size()) * sampler->batchSize()) / summary.trainSeconds;
                run.writeSummary(summary);
            }
        }
    }
};

Trainer::Trainer(std::unique_ptr<Private> p)
    : d(std::move(p))
{
    std::string report;
    for (const SkippedImage &s : d->data.skipped)
        report += s.path + "\t" + s.reason + "\n";
    if (!report.empty() && d->writes())
        writeFileAtomically(skippedImagesPath(), report);
}

Trainer::~Trainer() = default;

std::unique_ptr<Trainer> Trainer::start(const ExperimentConfig &config, const std::string &runDir,
                                        const LoadMonitor &monitor, const std::shared_ptr<const ExperimentData> &data,
                                        const std::shared_ptr<ProcessGroup> &group)
{
    std::unique_ptr<Private> p;
    agree(group.get(), [&] { p = std::make_unique<Private>(config, monitor, data.get(), group); },
          "preparing the experiment");
    if (group) {
        // Each rank got its own command line and dataset copy: they must agree.
        const std::string mine = p->fingerprint(), chief = group->broadcast(mine);
        agree(group.get(), [&] {
            if (mine != chief)
                throw Error("distributed run: rank " + std::to_string(group->rank())
                            + " has another experiment or another copy of the dataset than rank 0: every rank needs "
                              "the same options and the same training images");
        }, "comparing the experiments of the ranks");
    }
    agree(group.get(), [&] {
        if (!p->writes())
            return;
        p->run = RunDirectory::create(runDir, p->config);
        p->lock = std::make_unique<RunLock>(p->run.path());
    }, "creating the run directory");
    if (group)
        p->broadcastWeights();
    return std::unique_ptr<Trainer>(new Trainer(std::move(p)));
}

std::unique_ptr<Trainer> Trainer::resume(const std::string &runDir, const LoadMonitor &monitor,
                                         const std::shared_ptr<ProcessGroup> &group, const std::string &device,
                                         const std::string &kernels, const std::shared_ptr<const ExperimentData> &data)
{
    const bool writer = !group || group->rank() == 0;
    RunDirectory run;
    std::unique_ptr<RunLock> lock;
    // What a distributed run's other ranks get from rank 0: the config,
    // and the checkpoint's bytes (none before the first checkpoint).
    std::string configJson, checkpoint;
    agree(group.get(), [&] {
        if (!writer)
            return;
        run = RunDirectory::open(runDir);
        lock = std::make_unique<RunLock>(run.path()); // refused while another process trains it
        // What a killed writer left half-written (this run has no other writer now).
        for (const std::string &folder : {run.path(), run.files().checkpoints(), run.files().embeddings()})
            removeTemporaryFiles(folder);
        // Without a checkpoint because the process died before its first
        // was written (the records of that step are written just before
        // it), the run goes on from step 0: the initial weights are its
        // seed's. A run that recorded more steps than come before a first
        // checkpoint has lost its checkpoint: refused, its records are kept.
        const ExperimentConfig &c = run.config();
        const int64_t firstCheckpoint = c.checkpointEvery > 0 ? std::min(c.checkpointEvery, c.iterations) : c.iterations;
        if (std::filesystem::exists(run.files().checkpoint()))
            checkpoint = readZipArchive(run.files().checkpoint(), "checkpoint");
        else if (const int64_t recorded = int64_t(RunDirectory::readSteps(run.files().metrics()).size());
                 recorded > firstCheckpoint)
            throw fileError(run.files().checkpoint(), "checkpoint does not exist (the run recorded "
                                                      + std::to_string(recorded) + " steps): cannot resume");
        configJson = QJsonDocument(toJson(c)).toJson(QJsonDocument::Compact).toStdString();
    }, "opening the run");
    if (group) {
        configJson = group->broadcast(configJson);
        checkpoint = group->broadcast(checkpoint);
    }
    std::unique_ptr<Private> p;
    agree(group.get(), [&] {
        ExperimentConfig config =
            writer ? run.config()
                   : configFromJson(QJsonDocument::fromJson(QByteArray::fromStdString(configJson)).object(),
                                    runDir + " (from rank 0)");
        config.device = device.empty() ? config.device : device;
        config.kernels = kernels.empty() ? config.kernels : kernels;
        p = std::make_unique<Private>(config, monitor, data.get(), group);
        if (!checkpoint.empty())
            p->step = loadCheckpointBytes(checkpoint, RunFiles(runDir).checkpoint(), *p->model, p->loss.get(),
                                          p->optimizer.get())
                          .step;
    }, "preparing the experiment");
    if (group)
        p->broadcastWeights();
    if (writer) {
        run.truncateAfter(p->step);
        p->run = std::move(run);
        p->lock = std::move(lock);
    }
    return std::unique_ptr<Trainer>(new Trainer(std::move(p)));
}

const ExperimentConfig &Trainer::config() const
{
    return d->config;
}

const std::string &Trainer::runPath() const
{
    return d->run.path();
}

int64_t Trainer::step() const
{
    return d->step;
}

Trainer::Image Trainer::trainImage(int64_t index) const
{
    const Dataset &train = d->data.train;
    if (index < 0 || index >= train.size())
        return {};
    torch::Tensor hwc;
    try {
        hwc = train.images.image(index).permute({1, 2, 0}).contiguous();
    } catch (const Error &) { // the decoded images' file cannot be read: no picture
        return {};
    }
    Image image;
    image.height = int(hwc.size(0));
    image.width = int(hwc.size(1));
    image.channels = int(hwc.size(2));
    image.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
    return image;
}

std::vector<std::string> Trainer::classNames() const
{
    return d->data.train.classNames;
}

EvalReport Trainer::evaluate()
{
    prepareCompute(d->config.threads);
    return d->evaluate();
}

Metrics Trainer::evaluateRawPixels()
{
    prepareCompute(d->config.threads);
    const Dataset &test = d->data.test;
    std::vector<int64_t> all(size_t(test.size()));
    std::iota(all.begin(), all.end(), 0);
    const torch::Tensor pixels = makeBatch(test, all, d->data.normalization, AugmentOptions{}, nullptr);
    return evaluateEmbeddings(pixels.flatten(1), test.labels, d->config.seed);
}

Metrics Trainer::evaluateUntrained()
{
    prepareCompute(d->config.threads);
    const EmbeddingNet untrained = createModelFor(d->config, d->data.train.images.channels());
    untrained->to(d->device);
    return evaluateEmbeddings(embedDataset(*untrained, d->data.test, d->data.normalization), d->data.test.labels,
                              d->config.seed);
}

std::shared_ptr<const ExperimentData> Trainer::data() const
{
    return std::make_shared<const ExperimentData>(d->data);
}

const std::vector<SkippedImage> &Trainer::skippedImages() const
{
    return d->data.skipped;
}

std::string Trainer::skippedImagesPath() const
{
    return d->run.files().skippedImages();
}

// The first few images that could not be used, in the log (the Trainer's
// constructor wrote all of them to skipped_images.txt).
void Trainer::reportSkipped(const Callbacks &cb)
{
    const std::vector<SkippedImage> &skipped = d->data.skipped;
    if (skipped.empty())
        return;
    std::string text = std::to_string(skipped.size()) + " image" + (skipped.size() == 1 ? "" : "s")
                       + " of the dataset skipped (all in " + skippedImagesPath() + "):";
    for (size_t i = 0; i < std::min<size_t>(skipped.size(), 5); ++i)
        text += "\n  " + skipped[i].path + ": " + skipped[i].reason;
    if (skipped.size() > 5)
        text += "\n  ...";
    d->log(cb, text);
}

Trainer::Outcome Trainer::run(const Callbacks &cb, const std::atomic<bool> &cancel, int64_t untilStep)
{
    const bool writes = d->writes();
    if (!d->statusTraining && writes) // once per process, not per turn of a comparison
        d->run.writeStatus(RunState::Training, d->step);
    d->statusTraining = true;
    try {
        // Rank 0 may have evaluated the baselines alone.
        if (d->group)
            d->group->waitForAll(false, kPatience, "starting to train");
        const Outcome outcome = train(cb, cancel, untilStep);
        if (outcome != Outcome::Reached && writes)
            d->run.writeStatus(outcome == Outcome::Finished ? RunState::Finished : RunState::Stopped, d->step);
        d->statusTraining = outcome == Outcome::Reached;
        return outcome;
    } catch (const std::exception &e) {
        // Recorded for the Runs list and `eval`; the error itself goes on to the caller.
        d->statusTraining = false;
        try {
            if (writes)
                d->run.writeStatus(RunState::Failed, d->step, e.what());
        } catch (const Error &) {
        }
        throw;
    }
}

Trainer::Outcome Trainer::train(const Callbacks &cb, const std::atomic<bool> &cancel, int64_t untilStep)
{
    // The thread budget is per thread under OpenMP: set it where the work runs.
    prepareCompute(d->config.threads);
    const ExperimentConfig &c = d->config;
    d->model->train();
    if (!d->announced) {
        std::string text = "training " + c.loss + " on " + c.dataset + " (" + c.split + "), "
                           + std::to_string(c.iterations) + " steps, batch " + std::to_string(d->sampler->batchSize());
        if (!d->device.is_cpu() || c.kernels != "fast")
            text += ", on " + d->device.str() + (c.kernels == "fast" ? "" : " with generic kernels");
        if (d->group) {
            int64_t floats = 0;
            for (const std::vector<torch::Tensor> &params : {d->model->parameters(), d->loss->parameters()})
                for (const torch::Tensor &p : params)
                    floats += p.requires_grad() ? p.numel() : 0;
            char megabytes[32];
            std::snprintf(megabytes, sizeof megabytes, "%.2f", double(floats) * 4 / (1 << 20));
            text += " over " + std::to_string(d->group->size()) + " ranks; " + megabytes
                    + " MB of gradients all-reduced per step";
        }
        if (!d->data.train.images.inMemory())
            text += "; images read from " + d->data.train.images.filePath()
                    + " (they take more than half the memory budget)";
        d->log(cb, text);
        reportSkipped(cb);
    }
    d->announced = true;
    d->startPrefetcher();
    // A run cancelled during an evaluation was saved at that step: the
    // evaluation is done first.
    if (c.evaluatesAt(d->step)) {
        bool due = false; // rank 0 knows
        if (d->writes()) {
            const std::vector<EvalReport> done = RunDirectory::readEvals(d->run.files().evals());
            due = done.empty() || done.back().step != d->step;
        }
        if (d->group)
            due = d->group->any(due);
        if (due && !d->evaluateAndRecord(cb, cancel))
            return Outcome::Cancelled;
    }
    while (d->step < c.iterations) {
        if (untilStep >= 0 && d->step >= untilStep) {
            d->run.flush();
            return Outcome::Reached;
        }
        if (d->stopRequested(cancel)) {
            d->saveCheckpoint();
            d->run.flush();
            d->log(cb, "cancelled at step " + std::to_string(d->step) + "; checkpoint saved");
            return Outcome::Cancelled;
        }
        const Private::StepResult result = d->trainStep();
        if (d->writes())
            d->run.appendStep(result.event);
        if (cb.onStep)
            cb.onStep(result.event);

        const bool checkpoint = d->step == c.iterations || (c.checkpointEvery > 0 && d->step % c.checkpointEvery == 0);
        d->snapshot(cb, result, checkpoint);
        if (c.evaluatesAt(d->step) && !d->evaluateAndRecord(cb, cancel)) {
            // Cancelled (Stop, the window closed) during the evaluation: a
            // resume evaluates this step first.
            d->run.flush();
            d->saveCheckpoint();
            d->log(cb, "cancelled during the evaluation of step " + std::to_string(d->step) + "; checkpoint saved");
            return Outcome::Cancelled;
        }
        if (checkpoint) {
            d->run.flush();
            d->saveCheckpoint();
        }
    }
    d->writeSummary();
    return Outcome::Finished;
}

} // namespace liftlab
