#pragma once

#include "data/imagestore.h"
#include "data/loadmonitor.h"

#include <torch/types.h>

#include <string>
#include <vector>

namespace liftlab {

// Images (uint8 C x H x W each, in memory or in a file: ImageStore) with
// int64 labels [N]. Labels
// are the dataset's own class ids, so a class-disjoint test set keeps its
// ids (Fashion-MNIST zero-shot tests on classes 5-9).
struct Dataset
{
    ImageStore images;
    torch::Tensor labels;
    std::vector<std::string> classNames; // indexed by label

    int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
    Dataset subset(const torch::Tensor &indices) const;
    std::vector<int64_t> classesPresent() const;
};

// Per-channel normalisation applied to x/255, computed on the training images.
struct Normalization
{
    std::vector<float> mean;
    std::vector<float> std;
    int64_t cropSide = 0; // the network's input: the images' centre crop of this side (0: all of them)
};

enum class SplitKind {
    ZeroShot, // class-disjoint: first half of the classes train, the rest test
    Seen,     // the official train/test files, all classes
};

SplitKind splitFromString(const std::string &name); // throws liftlab::Error
std::string splitToString(SplitKind split);

// The two subsets of a dataset that an experiment uses, as its split (the
// protocol: SplitKind) divides them: training images and test images.
struct ExperimentData
{
    std::string name;
    std::string layout; // idx, cub-200-2011, cars196, stanford-online-products, image-folder
    Dataset train;
    Dataset test;
    Normalization normalization;
    std::vector<SkippedImage> skipped;
};

// The memory budget of a process: $LIFTLAB_MEMORY_BUDGET ("4G", "512M",
// "300K" or bytes), else 4 GiB. Throws liftlab::Error for a malformed value.
int64_t defaultMemoryBudget();
// "4G" -> 4 GiB, as above; throws liftlab::Error naming `what`.
int64_t parseByteSize(const std::string &text, const std::string &what);

// How image datasets are decoded (IDX datasets ignore it).
struct LoadOptions
{
    int imageSize = 256;
    bool cropToBox = false;
    int threads = 2;
    LoadMonitor monitor;
    // Decoded images are kept here between loads (imagedecode.h); empty: not kept.
    std::string cacheFolder;
    // Bytes; the decoded images stay in memory while they take at most
    // half of it, else they are read from a file (imagedecode.h). 0:
    // defaultMemoryBudget().
    int64_t memoryBudget = 0;
};

// Loads "fashion-mnist", "mnist", "glyphs" (glyphs.h), a folder holding the four IDX files
// (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...) or
// an image dataset folder (imagesets.h: CUB-200-2011, Cars196, Stanford
// Online Products, a folder per class). Errors name the folder or file and
// the problem; images that cannot be used are skipped and listed.
ExperimentData loadDataset(const std::string &nameOrPath, SplitKind split, const LoadOptions &options = {});

// The labels of the training images loadDataset would give, read without
// decoding an image (the label files, or an image folder's listing), to
// check a batch recipe before training. Images that fail to decode are
// counted; the same errors as loadDataset for a missing or unknown dataset.
std::vector<int64_t> loadTrainingLabels(const std::string &nameOrPath, SplitKind split);

// The folder the embedded default dataset is installed in.
std::string fashionMnistFolder();

} // namespace liftlab
