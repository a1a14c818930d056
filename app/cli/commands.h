#pragma once

#include "train/config.h"

#include <cmath>
#include <string>
#include <vector>

namespace liftlab::cli {

struct TrainOptions
{
    ExperimentConfig config;
    std::vector<std::string> params; // name=value
    double margin = NAN;             // shorthand for --param margin=...
    std::string out;
    std::string resume;
    bool baselines = false;          // also evaluate raw pixels and the untrained network
    int nproc = 0;                   // > 0: start that many local ranks (launch.h)
    double distTimeout = 60;         // seconds a rank waits for the others within a step
    std::vector<std::string> args;   // the command line without --nproc, for the ranks
};

struct CompareOptions
{
    ExperimentConfig config; // the loss fields are set per compared loss
    std::string losses;      // "lifted,contrastive,triplet:miner=semi-hard"
    int seeds = 1;
    std::string out;
    std::string resume;      // a comparison or tuning folder to continue
    std::string sweep;       // "embedding-dim=64,128,256,512"
    std::string preset;      // embedding-size | batch-size
    int tune = 0;            // > 0: trials per loss (train/tuning.h)
    int tuneEta = 2;
    double validation = 0.2;
    int64_t tuneSteps = 0;
};

struct EmbedOptions
{
    std::string run;
    std::string subset = "test"; // the test or the train images
    std::string out;
    std::string labelsOut;
};

struct ExportOptions
{
    std::string run;
    std::string torchscript;
};

struct LossOptions
{
    std::string embeddings, labels, loss;
    std::vector<std::string> params;
    double margin = NAN;
};

struct BenchLossOptions
{
    std::string loss = "lifted";
    std::vector<std::string> params;
    std::string baseline; // a loss timed alternately with `loss`, at its defaults
    int batch = 256, dim = 512, perClass = 4, repeat = 50, threads = 2;
};

struct BenchAllReduceOptions
{
    int nproc = 0; // > 0: start that many local ranks (launch.h)
    std::vector<double> megabytes{0.25, 1, 4, 16, 64};
    int repeat = 10, threads = 1;
    std::vector<std::string> args; // the command line without --nproc
};

struct ProjectOptions
{
    std::string embeddings, out, labels;
    std::string method = "tsne"; // tsne, umap or pca
    int components = 2;          // pca
    double perplexity = 30;
    int iterations = 750;
    double learningRate = 0;     // 0: max(N / 12, 200)
    std::string repulsion = "auto";
    int neighbors = 15;          // umap
    double minDist = 0.1;
    double spread = 1.0;
    int epochs = 0;              // 0: 500 up to 10,000 points, else 200
    uint64_t seed = 0;
    bool quality = false;
    int threads = 2;
};

struct KnnOptions
{
    std::string embeddings, out, distancesOut;
    int k = 10;
    int threads = 2;
};

// Each returns the process exit code; user errors throw liftlab::Error.
int train(TrainOptions options);
int demo(int threads);
int compare(CompareOptions options);
int eval(const std::string &run, int threads);
int embed(const EmbedOptions &options, int threads);
int exportModel(const ExportOptions &options, int threads);
int metrics(const std::string &embeddings, const std::string &labels, int threads);
int loss(const LossOptions &options, int threads);
int benchLoss(const BenchLossOptions &options);
int benchAllReduce(const BenchAllReduceOptions &options);
int listLosses();
int project(const ProjectOptions &options);
int knn(const KnnOptions &options);

} // namespace liftlab::cli
