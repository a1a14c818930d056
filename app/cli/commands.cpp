#include "commands.h"

#include "data/npy.h"
#include "dist/processgroup.h"
#include "error.h"
#include "eval/evaluate.h"
#include "eval/knn.h"
#include "losses/loss.h"
#include "launch.h"
#include "progress.h"
#include "projection/projection.h"
#include "projection/rundata.h"
#include "train/checkpoint.h"
#include "train/comparisonrun.h"
#include "train/divergence.h"
#include "train/rundirectory.h"
#include "train/tuning.h"
#include "train/trainer.h"
#include "util/parallel.h"

#include <torch/torch.h>

#include <QJsonDocument>
#include <QJsonObject>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>

namespace liftlab::cli {

namespace {

std::atomic<bool> g_interrupted{false};

void onInterrupt(int)
{
    g_interrupted.store(true);
}

std::map<std::string, std::string> parseParams(const std::vector<std::string> &given, double margin)
{
    std::map<std::string, std::string> params;
    for (const std::string &p : given) {
        const size_t eq = p.find('=');
        if (eq == std::string::npos || eq == 0)
            throw Error("--param '" + p + "' is not of the form name=value");
        params[p.substr(0, eq)] = p.substr(eq + 1);
    }
    if (!std::isnan(margin)) {
        char text[64];
        std::snprintf(text, sizeof text, "%.17g", margin);
        params["margin"] = text;
    }
    return params;
}

std::string timestamp()
{
    const std::time_t now = std::time(nullptr);
    char text[32];
    std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", std::localtime(&now));
    return text;
}

void printJson(const QJsonObject &o)
{
    std::printf("%s\n", QJsonDocument(o).toJson(QJsonDocument::Compact).constData());
}

// Ctrl-C and SIGTERM, while it lives, set flag(): training stops after the
// current batch and keeps a checkpoint.
class InterruptGuard
{
public:
    InterruptGuard()
    {
        g_interrupted.store(false);
        std::signal(SIGINT, onInterrupt);
        std::signal(SIGTERM, onInterrupt);
    }
    ~InterruptGuard()
    {
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
    }
    const std::atomic<bool> &flag() const { return g_interrupted; }
};

// A run's progress on the terminal: the bar, the trainer's messages and each
// evaluation; `last`, when given, keeps the latest evaluation.
Trainer::Callbacks progressCallbacks(ProgressBar &bar, EvalReport *last)
{
    Trainer::Callbacks callbacks;
    callbacks.onStep = [&bar, divergence = DivergenceWatch()](const TrainingStep &s) mutable {
        bar.update(s);
        if (const std::string warning = divergence.add(s.step, s.loss); !warning.empty())
            bar.message("warning: " + warning);
    };
    callbacks.onLog = [&bar](const std::string &text) { bar.message(text); };
    callbacks.onEval = [&bar, last](const EvalReport &r) {
        if (last)
            *last = r;
        char text[160];
        std::snprintf(text, sizeof text, "step %lld: Recall@1 %.4f  MAP@R %.4f  NMI %.4f  (%.1f s)",
                      (long long)r.step, r.metrics.recallAt1, r.metrics.mapAtR, r.metrics.nmi, r.seconds);
        bar.message(text);
    };
    return callbacks;
}

// Trains with a progress bar; Ctrl-C stops after the current batch and keeps
// a checkpoint. Returns the final evaluation (or none when interrupted).
// `quiet`: the ranks of a distributed run other than 0 train without a
// word (they return one empty row when they finish).
std::vector<std::pair<std::string, Metrics>> trainWithProgress(Trainer &trainer, bool baselines, bool quiet = false)
{
    if (quiet) {
        const InterruptGuard interrupt;
        if (trainer.run({}, interrupt.flag()) == Trainer::Outcome::Cancelled)
            return {};
        return {{}};
    }
    std::vector<std::pair<std::string, Metrics>> rows;
    if (baselines) {
        std::printf("evaluating baselines on %s (%s split)...\n", trainer.config().dataset.c_str(),
                    trainer.config().split.c_str());
        std::fflush(stdout);
        rows.push_back({"raw pixels", trainer.evaluateRawPixels()});
        rows.push_back({"untrained network", trainer.evaluateUntrained()});
    }
    ProgressBar bar(stdout);
    EvalReport last;
    Trainer::Outcome outcome;
    {
        const InterruptGuard interrupt;
        outcome = trainer.run(progressCallbacks(bar, &last), interrupt.flag());
    }
    bar.finish();
    if (outcome == Trainer::Outcome::Cancelled) {
        const int ranks = trainer.config().worldSize;
        std::printf("stopped at step %lld; continue with: liftlab-cli train --resume %s%s\n", (long long)trainer.step(),
                    trainer.runPath().c_str(), ranks > 1 ? (" --nproc " + std::to_string(ranks)).c_str() : "");
        return {};
    }
    if (last.step != trainer.step()) { // evaluated before a resume, or not at all
        const std::vector<EvalReport> evals = RunDirectory::readEvals(RunFiles(trainer.runPath()).evals());
        if (!evals.empty() && evals.back().step == trainer.step())
            last = evals.back();
        else if (trainer.config().worldSize == 1) // in a distributed run every rank evaluates
            last = trainer.evaluate();
    }
    rows.push_back({trainer.config().loss + " (" + std::to_string(trainer.step()) + " steps)", last.metrics});
    return rows;
}

struct LoadedArrays
{
    torch::Tensor embeddings; // float32 [N, d]
    torch::Tensor labels;     // int64 [N]
};

LoadedArrays loadArrays(const std::string &embeddingsPath, const std::string &labelsPath)
{
    const NpyArray e = readNpy(embeddingsPath);
    if (e.type != NpyArray::Type::Float32 && e.type != NpyArray::Type::Float64)
        throw fileError(embeddingsPath, "embeddings must be float32 or float64");
    if (e.shape.size() != 2 || e.shape[0] < 1 || e.shape[1] < 1)
        throw fileError(embeddingsPath, "embeddings must be a non-empty 2-D array [N, d]");
    const NpyArray l = readNpy(labelsPath);
    if (l.type != NpyArray::Type::Int32 && l.type != NpyArray::Type::Int64)
        throw fileError(labelsPath, "labels must be int32 or int64");
    if (!(l.shape.size() == 1 || (l.shape.size() == 2 && l.shape[1] == 1)))
        throw fileError(labelsPath, "labels must be a 1-D array [N]");
    if (l.shape[0] != e.shape[0])
        throw fileError(labelsPath, std::to_string(l.shape[0]) + " labels for " + std::to_string(e.shape[0])
                                        + " embeddings in " + embeddingsPath);
    std::vector<float> values = e.toFloats();
    std::vector<int64_t> labels = l.toInt64();
    for (float v : values)
        if (!std::isfinite(v))
            throw fileError(embeddingsPath, "embeddings contain NaN or infinite values");
    LoadedArrays out;
    if (e.type == NpyArray::Type::Float64) {
        // Keep full precision for checking losses in double.
        out.embeddings = torch::from_blob(const_cast<char *>(e.bytes.data()), {e.shape[0], e.shape[1]}, torch::kFloat64)
                             .clone();
    } else {
        out.embeddings = torch::from_blob(values.data(), {e.shape[0], e.shape[1]}, torch::kFloat32).clone();
    }
    out.labels = torch::from_blob(labels.data(), {l.shape[0]}, torch::kInt64).clone();
    return out;
}

ExperimentData loadRunData(const RunDirectory &run)
{
    return loadExperimentData(run.config(), {});
}

double peakRssMegabytes()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;
}

} // namespace

int train(TrainOptions o)
{
    if (o.nproc > 0)
        return launchLocalRanks(o.nproc, o.args);
    // One rank of a distributed run when a launcher said so.
    const RankEnvironment env = rankEnvironment();
    std::shared_ptr<ProcessGroup> group;
    if (env.distributed()) {
        if (!(o.distTimeout >= 1))
            throw Error("--dist-timeout must be at least 1 second");
        group = std::make_shared<ProcessGroup>(env, std::chrono::milliseconds(int64_t(o.distTimeout * 1000)),
                                               computeDevice(o.config.device, env.localRank));
        o.config.worldSize = env.worldSize;
    }
    const bool chief = env.rank == 0;
    std::unique_ptr<Trainer> trainer;
    if (!o.resume.empty()) {
        trainer = Trainer::resume(o.resume, {}, group, o.config.device, o.config.kernels);
        if (chief)
            std::printf("resuming %s at step %lld of %lld\n", o.resume.c_str(), (long long)trainer->step(),
                        (long long)trainer->config().iterations);
    } else {
        o.config.lossParams = parseParams(o.params, o.margin);
        if (o.out.empty())
            o.out = "runs/" + o.config.loss + "-" + timestamp();
        trainer = Trainer::start(o.config, o.out, {}, nullptr, group);
        if (chief)
            std::printf("run directory: %s\n", trainer->runPath().c_str());
    }
    if (group && chief)
        std::printf("distributed: %d ranks, global batch %d images (%d per rank)\n", env.worldSize,
                    trainer->config().batchSize(), trainer->config().batchSize() / env.worldSize);
    const auto rows = trainWithProgress(*trainer, o.baselines && chief, !chief);
    if (rows.empty())
        return 130;
    if (!chief)
        return 0;
    std::printf("\nevaluation on the test set (%s, %s):\n%s", trainer->config().dataset.c_str(),
                trainer->config().split.c_str(), metricsTable(rows).c_str());
    return 0;
}

namespace {

// Trains a comparison's runs (those of an interrupted one go on from their
// checkpoints) and prints its tables.
int runComparison(const Comparison &comparison)
{
    const std::unique_ptr<ComparisonRun> runs = ComparisonRun::start(comparison);
    // A whole run per turn, each with its progress bar.
    const size_t n = comparison.runCount();
    std::vector<std::unique_ptr<ProgressBar>> bars;
    std::vector<Trainer::Callbacks> callbacks;
    for (size_t i = 0; i < n; ++i) {
        bars.push_back(std::make_unique<ProgressBar>(stdout));
        callbacks.push_back(progressCallbacks(*bars.back(), nullptr));
    }
    ComparisonRun::Turns turns;
    turns.before = [&](size_t i) { std::printf("\n== %zu/%zu  %s\n", i + 1, n, comparison.runLabel(i).c_str()); };
    turns.after = [&](size_t i) { bars[i]->finish(); };
    turns.failed = [&](size_t i, const std::string &message) {
        std::fprintf(stderr, "liftlab-cli: %s: %s\n", comparison.runLabel(i).c_str(), message.c_str());
    };
    const InterruptGuard interrupt;
    if (runs->run(callbacks, turns, interrupt.flag(), 0) == ComparisonRun::Outcome::Cancelled) {
        std::printf("comparison stopped; every run keeps a checkpoint: `liftlab-cli compare --resume %s` goes on\n",
                    comparison.folder().c_str());
        return 130;
    }
    const ExperimentConfig &base = comparison.base();
    const std::vector<ComparisonRow> rows = comparisonResults(comparison);
    std::printf("\n== Comparison on %s (%s split), %lld steps each; %s and %s in %s\n\n%s", base.dataset.c_str(),
                base.split.c_str(), (long long)base.iterations, Comparison::resultsFileName(Comparison::Results::Csv),
                Comparison::resultsFileName(Comparison::Results::Markdown), comparison.folder().c_str(),
                comparisonTable(rows).c_str());
    if (comparison.seeds() > 1)
        std::printf("\n== Over %d seeds: mean +- 95%% confidence interval (Student's t); \"tied\": its Recall@1 interval "
                    "overlaps the best loss's, so these runs cannot rank the two\n\n%s",
                    comparison.seeds(), summaryTable(summarizeSeeds(comparison, rows)).c_str());
    return 0;
}

// Tunes each loss on the validation classes, then compares the tuned losses.
int runTuning(const Tuning &tuning)
{
    const std::vector<int64_t> budgets = tuning.budgets();
    std::string rungs;
    for (const int64_t b : budgets)
        rungs += (rungs.empty() ? "" : ", ") + std::to_string(b);
    std::printf("tuning folder: %s\n%d trials per loss on %.0f%% of the training classes held out for validation; "
                "successive halving (eta %d) over %zu rungs of %s steps\n",
                tuning.folder().c_str(), tuning.plan().trials, tuning.plan().validationFraction * 100,
                tuning.plan().eta, budgets.size(), rungs.c_str());
    TuningRun::Callbacks callbacks;
    callbacks.trialScored = [&](const TrialResult &r) {
        std::printf("  %-28s trial %2d  %-40s step %5lld  validation R@1 %.4f\n",
                    tuning.losses()[r.loss].label.c_str(), r.trial + 1,
                    settingText(tuning.trials(r.loss)[size_t(r.trial)]).c_str(), (long long)r.step,
                    r.metrics.recallAt1);
        std::fflush(stdout);
    };
    callbacks.lossTuned = [&](size_t l, int trial) {
        std::printf("== %s tuned: trial %d, %s\n", tuning.losses()[l].label.c_str(), trial + 1,
                    settingText(tuning.trials(l)[size_t(trial)]).c_str());
    };
    callbacks.log = [](const std::string &line) { std::printf("  %s\n", line.c_str()); };
    std::optional<Comparison> test;
    {
        const InterruptGuard interrupt;
        test = TuningRun::run(tuning, callbacks, interrupt.flag());
    }
    if (!test) {
        std::printf("tuning stopped; every trial keeps a checkpoint: `liftlab-cli compare --resume %s` goes on\n",
                    tuning.folder().c_str());
        return 130;
    }
    std::printf("\n== Tuned on the validation classes (the test classes unseen); tuned.json in %s\n\n",
                tuning.folder().c_str());
    for (const auto &[l, trial] : tunedTrials(tuning))
        std::printf("  %-28s %s\n", tuning.losses()[l].label.c_str(), settingText(tuning.trials(l)[size_t(trial)]).c_str());
    std::printf("\n== The tuned losses on the test classes, %d seed%s: %s\n", test->seeds(), test->seeds() > 1 ? "s" : "",
                test->folder().c_str());
    return runComparison(*test);
}

} // namespace

int compare(CompareOptions o)
{
    if (!o.resume.empty()) {
        if (!o.losses.empty() || o.tune != 0 || !o.sweep.empty() || !o.preset.empty())
            throw Error("--resume goes on with the folder's own losses and plan: it takes no --losses, --tune, "
                        "--sweep or --preset");
        return Tuning::isTuning(o.resume) ? runTuning(Tuning::open(o.resume)) : runComparison(Comparison::open(o.resume));
    }
    if (o.tune < 0)
        throw Error("--tune takes a number of trials per loss (got " + std::to_string(o.tune) + ")");
    Sweep sweep;
    if (!o.preset.empty()) {
        std::string losses;
        if (!presetSweep(o.preset, sweep, losses))
            throw Error("--preset '" + o.preset + "' is not embedding-size or batch-size");
        if (o.losses.empty())
            o.losses = losses;
    }
    if (!o.sweep.empty()) {
        if (!o.preset.empty())
            throw Error("--sweep and --preset both say what to sweep: give one");
        sweep = parseSweep(o.sweep);
    }
    if (o.losses.empty())
        throw Error("--losses is required (or --preset, or --resume)");
    std::vector<LossChoice> losses = parseLossList(o.losses);
    if (!sweep.field.empty())
        losses = sweepChoices(losses, sweep);
    if (o.out.empty())
        o.out = std::string("runs/") + (o.tune > 0 ? "tune-" : "compare-") + timestamp();
    if (o.tune > 0) {
        if (!sweep.field.empty())
            throw Error("--tune tunes each loss once: it does not take --sweep or --preset");
        TuningPlan plan;
        plan.trials = o.tune;
        plan.eta = o.tuneEta;
        plan.validationFraction = o.validation;
        plan.steps = o.tuneSteps;
        return runTuning(Tuning::create(o.out, o.config, losses, plan, o.seeds));
    }
    const Comparison comparison = Comparison::create(o.out, o.config, losses, o.seeds, sweep.field);
    if (o.seeds > 1)
        std::printf("comparison folder: %s (same data for every loss; seeds %llu-%llu, each shared by every loss)\n",
                    o.out.c_str(), (unsigned long long)o.config.seed, (unsigned long long)(o.config.seed + o.seeds - 1));
    else
        std::printf("comparison folder: %s (same data, initialisation and batches for every loss)\n", o.out.c_str());
    return runComparison(comparison);
}

int demo(int threads)
{
    struct Part
    {
        const char *dataset, *split, *title;
        const char *note; // what the table shows, below it
    };
    const Part parts[] = {
        {"fashion-mnist", "seen",
         "Fashion-MNIST, seen split: trained on the 60,000 training images, tested on the 10,000 test images "
         "(all 10 classes)",
         ""},
        {"fashion-mnist", "zero-shot",
         "Fashion-MNIST, zero-shot split: trained on classes 0-4, tested on the unseen classes 5-9 (5,000 test images)",
         "Five training classes are too few to transfer: features that tell tops, trousers, dresses and coats apart "
         "drop the detail that tells sandals, sneakers, bags and boots apart, and Recall@1 ends below the pixels'.\n"},
        {"glyphs", "zero-shot",
         "Glyphs, zero-shot split: trained on 300 characters, tested on the 300 unseen others (3,600 test images)",
         "With many training classes the embedding generalises: trained on 300 characters, it retrieves characters "
         "it has never seen far better than the pixels or the untrained network do.\n"},
    };
    const std::string stamp = timestamp();
    std::vector<std::string> tables;
    for (const Part &part : parts) {
        ExperimentConfig config = ExperimentConfig::demoRecipe(part.split, part.dataset);
        config.threads = threads;
        std::printf("\n== %s\n", part.title);
        auto trainer = Trainer::start(config, "runs/demo-" + stamp + "-" + part.dataset + "-" + part.split);
        std::printf("run directory: %s\n", trainer->runPath().c_str());
        const auto rows = trainWithProgress(*trainer, true);
        if (rows.empty())
            return 130;
        tables.push_back(std::string(part.title) + "\n" + metricsTable(rows) + part.note);
        std::printf("\n%s", tables.back().c_str());
    }
    std::printf("\n== Summary (query = every test image, gallery = the rest of the test set)\n");
    for (const std::string &t : tables)
        std::printf("\n%s", t.c_str());
    return 0;
}

int eval(const std::string &runPath, int threads)
{
    prepareCompute(threads);
    const RunDirectory run = RunDirectory::open(runPath);
    const ExperimentData data = loadRunData(run);
    EmbeddingNet model = loadRunModel(run, data.train.images.channels());
    const Metrics m = evaluateEmbeddings(embedDataset(*model, data.test, data.normalization), data.test.labels,
                                         run.config().seed);
    std::printf("%s", metricsTable({{run.config().loss, m}}).c_str());
    return 0;
}

int embed(const EmbedOptions &o, int threads)
{
    prepareCompute(threads);
    if (o.subset != "test" && o.subset != "train")
        throw Error("--subset must be test or train, not '" + o.subset + "'");
    const RunDirectory run = RunDirectory::open(o.run);
    const ExperimentData data = loadRunData(run);
    EmbeddingNet model = loadRunModel(run, data.train.images.channels());
    const Dataset &subset = o.subset == "test" ? data.test : data.train;
    const torch::Tensor e = embedDataset(*model, subset, data.normalization).contiguous();
    writeNpy(o.out, npyFromFloats({e.size(0), e.size(1)}, e.data_ptr<float>()));
    if (!o.labelsOut.empty()) {
        const torch::Tensor l = subset.labels.contiguous();
        writeNpy(o.labelsOut, npyFromInt64({l.size(0)}, l.data_ptr<int64_t>()));
    }
    std::printf("wrote %lld x %lld embeddings to %s\n", (long long)e.size(0), (long long)e.size(1), o.out.c_str());
    return 0;
}

int exportModel(const ExportOptions &o, int threads)
{
    prepareCompute(threads);
    const std::string format = RunData::open(o.run)->exportTorchScript(o.torchscript);
    std::printf("wrote %s (the network of %s)\n%s\n", o.torchscript.c_str(), o.run.c_str(), format.c_str());
    return 0;
}

int metrics(const std::string &embeddingsPath, const std::string &labelsPath, int threads)
{
    prepareCompute(threads);
    const LoadedArrays a = loadArrays(embeddingsPath, labelsPath);
    std::printf("%s\n", metricsToJson(evaluateEmbeddings(a.embeddings, a.labels)).c_str());
    return 0;
}

int loss(const LossOptions &o, int threads)
{
    prepareCompute(threads);
    const LoadedArrays a = loadArrays(o.embeddings, o.labels);
    const std::vector<int64_t> labels(a.labels.data_ptr<int64_t>(), a.labels.data_ptr<int64_t>() + a.labels.numel());
    std::unique_ptr<Loss> loss
        = createLoss(o.loss, parseParams(o.params, o.margin), lossContextFor(labels, a.embeddings.size(1), 0));
    loss->to(torch::kFloat64);
    // A checking tool: compute in double precision.
    const torch::Tensor e = a.embeddings.to(torch::kFloat64).requires_grad_(true);
    const LossOutput out = loss->compute(e, a.labels);
    out.loss.backward();
    char text[256];
    std::snprintf(text, sizeof text, "{\"loss\": %.17g, \"grad_norm\": %.17g, \"active_fraction\": %.17g}",
                  out.loss.item<double>(), e.grad().norm().item<double>(), out.activeFraction);
    std::printf("%s\n", text);
    return 0;
}

// The cost of summing float32 buffers over the ranks of a process group,
// the operation behind every distributed step's gradient all-reduce.
int benchAllReduce(const BenchAllReduceOptions &o)
{
    if (o.nproc > 0)
        return launchLocalRanks(o.nproc, o.args);
    const RankEnvironment env = rankEnvironment();
    if (!env.distributed())
        throw Error("bench allreduce needs several ranks: --nproc N, or a launcher's RANK and WORLD_SIZE");
    if (o.repeat < 1)
        throw Error("--repeat must be at least 1");
    prepareCompute(o.threads);
    ProcessGroup group(env, std::chrono::seconds(60));
    for (const double megabytes : o.megabytes) {
        if (!(megabytes > 0 && megabytes <= 4096))
            throw Error("--megabytes must be between 0 and 4096");
        // As a network's gradients come: tensors of at most 4 MB (in the
        // all-reduce's 16 MB buckets).
        std::vector<torch::Tensor> buffers;
        for (double left = megabytes; left > 0; left -= 4)
            buffers.push_back(torch::ones({int64_t(std::min(left, 4.0) * (1 << 20) / 4)}));
        group.allReduceSum(buffers); // connections warm
        std::vector<double> ms;
        for (int i = 0; i < o.repeat; ++i) {
            const auto start = std::chrono::steady_clock::now();
            group.allReduceSum(buffers);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        }
        std::sort(ms.begin(), ms.end());
        const double median = ms[ms.size() / 2];
        if (env.rank == 0)
            printJson(QJsonObject{{"ranks", env.worldSize}, {"megabytes", megabytes}, {"median_ms", median},
                                  {"ms_per_megabyte", median / megabytes}});
    }
    return 0;
}

int benchLoss(const BenchLossOptions &o)
{
    prepareCompute(o.threads);
    if (o.batch < 2 || o.dim < 1 || o.perClass < 1 || o.repeat < 1 || o.batch % o.perClass != 0)
        throw Error("--batch must be a multiple of --per-class, and all sizes positive");
    torch::manual_seed(0);
    const torch::Tensor labels = torch::arange(o.batch / o.perClass, torch::kInt64).repeat_interleave(o.perClass);
    const std::vector<int64_t> classes(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
    const LossContext context = lossContextFor(classes, o.dim, 0);
    std::unique_ptr<Loss> loss = createLoss(o.loss, parseParams(o.params, NAN), context);
    std::unique_ptr<Loss> baseline = o.baseline.empty() ? nullptr : createLoss(o.baseline, {}, context);
    const torch::Tensor base = torch::randn({o.batch, o.dim}) * 0.1;
    // Milliseconds of one forward+backward.
    auto once = [&](Loss &l) {
        const auto start = std::chrono::steady_clock::now();
        const torch::Tensor e = base.clone().requires_grad_(true);
        l.compute(e, labels).loss.backward();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    };
    for (int i = 0; i < 3; ++i) {
        once(*loss);
        if (baseline)
            once(*baseline);
    }
    const double rssBefore = peakRssMegabytes();
    // With a baseline the two alternate, so that both see the same load.
    std::vector<double> ms, baselineMs;
    for (int i = 0; i < o.repeat; ++i) {
        ms.push_back(once(*loss));
        if (baseline)
            baselineMs.push_back(once(*baseline));
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    QJsonObject result{{"loss", QString::fromStdString(o.loss)},
                       {"batch", o.batch},
                       {"dim", o.dim},
                       {"per_class", o.perClass},
                       {"threads", o.threads},
                       {"repeat", o.repeat},
                       {"median_ms", median(ms)},
                       {"min_ms", *std::min_element(ms.begin(), ms.end())},
                       {"peak_rss_growth_mb", peakRssMegabytes() - rssBefore},
                       {"peak_rss_mb", peakRssMegabytes()}};
    if (baseline) {
        result["baseline"] = QString::fromStdString(o.baseline);
        result["baseline_median_ms"] = median(baselineMs);
        result["ratio"] = median(ms) / median(baselineMs);
    }
    printJson(result);
    return 0;
}

int listLosses()
{
    for (const LossInfo &info : lossRegistry()) {
        std::printf("%s  %s\n    %s\n", info.name.c_str(), info.title.c_str(), info.description.c_str());
        for (const ParamSpec &p : info.params) {
            std::string range;
            if (p.kind == ParamSpec::Kind::Choice) {
                for (const std::string &c : p.choices)
                    range += (range.empty() ? "" : "|") + c;
            } else {
                char text[96];
                std::snprintf(text, sizeof text, "%g..%g", p.minimum, p.maximum);
                range = text;
            }
            std::printf("    --param %s=%s  (%s) %s\n", p.name.c_str(), p.defaultText().c_str(), range.c_str(),
                        p.help.c_str());
        }
    }
    return 0;
}

namespace {

Matrix readMatrix(const std::string &path)
{
    const NpyArray a = readNpy(path);
    if (a.type != NpyArray::Type::Float32 && a.type != NpyArray::Type::Float64)
        throw fileError(path, "embeddings must be float32 or float64");
    if (a.shape.size() != 2 || a.shape[0] < 1 || a.shape[1] < 1)
        throw fileError(path, "embeddings must be a non-empty 2-D array [N, d]");
    Matrix m{a.shape[0], a.shape[1], a.toFloats()};
    for (const float v : m.values)
        if (!std::isfinite(v))
            throw fileError(path, "embeddings contain NaN or infinite values");
    return m;
}

double secondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

int project(const ProjectOptions &o)
{
    prepareCompute(o.threads);
    const Matrix data = readMatrix(o.embeddings);
    std::vector<int64_t> labels;
    if (!o.labels.empty()) {
        const NpyArray l = readNpy(o.labels);
        if ((l.type != NpyArray::Type::Int32 && l.type != NpyArray::Type::Int64) || l.count() != data.rows)
            throw fileError(o.labels, "labels must be int32 or int64 with one per row of the embeddings");
        labels = l.toInt64();
    }
    const auto start = std::chrono::steady_clock::now();
    Matrix layout;
    double kl = NAN;
    QJsonObject summary{{"method", QString::fromStdString(o.method)}, {"points", qint64(data.rows)}};
    if (o.method == "pca") {
        layout = pca(data, o.components);
    } else if (o.method == "tsne") {
        TsneOptions t;
        t.perplexity = o.perplexity;
        t.iterations = o.iterations;
        t.learningRate = o.learningRate;
        t.seed = o.seed;
        t.frameEvery = 50;
        if (o.repulsion == "bh")
            t.repulsion = TsneOptions::Repulsion::BarnesHut;
        else if (o.repulsion == "fft")
            t.repulsion = TsneOptions::Repulsion::Fft;
        else if (o.repulsion != "auto")
            throw Error("--repulsion must be auto, bh or fft");
        layout = tsne(data, t, [&](const ProjectionFrame &f) {
            kl = f.klDivergence;
            std::fprintf(stderr, "t-SNE iteration %d/%d  KL %.4f  (%.1f s)\n", f.iteration, f.iterations,
                         f.klDivergence, secondsSince(start));
        });
        summary["perplexity"] = o.perplexity;
        summary["iterations"] = o.iterations;
        summary["kl_divergence"] = kl;
    } else if (o.method == "umap") {
        UmapOptions u;
        u.neighbors = o.neighbors;
        u.minDist = o.minDist;
        u.spread = o.spread;
        u.epochs = o.epochs;
        u.seed = o.seed;
        u.frameEvery = 50;
        layout = umap(data, u, [&](const ProjectionFrame &f) {
            std::fprintf(stderr, "UMAP epoch %d/%d  (%.1f s)\n", f.iteration, f.iterations, secondsSince(start));
            summary["epochs"] = f.iterations;
        });
        summary["neighbors"] = o.neighbors;
        summary["min_dist"] = o.minDist;
        summary["spread"] = o.spread;
        summary["seed"] = QString::number(o.seed);
    } else {
        throw Error("--method must be tsne, umap or pca");
    }
    summary["seconds"] = secondsSince(start);
    writeNpy(o.out, npyFromFloats({layout.rows, layout.cols}, layout.values.data()));
    if (o.quality) {
        const ProjectionQuality q = projectionQuality(data, layout, labels, 10);
        summary["neighbour_preservation_10"] = q.neighbourPreservation;
        if (!labels.empty())
            summary["one_nn_accuracy"] = q.oneNnAccuracy;
    }
    printJson(summary);
    return 0;
}

int knn(const KnnOptions &o)
{
    prepareCompute(o.threads);
    if (o.k < 1)
        throw Error("--k must be at least 1");
    const Matrix data = readMatrix(o.embeddings);
    if (data.rows < 2)
        throw fileError(o.embeddings, "needs at least two rows");
    const auto start = std::chrono::steady_clock::now();
    const NeighbourList nn = nearestNeighbours(data.values.data(), data.rows, data.values.data(), data.rows, data.cols,
                                               o.k, true);
    const double seconds = secondsSince(start);
    writeNpy(o.out, npyFromInt64({nn.rows, nn.k}, nn.indices.data()));
    if (!o.distancesOut.empty())
        writeNpy(o.distancesOut, npyFromFloats({nn.rows, nn.k}, nn.distances.data()));
    printJson(QJsonObject{{"points", qint64(data.rows)}, {"dim", qint64(data.cols)}, {"k", qint64(nn.k)},
                          {"seconds", seconds}});
    return 0;
}

} // namespace liftlab::cli
