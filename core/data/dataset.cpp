#include "data/dataset.h"

#include "data/glyphs.h"
#include "data/idx.h"
#include "data/imagesets.h"
#include "data/imagedecode.h"
#include "error.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace liftlab {

namespace {

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

std::string findIdx(const fs::path &folder, const std::string &stem)
{
    for (const char *suffix : {"", ".gz"}) {
        const fs::path p = folder / (stem + suffix);
        if (fs::exists(p))
            return p.string();
    }
    throw fileError(folder.string(), "missing " + stem + " (or " + stem + ".gz)");
}

Dataset readPair(const fs::path &folder, const std::string &prefix, const std::vector<std::string> &classNames)
{
    const std::string imagePath = findIdx(folder, prefix + "-images-idx3-ubyte");
    const std::string labelPath = findIdx(folder, prefix + "-labels-idx1-ubyte");
    IdxArray images = readIdx(imagePath);
    IdxArray labels = readIdx(labelPath);
    if (images.shape.size() != 3)
        throw fileError(imagePath, "expected a rank-3 image array [N, H, W]");
    if (labels.shape.size() != 1)
        throw fileError(labelPath, "expected a rank-1 label array");
    if (images.shape[0] != labels.shape[0])
        throw fileError(labelPath, std::to_string(labels.shape[0]) + " labels for " + std::to_string(images.shape[0])
                                       + " images in " + imagePath);
    for (uint8_t l : labels.data)
        if (l >= classNames.size())
            throw fileError(labelPath, "label " + std::to_string(l) + " out of range");

    const int64_t n = images.shape[0], h = images.shape[1], w = images.shape[2];
    Dataset d;
    d.images = ImageStore(torch::from_blob(images.data.data(), {n, 1, h, w}, torch::kUInt8).clone());
    d.labels = torch::from_blob(labels.data.data(), {n}, torch::kUInt8).to(torch::kInt64);
    d.classNames = classNames;
    return d;
}

Dataset selectClasses(const Dataset &d, int64_t first, int64_t last)
{
    return d.subset(((d.labels >= first) & (d.labels <= last)).nonzero().squeeze(1));
}

Normalization computeNormalization(const Dataset &train)
{
    Normalization n;
    const torch::Tensor x = train.images.all().to(torch::kFloat32).div_(255.0); // IDX: small images in memory
    const torch::Tensor mean = x.mean({0, 2, 3});
    const torch::Tensor std = x.std({0, 2, 3});
    for (int64_t c = 0; c < mean.size(0); ++c) {
        n.mean.push_back(mean[c].item<float>());
        n.std.push_back(std::max(std[c].item<float>(), 1e-3f));
    }
    return n;
}

// The images of an image dataset folder, decoded, split as its layout says.
// The two splits are views of the one store: no copy of gigabytes of pixels.
ExperimentData loadImageDataset(const std::string &folder, SplitKind split, const LoadOptions &options)
{
    ImageListing listing = listImages(folder, split);
    std::stable_partition(listing.images.begin(), listing.images.end(), [](const ImageEntry &e) { return e.train; });
    DecodedImages decoded = decodeImages(listing, options);
    std::vector<int64_t> labels;
    int64_t trainCount = 0;
    for (const int64_t i : decoded.kept) {
        labels.push_back(listing.images[size_t(i)].label);
        trainCount += listing.images[size_t(i)].train;
    }
    const int64_t testCount = int64_t(decoded.kept.size()) - trainCount;
    ExperimentData s;
    s.name = folder;
    s.layout = listing.layout;
    s.skipped = std::move(decoded.skipped);
    if (trainCount == 0 || testCount == 0)
        throw fileError(folder, std::to_string(s.skipped.size()) + " of its " + std::to_string(listing.images.size())
                                    + " images could not be used, and none is left for "
                                    + (trainCount == 0 ? "training" : "testing")
                                    + (s.skipped.empty() ? "" : " (first: " + s.skipped.front().path + ", "
                                                                    + s.skipped.front().reason + ")"));
    const torch::Tensor labelTensor = torch::tensor(labels, torch::kInt64);
    s.train.images = decoded.images.narrow(0, trainCount);
    s.train.labels = labelTensor.narrow(0, 0, trainCount);
    s.test.images = decoded.images.narrow(trainCount, testCount);
    s.test.labels = labelTensor.narrow(0, trainCount, testCount);
    s.train.classNames = s.test.classNames = listing.classNames;
    // The ImageNet statistics that pretrained backbones expect.
    s.normalization = {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
    return s;
}

// A folder with any of the IDX files is an IDX dataset (whose loader names
// the ones missing).
bool hasIdxFiles(const fs::path &folder)
{
    std::error_code ec;
    for (const fs::directory_entry &f : fs::directory_iterator(folder, ec)) {
        const std::string name = f.path().filename().string();
        if (name.find("-idx1-ubyte") != std::string::npos || name.find("-idx3-ubyte") != std::string::npos)
            return true;
    }
    return false;
}

// Where a dataset named on the command line or in a config lives.
struct Source
{
    fs::path folder;
    bool idx = false;                    // the four IDX files, else an image dataset folder
    std::vector<std::string> classNames; // of an IDX dataset
};

Source locate(const std::string &nameOrPath)
{
    Source s;
    s.idx = true;
    if (nameOrPath == "fashion-mnist") {
        s.folder = fashionMnistFolder();
        if (!fs::is_directory(s.folder))
            throw fileError(s.folder.string(), "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
        s.classNames = kFashionClasses;
    } else if (nameOrPath == "mnist") {
        s.folder = "/usr/share/datasets/mnist";
        if (!fs::is_directory(s.folder))
            throw fileError(s.folder.string(), "MNIST is not installed; pass --dataset with a folder holding its IDX files");
    } else {
        s.folder = nameOrPath;
        if (!fs::exists(s.folder))
            throw fileError(s.folder.string(), "dataset folder does not exist");
        if (!fs::is_directory(s.folder))
            throw fileError(s.folder.string(), "not a folder (expected a dataset folder)");
        s.idx = hasIdxFiles(s.folder);
        std::string lower = fs::absolute(s.folder).string();
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        if (s.idx && lower.find("fashion") != std::string::npos)
            s.classNames = kFashionClasses;
    }
    if (s.idx && s.classNames.empty())
        for (int c = 0; c < 10; ++c)
            s.classNames.push_back(std::to_string(c));
    return s;
}

} // namespace

Dataset Dataset::subset(const torch::Tensor &indices) const
{
    Dataset d;
    const torch::Tensor rows = indices.to(torch::kInt64).contiguous();
    d.images = images.select(std::vector<int64_t>(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel()));
    d.labels = labels.index_select(0, indices);
    d.classNames = classNames;
    return d;
}

std::vector<int64_t> Dataset::classesPresent() const
{
    const torch::Tensor u = std::get<0>(torch::_unique(labels, /*sorted=*/true));
    return std::vector<int64_t>(u.data_ptr<int64_t>(), u.data_ptr<int64_t>() + u.numel());
}

SplitKind splitFromString(const std::string &name)
{
    if (name == "zero-shot")
        return SplitKind::ZeroShot;
    if (name == "seen")
        return SplitKind::Seen;
    throw Error("unknown split '" + name + "' (expected zero-shot or seen)");
}

std::string splitToString(SplitKind split)
{
    return split == SplitKind::ZeroShot ? "zero-shot" : "seen";
}

int64_t parseByteSize(const std::string &text, const std::string &what)
{
    size_t end = 0;
    double value = -1;
    try {
        value = std::stod(text, &end);
    } catch (const std::exception &) {
    }
    std::string unit = text.substr(std::min(end, text.size()));
    if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b'))
        unit.pop_back(); // "4GB", "4GiB": the binary units either way
    if (unit.size() == 2 && (unit[1] == 'i' || unit[1] == 'I'))
        unit.pop_back();
    const std::string units = "KMGT";
    const size_t power = unit.empty() ? 0 : unit.size() == 1 ? units.find(char(std::toupper(static_cast<unsigned char>(unit[0])))) + 1 : 0;
    if (!(value > 0) || (!unit.empty() && power == 0) || power > units.size())
        throw Error(what + " '" + text + "' is not a size (for example 4G, 512M or a number of bytes)");
    const double bytes = value * double(int64_t(1) << (10 * power));
    if (bytes < 1)
        throw Error(what + " '" + text + "' is less than a byte");
    if (bytes > 9e18)
        throw Error(what + " '" + text + "' is too large");
    return int64_t(bytes);
}

int64_t defaultMemoryBudget()
{
    const char *text = std::getenv("LIFTLAB_MEMORY_BUDGET");
    if (text && *text)
        return parseByteSize(text, "LIFTLAB_MEMORY_BUDGET");
    return int64_t(4) << 30;
}

std::string fashionMnistFolder()
{
    return "/usr/share/datasets/fashion-mnist";
}

ExperimentData loadDataset(const std::string &nameOrPath, SplitKind split, const LoadOptions &options)
{
    if (nameOrPath == "glyphs")
        return makeGlyphs(split); // the same characters and images for every run
    const Source source = locate(nameOrPath);
    if (!source.idx)
        return loadImageDataset(nameOrPath, split, options); // or a message naming the layouts
    const fs::path &folder = source.folder;
    const std::vector<std::string> &classNames = source.classNames;
    const Dataset train = readPair(folder, "train", classNames);
    const Dataset test = readPair(folder, "t10k", classNames);
    if (train.images.channels() != test.images.channels() || train.images.height() != test.images.height()
        || train.images.width() != test.images.width())
        throw fileError(folder.string(), "train and test images differ in size");

    ExperimentData s;
    s.name = nameOrPath;
    s.layout = "idx";
    if (split == SplitKind::Seen) {
        s.train = train;
        s.test = test;
    } else {
        // Class-disjoint, as the paper splits CUB/Cars/SOP: the first half of
        // the classes trains, the second half tests. Test images come from the
        // test file only, which keeps evaluation at 5,000 queries.
        const int64_t half = int64_t(classNames.size()) / 2;
        s.train = selectClasses(train, 0, half - 1);
        s.test = selectClasses(test, half, int64_t(classNames.size()) - 1);
    }
    if (s.train.size() == 0 || s.test.size() == 0)
        throw fileError(folder.string(), "the " + splitToString(split) + " split leaves no training or no test images");
    s.normalization = computeNormalization(s.train);
    return s;
}

std::vector<int64_t> loadTrainingLabels(const std::string &nameOrPath, SplitKind split)
{
    if (nameOrPath == "glyphs") {
        const torch::Tensor labels = makeGlyphs(split).train.labels.contiguous();
        return std::vector<int64_t>(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
    }
    const Source source = locate(nameOrPath);
    std::vector<int64_t> labels;
    if (!source.idx) {
        for (const ImageEntry &e : listImages(nameOrPath, split).images)
            if (e.train)
                labels.push_back(e.label);
        return labels;
    }
    const std::string path = findIdx(source.folder, "train-labels-idx1-ubyte");
    const IdxArray array = readIdx(path);
    if (array.shape.size() != 1)
        throw fileError(path, "expected a rank-1 label array");
    // The zero-shot split trains on the first half of the classes (as loadDataset).
    const int64_t last = split == SplitKind::Seen ? int64_t(source.classNames.size()) - 1
                                                  : int64_t(source.classNames.size()) / 2 - 1;
    for (const uint8_t l : array.data)
        if (l <= last)
            labels.push_back(l);
    return labels;
}

} // namespace liftlab
