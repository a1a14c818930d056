// liftlab-cli: the headless front end of the LiftLab core.
#include "commands.h"
#include "error.h"

#include <CLI/CLI.hpp>

#include <c10/util/Exception.h>

#include <cstdio>

using namespace liftlab;

namespace {

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
    cmd->add_option("--eval-every", c.evalEvery, "evaluate every N steps (0: at the end only)")->capture_default_str();
    cmd->add_option("--checkpoint-every", c.checkpointEvery, "checkpoint every N steps")->capture_default_str();
}

void addLossOptions(CLI::App *cmd, cli::TrainOptions &o)
{
    cmd->add_option("--loss", o.config.loss, "loss function (see `liftlab-cli losses`)")->capture_default_str();
    cmd->add_option("--param", o.params, "loss parameter as name=value (repeatable)");
    cmd->add_option("--margin", o.margin, "shorthand for --param margin=VALUE");
}

} // namespace

int main(int argc, char **argv)
{
    CLI::App app("LiftLab: deep metric learning with the lifted structured loss (headless)", "liftlab-cli");
    app.require_subcommand(1);
    int threads = 2;

    cli::TrainOptions trainOptions;
    CLI::App *train = app.add_subcommand("train", "train an embedding and print its evaluation");
    addExperimentOptions(train, trainOptions.config);
    addLossOptions(train, trainOptions);
    train->add_option("--out", trainOptions.out, "run directory to create (default: runs/<loss>-<time>)");
    train->add_option("--resume", trainOptions.resume, "continue the run in this directory from its last checkpoint");
    train->add_flag("--baselines", trainOptions.baselines, "also evaluate raw pixels and the untrained network");

    cli::CompareOptions compareOptions;
    CLI::App *compare = app.add_subcommand(
        "compare", "train several losses on the same data, initialisation and batches, and print a table");
    compare
        ->add_option("--losses", compareOptions.losses,
                     "losses to compare, comma-separated, each with its parameters after colons, e.g. "
                     "lifted,contrastive,triplet:miner=semi-hard:margin=0.2")
        ->required();
    addExperimentOptions(compare, compareOptions.config);
    compare->add_option("--out", compareOptions.out,
                        "comparison folder to create (default: runs/compare-<time>): comparison.json, one run "
                        "directory per loss, results.csv, results.md");

    CLI::App *demo = app.add_subcommand("demo", "the headless demo: train on Fashion-MNIST, compare with baselines");
    demo->add_option("--threads", threads, "CPU threads")->capture_default_str();

    std::string runDir;
    CLI::App *eval = app.add_subcommand("eval", "evaluate a run's last checkpoint on its test split");
    eval->add_option("run", runDir, "run directory")->required();
    eval->add_option("--threads", threads, "CPU threads")->capture_default_str();

    cli::EmbedOptions embedOptions;
    CLI::App *embed = app.add_subcommand("embed", "write a run's embeddings of a split as .npy");
    embed->add_option("run", embedOptions.run, "run directory")->required();
    embed->add_option("--split", embedOptions.split, "test or train")->capture_default_str();
    embed->add_option("--out", embedOptions.out, "embeddings .npy (float32 [N, d])")->required();
    embed->add_option("--labels-out", embedOptions.labelsOut, "labels .npy (int64 [N])");
    embed->add_option("--threads", threads, "CPU threads")->capture_default_str();

    cli::ExportOptions exportOptions;
    CLI::App *exportCmd = app.add_subcommand("export", "write a run's trained network as TorchScript");
    exportCmd->add_option("run", exportOptions.run, "run directory")->required();
    exportCmd->add_option("--torchscript", exportOptions.torchscript,
                          "TorchScript file to write (loads with torch.jit.load in Python, torch::jit::load in C++)")
        ->required();
    exportCmd->add_option("--threads", threads, "CPU threads")->capture_default_str();

    std::string embeddingsPath, labelsPath;
    CLI::App *metrics = app.add_subcommand("metrics", "retrieval and clustering metrics of saved embeddings, as JSON");
    metrics->add_option("--embeddings", embeddingsPath, ".npy [N, d]")->required();
    metrics->add_option("--labels", labelsPath, ".npy [N] integer labels")->required();
    metrics->add_option("--threads", threads, "CPU threads")->capture_default_str();

    cli::LossOptions lossOptions;
    CLI::App *loss = app.add_subcommand("loss", "a loss and its gradient norm on saved embeddings, as JSON");
    loss->add_option("--embeddings", lossOptions.embeddings, ".npy [B, d]")->required();
    loss->add_option("--labels", lossOptions.labels, ".npy [B] integer labels")->required();
    loss->add_option("--loss", lossOptions.loss, "loss name")->required();
    loss->add_option("--param", lossOptions.params, "loss parameter as name=value (repeatable)");
    loss->add_option("--margin", lossOptions.margin, "shorthand for --param margin=VALUE");
    loss->add_option("--threads", threads, "CPU threads")->capture_default_str();

    CLI::App *losses = app.add_subcommand("losses", "list the losses and their parameters");

    CLI::App *bench = app.add_subcommand("bench", "micro-benchmarks");
    bench->require_subcommand(1);
    cli::BenchLossOptions benchOptions;
    CLI::App *benchLoss = bench->add_subcommand("loss", "median ms of a loss's forward+backward on random embeddings");
    benchLoss->add_option("--loss", benchOptions.loss, "loss name")->capture_default_str();
    benchLoss->add_option("--param", benchOptions.params, "loss parameter as name=value (repeatable)");
    benchLoss->add_option("--baseline", benchOptions.baseline,
                          "a second loss, timed alternately with the first in the same run (ratio printed)");
    benchLoss->add_option("--batch", benchOptions.batch, "batch size B")->capture_default_str();
    benchLoss->add_option("--dim", benchOptions.dim, "embedding size d")->capture_default_str();
    benchLoss->add_option("--per-class", benchOptions.perClass, "images per class")->capture_default_str();
    benchLoss->add_option("--repeat", benchOptions.repeat, "timed repetitions")->capture_default_str();
    benchLoss->add_option("--threads", benchOptions.threads, "CPU threads")->capture_default_str();

    cli::ProjectOptions projectOptions;
    CLI::App *project = app.add_subcommand("project", "2-D projection (t-SNE or PCA) of embeddings, as .npy");
    project->add_option("--embeddings", projectOptions.embeddings, ".npy [N, d]")->required();
    project->add_option("--out", projectOptions.out, "coordinates .npy (float32 [N, components])")->required();
    project->add_option("--method", projectOptions.method, "tsne or pca")->capture_default_str();
    project->add_option("--components", projectOptions.components, "PCA: number of components")->capture_default_str();
    project->add_option("--perplexity", projectOptions.perplexity, "t-SNE perplexity")->capture_default_str();
    project->add_option("--iterations", projectOptions.iterations, "t-SNE iterations")->capture_default_str();
    project->add_option("--learning-rate", projectOptions.learningRate, "t-SNE learning rate (0: max(N/12, 200))")
        ->capture_default_str();
    project->add_option("--repulsion", projectOptions.repulsion,
                        "t-SNE repulsion: auto, bh (Barnes-Hut) or fft")->capture_default_str();
    project->add_option("--seed", projectOptions.seed, "t-SNE initial jitter seed")->capture_default_str();
    project->add_option("--labels", projectOptions.labels, ".npy [N] labels: report 1-NN accuracy in 2-D (with --quality)");
    project->add_flag("--quality", projectOptions.quality, "report 10-NN preservation (and 1-NN accuracy with --labels)");
    project->add_option("--threads", projectOptions.threads, "CPU threads")->capture_default_str();

    cli::KnnOptions knnOptions;
    CLI::App *knn = app.add_subcommand("knn", "exact k nearest neighbours of every row among the others, as .npy");
    knn->add_option("--embeddings", knnOptions.embeddings, ".npy [N, d]")->required();
    knn->add_option("--k", knnOptions.k, "neighbours per row (self excluded)")->capture_default_str();
    knn->add_option("--out", knnOptions.out, "indices .npy (int64 [N, k], nearest first)")->required();
    knn->add_option("--distances-out", knnOptions.distancesOut, "Euclidean distances .npy (float32 [N, k])");
    knn->add_option("--threads", knnOptions.threads, "CPU threads")->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp &e) {
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        std::fprintf(stderr, "liftlab-cli: %s (see --help)\n", e.what());
        return 2;
    }

    try {
        if (*train)
            return cli::train(trainOptions);
        if (*demo)
            return cli::demo(threads);
        if (*compare)
            return cli::compare(compareOptions);
        if (*eval)
            return cli::eval(runDir, threads);
        if (*embed)
            return cli::embed(embedOptions, threads);
        if (*exportCmd)
            return cli::exportModel(exportOptions, threads);
        if (*metrics)
            return cli::metrics(embeddingsPath, labelsPath, threads);
        if (*loss)
            return cli::loss(lossOptions, threads);
        if (*losses)
            return cli::listLosses();
        if (*benchLoss)
            return cli::benchLoss(benchOptions);
        if (*project)
            return cli::project(projectOptions);
        if (*knn)
            return cli::knn(knnOptions);
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
    return 0;
}
