// liftlab-cli: the headless front end of the LiftLab core.
#include "commands.h"
#include "data/dataset.h"
#include "error.h"
#include "util/version.h"

#include <CLI/CLI.hpp>

#include <c10/util/Exception.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

using namespace liftlab;

namespace {

// --memory-budget: checked while parsing, then handed to the dataset
// loaders, and to the other ranks of a distributed run, as the environment
// variable they read.
void addMemoryBudget(CLI::App *cmd)
{
    cmd->add_option_function<std::string>(
           "--memory-budget", [](const std::string &v) { ::setenv("LIFTLAB_MEMORY_BUDGET", v.c_str(), 1); },
           "resident memory for the run, such as 4G or 512M: decoded images beyond half of it are read from a file "
           "(default: $LIFTLAB_MEMORY_BUDGET, else 4G)")
        ->check([](const std::string &v) {
            try {
                parseByteSize(v, "value");
                return std::string();
            } catch (const Error &e) {
                return std::string(e.what());
            }
        });
}

// Everything of an experiment but the loss.
void addExperimentOptions(CLI::App *cmd, ExperimentConfig &c)
{
    cmd->add_option("--dataset", c.dataset,
                    "fashion-mnist, mnist, glyphs (600 classes of rendered characters), or a folder: IDX files, CUB-200-2011, Cars196, Stanford Online Products, "
                    "or a subfolder of images per class")
        ->capture_default_str();
    cmd->add_option("--split", c.split, "zero-shot (class-disjoint) or seen (official train/test files)")
        ->capture_default_str();
    cmd->add_option("--image-size", c.imageSize, "image datasets: each image fitted into S x S pixels")
        ->capture_default_str();
    cmd->add_flag("--crop-to-box,!--no-crop-to-box", c.cropToBox,
                  "image datasets: crop each image to its bounding box (CUB, Cars) first");
    cmd->add_option("--model", c.model,
                    "embedding network: convnet-small, resnet18, resnet50, googlenet, or a TorchScript backbone "
                    "(.pt, see models/export_backbone.py)")
        ->capture_default_str();
    cmd->add_flag("--freeze-batch-norm,!--no-freeze-batch-norm", c.freezeBatchNorm,
                  "TorchScript backbones: keep the batch-norm statistics they come with");
    cmd->add_option("--embedding-dim", c.embeddingDim, "embedding size d")->capture_default_str();
    cmd->add_flag("--normalize,!--no-normalize", c.normalize, "L2-normalise the embedding");
    cmd->add_option("--classes-per-batch,-P", c.classesPerBatch, "classes per batch (P)")->capture_default_str();
    cmd->add_option("--per-class,-K", c.perClass, "images per class in a batch (K)")->capture_default_str();
    cmd->add_option("--sampler", c.sampler, "batches: pk (P classes x K images) or pairs (positive pairs + random images)")
        ->check(CLI::IsMember({"pk", "pairs"}))
        ->capture_default_str();
    cmd->add_option("--pairs", c.pairs, "positive pairs in a batch (sampler pairs)")->capture_default_str();
    cmd->add_option("--random-images", c.randomImages, "random images in a batch (sampler pairs)")->capture_default_str();
    cmd->add_flag("--augment,!--no-augment", c.augment, "vary the training images (see --augmentation)");
    cmd->add_option("--augmentation", c.augmentation,
                    "pad-crop (crop of the full size from the padded image, flip), paper (random 227/256 crop, "
                    "mirror; centre crop at test) or resized-crop (random 8-100% window scaled to 224/256, flip)")
        ->check(CLI::IsMember({"pad-crop", "paper", "resized-crop"}))
        ->capture_default_str();
    cmd->add_option("--optimizer", c.optimizer, "adam, adamw or sgd (momentum 0.9)")->capture_default_str();
    cmd->add_option("--lr", c.learningRate, "learning rate")->capture_default_str();
    cmd->add_option("--weight-decay", c.weightDecay, "weight decay")->capture_default_str();
    cmd->add_option("--schedule", c.schedule, "learning-rate schedule: constant or cosine")->capture_default_str();
    cmd->add_option("--iterations", c.iterations, "training steps")->capture_default_str();
    cmd->add_option("--seed", c.seed, "seed for initialisation, batches and augmentation")->capture_default_str();
    cmd->add_option("--threads", c.threads, "CPU threads")->capture_default_str();
    addMemoryBudget(cmd);
    cmd->add_option("--data-workers", c.dataWorkers, "threads that read and augment the next batch")
        ->capture_default_str();
    cmd->add_option("--device", c.device,
                    "where to train and evaluate: cpu, cuda (in a distributed run each rank's local GPU), cuda:N, "
                    "or auto (a GPU when there is one)")
        ->capture_default_str();
    cmd->add_option("--kernels", c.kernels,
                    "fast (LiftLab's own CPU kernels on the CPU) or generic (torch operations only, as on a GPU)")
        ->check(CLI::IsMember({"fast", "generic"}))
        ->capture_default_str();
    cmd->add_option("--eval-every", c.evalEvery, "evaluate every N steps (0: at the end only)")->capture_default_str();
    cmd->add_option("--checkpoint-every", c.checkpointEvery, "checkpoint every N steps")->capture_default_str();
    cmd->add_option("--keep-embeddings", c.keepLastEmbeddings,
                    "test embeddings kept in the run directory: the first evaluation's, the last N and every "
                    "--keep-every-th (0: all); embeddings/retention.json lists the dropped steps")
        ->capture_default_str();
    cmd->add_option("--keep-every", c.keepEveryEmbedding, "also keep every M-th evaluation's embedding (0: none)")
        ->capture_default_str();
}

void addLossOptions(CLI::App *cmd, cli::TrainOptions &o)
{
    cmd->add_option("--loss", o.config.loss, "loss function (see `liftlab-cli losses`)")->capture_default_str();
    cmd->add_option("--param", o.params, "loss parameter as name=value (repeatable)");
    cmd->add_option("--margin", o.margin, "shorthand for --param margin=VALUE");
}

// A subcommand: its parser, and what runs when it was given. Its options
// live in the closure.
struct Command
{
    CLI::App *parser;
    std::function<int()> run;
};

// What `train --nproc N` passes on to its ranks: the same command line
// without --nproc.
std::vector<std::string> withoutNproc(int argc, char **argv)
{
    std::vector<std::string> args;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--nproc")
            ++i;
        else if (a.rfind("--nproc=", 0) != 0)
            args.push_back(a);
    }
    return args;
}

Command addTrain(CLI::App &app, const std::vector<std::string> &rankArgs)
{
    auto o = std::make_shared<cli::TrainOptions>();
    CLI::App *cmd = app.add_subcommand("train", "train an embedding and print its evaluation");
    addExperimentOptions(cmd, o->config);
    addLossOptions(cmd, *o);
    cmd->add_option("--out", o->out, "run directory to create (default: runs/<loss>-<time>)");
    cmd->add_option("--resume", o->resume, "continue the run in this directory from its last checkpoint");
    cmd->add_flag("--baselines", o->baselines, "also evaluate raw pixels and the untrained network");
    cmd->add_option("--nproc", o->nproc,
                    "start this many ranks on this machine (a distributed run; launchers such as torchrun or srun "
                    "set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT instead): each embeds -P x -K images, the "
                    "loss sees them all");
    cmd->add_flag("--sync-batch-norm", o->config.syncBatchNorm,
                  "batch-norm statistics over all ranks' images (default: each rank's own)");
    cmd->add_option("--dist-timeout", o->distTimeout,
                    "distributed runs: seconds a rank waits for the others in a step before it gives up")
        ->capture_default_str();
    return {cmd, [o, rankArgs] {
                o->args = rankArgs;
                return cli::train(*o);
            }};
}

Command addCompare(CLI::App &app)
{
    auto o = std::make_shared<cli::CompareOptions>();
    CLI::App *cmd = app.add_subcommand(
        "compare", "train several losses on the same data, initialisation and batches, and print a table");
    cmd->add_option("--losses", o->losses,
                    "losses to compare, comma-separated, each with its parameters after colons, e.g. "
                    "lifted,contrastive,triplet:miner=semi-hard:margin=0.2");
    addExperimentOptions(cmd, o->config);
    cmd->add_option("--seeds", o->seeds,
                    "train every loss with this many seeds (--seed, --seed + 1, ...: other initial weights and batch "
                    "order, the same for every loss); the table gives each metric's mean and 95% confidence interval")
        ->capture_default_str();
    cmd->add_option("--out", o->out,
                    "comparison folder to create (default: runs/compare-<time>): its manifest, one run directory per "
                    "loss and seed, and the results table as CSV and Markdown");
    cmd->add_option("--resume", o->resume, "continue the comparison or tuning in this folder where it stopped");
    cmd->add_option("--sweep", o->sweep,
                    "train every loss with each value of one setting, e.g. embedding-dim=64,128,256,512 (lr, "
                    "weight-decay, embedding-dim, classes-per-batch, per-class)");
    cmd->add_option("--preset", o->preset,
                    "a ready sweep: embedding-size (Recall@K against d = 64..512, lifted) or batch-size (8..64 "
                    "classes per batch: lifted, triplet, contrastive); --losses replaces its losses")
        ->check(CLI::IsMember({"embedding-size", "batch-size"}));
    cmd->add_option("--tune", o->tune,
                    "tune each loss first: this many trials of its learning rate and tunable parameters, by successive "
                    "halving on validation classes held out from the training classes; then train the tuned losses "
                    "with every seed and test them on the test classes");
    cmd->add_option("--tune-eta", o->tuneEta, "successive halving keeps the best 1/eta of the trials at each rung")
        ->capture_default_str();
    cmd->add_option("--validation", o->validation, "fraction of the training classes held out to tune on")
        ->capture_default_str();
    cmd->add_option("--tune-steps", o->tuneSteps, "steps of the longest trials (default: --iterations)");
    return {cmd, [o] { return cli::compare(*o); }};
}

Command addDemo(CLI::App &app)
{
    auto threads = std::make_shared<int>(2);
    CLI::App *cmd = app.add_subcommand("demo", "the headless demo: train on Fashion-MNIST, compare with baselines");
    cmd->add_option("--threads", *threads, "CPU threads")->capture_default_str();
    addMemoryBudget(cmd);
    return {cmd, [threads] { return cli::demo(*threads); }};
}

// A subcommand that reads a run directory.
Command addRunCommand(CLI::App &app, const char *name, const char *description,
                      const std::function<int(const std::string &run, int threads)> &run)
{
    auto runDir = std::make_shared<std::string>();
    auto threads = std::make_shared<int>(2);
    CLI::App *cmd = app.add_subcommand(name, description);
    cmd->add_option("run", *runDir, "run directory")->required();
    cmd->add_option("--threads", *threads, "CPU threads")->capture_default_str();
    addMemoryBudget(cmd);
    return {cmd, [=] { return run(*runDir, *threads); }};
}

Command addEmbed(CLI::App &app)
{
    auto o = std::make_shared<cli::EmbedOptions>();
    Command c = addRunCommand(app, "embed", "write a run's embeddings of its test or train images as .npy",
                              [o](const std::string &run, int threads) {
                                  o->run = run;
                                  return cli::embed(*o, threads);
                              });
    c.parser->add_option("--subset", o->subset, "the run's test or train images")->capture_default_str();
    c.parser->add_option("--out", o->out, "embeddings .npy (float32 [N, d])")->required();
    c.parser->add_option("--labels-out", o->labelsOut, "labels .npy (int64 [N])");
    return c;
}

Command addExport(CLI::App &app)
{
    auto o = std::make_shared<cli::ExportOptions>();
    Command c = addRunCommand(app, "export", "write a run's trained network as TorchScript",
                              [o](const std::string &run, int threads) {
                                  o->run = run;
                                  return cli::exportModel(*o, threads);
                              });
    c.parser
        ->add_option("--torchscript", o->torchscript,
                     "TorchScript file to write (loads with torch.jit.load in Python, torch::jit::load in C++)")
        ->required();
    return c;
}

Command addMetrics(CLI::App &app)
{
    auto embeddings = std::make_shared<std::string>(), labels = std::make_shared<std::string>();
    auto threads = std::make_shared<int>(2);
    CLI::App *cmd = app.add_subcommand("metrics", "retrieval and clustering metrics of saved embeddings, as JSON");
    cmd->add_option("--embeddings", *embeddings, ".npy [N, d]")->required();
    cmd->add_option("--labels", *labels, ".npy [N] integer labels")->required();
    cmd->add_option("--threads", *threads, "CPU threads")->capture_default_str();
    return {cmd, [=] { return cli::metrics(*embeddings, *labels, *threads); }};
}

Command addLoss(CLI::App &app)
{
    auto o = std::make_shared<cli::LossOptions>();
    auto threads = std::make_shared<int>(2);
    CLI::App *cmd = app.add_subcommand("loss", "a loss and its gradient norm on saved embeddings, as JSON");
    cmd->add_option("--embeddings", o->embeddings, ".npy [B, d]")->required();
    cmd->add_option("--labels", o->labels, ".npy [B] integer labels")->required();
    cmd->add_option("--loss", o->loss, "loss name")->required();
    cmd->add_option("--param", o->params, "loss parameter as name=value (repeatable)");
    cmd->add_option("--margin", o->margin, "shorthand for --param margin=VALUE");
    cmd->add_option("--threads", *threads, "CPU threads")->capture_default_str();
    return {cmd, [=] { return cli::loss(*o, *threads); }};
}

Command addBench(CLI::App &app, const std::vector<std::string> &rankArgs)
{
    auto o = std::make_shared<cli::BenchLossOptions>();
    CLI::App *bench = app.add_subcommand("bench", "micro-benchmarks");
    bench->require_subcommand(1);
    CLI::App *cmd = bench->add_subcommand("loss", "median ms of a loss's forward+backward on random embeddings");
    cmd->add_option("--loss", o->loss, "loss name")->capture_default_str();
    cmd->add_option("--param", o->params, "loss parameter as name=value (repeatable)");
    cmd->add_option("--baseline", o->baseline,
                    "a second loss, timed alternately with the first in the same run (ratio printed)");
    cmd->add_option("--batch", o->batch, "batch size B")->capture_default_str();
    cmd->add_option("--dim", o->dim, "embedding size d")->capture_default_str();
    cmd->add_option("--per-class", o->perClass, "images per class")->capture_default_str();
    cmd->add_option("--repeat", o->repeat, "timed repetitions")->capture_default_str();
    cmd->add_option("--threads", o->threads, "CPU threads")->capture_default_str();
    auto a = std::make_shared<cli::BenchAllReduceOptions>();
    CLI::App *allReduce = bench->add_subcommand(
        "allreduce", "median ms of summing float32 buffers over the ranks (the gradient all-reduce), as JSON lines");
    allReduce->add_option("--nproc", a->nproc, "start this many ranks on this machine (else a launcher's)");
    allReduce->add_option("--megabytes", a->megabytes, "buffer sizes")->delimiter(',')->capture_default_str();
    allReduce->add_option("--repeat", a->repeat, "timed repetitions per size")->capture_default_str();
    return {bench, [o, a, allReduce, rankArgs] {
                if (!*allReduce)
                    return cli::benchLoss(*o);
                a->args = rankArgs;
                return cli::benchAllReduce(*a);
            }};
}

Command addProject(CLI::App &app)
{
    auto o = std::make_shared<cli::ProjectOptions>();
    CLI::App *cmd = app.add_subcommand("project", "2-D projection (t-SNE, UMAP or PCA) of embeddings, as .npy");
    cmd->add_option("--embeddings", o->embeddings, ".npy [N, d]")->required();
    cmd->add_option("--out", o->out, "coordinates .npy (float32 [N, components])")->required();
    cmd->add_option("--method", o->method, "tsne, umap or pca")->capture_default_str();
    cmd->add_option("--components", o->components, "PCA: number of components")->capture_default_str();
    cmd->add_option("--perplexity", o->perplexity, "t-SNE perplexity")->capture_default_str();
    cmd->add_option("--iterations", o->iterations, "t-SNE iterations")->capture_default_str();
    cmd->add_option("--learning-rate", o->learningRate, "t-SNE learning rate (0: max(N/12, 200))")
        ->capture_default_str();
    cmd->add_option("--repulsion", o->repulsion, "t-SNE repulsion: auto, bh (Barnes-Hut) or fft")
        ->capture_default_str();
    cmd->add_option("--neighbors", o->neighbors, "UMAP n_neighbors (the point itself included)")
        ->capture_default_str();
    cmd->add_option("--min-dist", o->minDist, "UMAP min_dist: how tightly points may pack")->capture_default_str();
    cmd->add_option("--spread", o->spread, "UMAP spread: the scale of the layout")->capture_default_str();
    cmd->add_option("--epochs", o->epochs, "UMAP epochs (0: 500 up to 10,000 points, else 200)")
        ->capture_default_str();
    cmd->add_option("--seed", o->seed, "t-SNE initial jitter, UMAP initialisation and negative samples")
        ->capture_default_str();
    cmd->add_option("--labels", o->labels, ".npy [N] labels: report 1-NN accuracy in 2-D (with --quality)");
    cmd->add_flag("--quality", o->quality, "report 10-NN preservation (and 1-NN accuracy with --labels)");
    cmd->add_option("--threads", o->threads, "CPU threads")->capture_default_str();
    return {cmd, [o] { return cli::project(*o); }};
}

Command addKnn(CLI::App &app)
{
    auto o = std::make_shared<cli::KnnOptions>();
    CLI::App *cmd = app.add_subcommand("knn", "exact k nearest neighbours of every row among the others, as .npy");
    cmd->add_option("--embeddings", o->embeddings, ".npy [N, d]")->required();
    cmd->add_option("--k", o->k, "neighbours per row (self excluded)")->capture_default_str();
    cmd->add_option("--out", o->out, "indices .npy (int64 [N, k], nearest first)")->required();
    cmd->add_option("--distances-out", o->distancesOut, "Euclidean distances .npy (float32 [N, k])");
    cmd->add_option("--threads", o->threads, "CPU threads")->capture_default_str();
    return {cmd, [o] { return cli::knn(*o); }};
}

// Runs a subcommand; a user's error ends in one line on stderr and exit code 2.
int runReportingErrors(const std::function<int()> &run)
{
    try {
        return run();
    } catch (const Error &e) {
        std::fprintf(stderr, "liftlab-cli: %s\n", e.what());
        return 2;
    } catch (const c10::Error &e) {
        const std::string what = e.what();
        std::fprintf(stderr, "liftlab-cli: internal error: %s\n", what.substr(0, what.find('\n')).c_str());
        return 3;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "liftlab-cli: internal error: %s\n", e.what());
        return 3;
    }
}

} // namespace

int main(int argc, char **argv)
{
    CLI::App app("LiftLab: deep metric learning with the lifted structured loss (headless)", "liftlab-cli");
    app.set_version_flag("--version", std::string("liftlab-cli ") + version(), "print the version and exit");
    app.set_help_all_flag("--help-all", "print the help of every subcommand and exit");
    app.require_subcommand(1);
    const std::vector<Command> commands = {
        addTrain(app, withoutNproc(argc, argv)),
        addCompare(app),
        addDemo(app),
        addRunCommand(app, "eval", "evaluate a run's last checkpoint on its test images", cli::eval),
        addEmbed(app),
        addExport(app),
        addMetrics(app),
        addLoss(app),
        {app.add_subcommand("losses", "list the losses and their parameters"), cli::listLosses},
        addBench(app, withoutNproc(argc, argv)),
        addProject(app),
        addKnn(app),
    };

    try {
        app.parse(argc, argv);
    } catch (const CLI::Success &e) { // --help, --help-all, --version
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        std::fprintf(stderr, "liftlab-cli: %s (see --help)\n", e.what());
        return 2;
    }
    for (const Command &command : commands)
        if (*command.parser)
            return runReportingErrors(command.run);
    return 0;
}
