#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

class QJsonObject;

namespace liftlab {

struct ExperimentData;

// Everything that defines a training run; written to config.json and into
// every checkpoint. The defaults are the paper-style setup (P x K = 4 x 32,
// Adam 1e-3, constant rate); demoRecipe() is the tuned one the demo uses.
struct ExperimentConfig
{
    std::string dataset = "fashion-mnist";
    std::string split = "seen";
    // Image datasets (not IDX): images are stored S x S (imagedecode.h),
    // optionally cropped to their bounding boxes first.
    int imageSize = 256;
    bool cropToBox = false;
    std::string model = "convnet-small";
    int64_t embeddingDim = 64;
    bool normalize = false;
    bool freezeBatchNorm = false; // TorchScript backbones
    std::string loss = "lifted";
    std::map<std::string, std::string> lossParams;
    // Batches: "pk" (P classes x K images) or "pairs" (the paper's: positive
    // pairs plus random images, see PairSampler).
    std::string sampler = "pk";
    int classesPerBatch = 4;
    int perClass = 32;
    int pairs = 32;
    int randomImages = 64;
    bool augment = true;
    std::string augmentation = "pad-crop"; // pad-crop | paper | resized-crop (augment.h)
    std::string optimizer = "adam"; // adam | adamw | sgd (momentum 0.9)
    double learningRate = 1e-3;
    double weightDecay = 0.0;
    std::string schedule = "constant"; // constant | cosine
    int64_t iterations = 1000;
    uint64_t seed = 0;
    int threads = 2;
    // Threads that read and augment the next batch while this one trains
    // (the batch does not depend on their number).
    int dataWorkers = 2;
    // Where training and evaluation compute: cpu, cuda, cuda:N or auto
    // (util/parallel.h: computeDevice), and with which kernels: "fast"
    // (LiftLab's hand-written CPU kernels where the device is the CPU) or
    // "generic" (torch operations only, as on a GPU).
    std::string device = "cpu";
    std::string kernels = "fast";
    int64_t evalEvery = 0;       // 0: evaluate at the end only
    int64_t checkpointEvery = 250;
    // A distributed run (core/dist): the number of processes, each of which
    // embeds a batch of the size above, so that the loss sees worldSize
    // times as many images (the global batch). Recorded by the launch, not
    // chosen in a form.
    int worldSize = 1;
    // Batch-norm statistics over the global batch instead of each
    // process's share (built-in networks; see nn/batchnorm.h).
    bool syncBatchNorm = false;
    // Tuning (train/tuning.h): hold out this fraction of the split's
    // training classes, chosen by validationSeed, and evaluate on their
    // images instead of the test set. The run then trains on the other
    // training classes and never sees a test class (0: the test set).
    double validationFraction = 0;
    uint64_t validationSeed = 0;
    // Retention of the test embedding written at each evaluation
    // (embeddings/step-<n>.npy; at Stanford Online Products' size each is
    // 124 MB): the first evaluation's, the last keepLastEmbeddings and every
    // keepEveryEmbedding-th are kept, the others deleted as newer ones come
    // (RunDirectory::applyEmbeddingRetention). keepLastEmbeddings 0 keeps all.
    int keepLastEmbeddings = 10;
    int keepEveryEmbedding = 5;

    // The recipes of the headless demo, on Fashion-MNIST or "glyphs" (see
    // demoRecipe in config.cpp for why each choice).
    static ExperimentConfig demoRecipe(const std::string &split, const std::string &dataset = "fashion-mnist");

    // Throws liftlab::Error naming the first invalid field.
    void validate() const;
    double learningRateAt(int64_t step) const;
    // Whether the test set is evaluated once `step` steps are done: every
    // evalEvery steps and after the last.
    bool evaluatesAt(int64_t step) const;
    // The global batch: the images the loss sees in one step, over all processes.
    int batchSize() const;
};

// Its dataset, as the training, evaluation and exploring of its runs see it:
// image datasets at its image size and crop, the network's input side set
// by its augmentation.
struct LoadMonitor;
ExperimentData loadExperimentData(const ExperimentConfig &config, const LoadMonitor &monitor);
// The labels of its training images, read without decoding any (to check
// its batches before training: makeSampler). Throws as loadExperimentData.
std::vector<int64_t> trainingLabels(const ExperimentConfig &config);

// The classes held out for validation (validationFraction): a seeded
// shuffle of `trainingClasses` (sorted ascending) of which the first
// round(fraction x count) are taken, sorted. The same for a given seed on
// every machine. Throws liftlab::Error when either side would have fewer
// than two classes.
std::vector<int64_t> validationClasses(const std::vector<int64_t> &trainingClasses, double fraction, uint64_t seed);

QJsonObject toJson(const ExperimentConfig &config);
// Throws liftlab::Error naming `source` for a missing or mistyped field.
ExperimentConfig configFromJson(const QJsonObject &json, const std::string &source);

} // namespace liftlab
