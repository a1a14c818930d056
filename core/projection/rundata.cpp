#include "projection/rundata.h"

#include "data/dataset.h"
#include "data/imagedecode.h"
#include "data/npy.h"
#include "error.h"
#include "eval/evaluate.h"
#include "nn/torchscript.h"
#include "train/checkpoint.h"
#include "train/rundirectory.h"
#include "util/parallel.h"


#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace liftlab {

namespace {

std::vector<int64_t> toVector(const torch::Tensor &t)
{
    const torch::Tensor c = t.to(torch::kInt64).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

RunData::Image imageAt(const Dataset &data, int64_t index)
{
    if (index < 0 || index >= data.size())
        return {};
    torch::Tensor hwc;
    try {
        hwc = data.images.image(index).permute({1, 2, 0}).contiguous();
    } catch (const Error &) { // the decoded images' file cannot be read: no picture, not a crash
        return {};
    }
    RunData::Image image;
    image.height = int(hwc.size(0));
    image.width = int(hwc.size(1));
    image.channels = int(hwc.size(2));
    image.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
    return image;
}

Matrix toMatrix(const torch::Tensor &t)
{
    const torch::Tensor c = t.to(torch::kFloat32).contiguous();
    Matrix m{c.size(0), c.size(1), {}};
    m.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    return m;
}

} // namespace

struct RunData::Private
{
    RunDirectory run;
    ExperimentData data;
    std::vector<int64_t> testLabels, trainLabels;
    int threads = 2;
    // The model is loaded on first use; forward passes are serialised.
    mutable std::mutex modelMutex;
    mutable EmbeddingNet model{nullptr};

    EmbeddingNetImpl &loadedModel() const
    {
        if (!model)
            model = loadRunModel(run, data.train.images.channels());
        return *model;
    }
};

RunData::RunData(std::unique_ptr<Private> d)
    : d(std::move(d))
{
}

RunData::~RunData() = default;

std::shared_ptr<const RunData> RunData::open(const std::string &runDir)
{
    auto p = std::make_unique<Private>();
    p->run = RunDirectory::open(runDir);
    const ExperimentConfig &c = p->run.config();
    p->threads = c.threads;
    p->data = loadExperimentData(c, {});
    p->testLabels = toVector(p->data.test.labels);
    p->trainLabels = toVector(p->data.train.labels);
    return std::shared_ptr<const RunData>(new RunData(std::move(p)));
}

const std::string &RunData::path() const
{
    return d->run.path();
}

const std::vector<std::string> &RunData::classNames() const
{
    return d->data.train.classNames;
}

std::vector<int64_t> RunData::embeddingSteps() const
{
    return d->run.files().embeddingSteps();
}

Matrix RunData::testEmbedding(int64_t step) const
{
    const std::string path = d->run.files().embedding(step);
    if (!std::filesystem::exists(path))
        throw fileError(path, "no embedding was saved for step " + std::to_string(step));
    const NpyArray a = readNpy(path);
    if (a.shape.size() != 2 || a.shape[0] != testSize())
        throw fileError(path, "expected " + std::to_string(testSize()) + " rows, one per test image");
    return Matrix{a.shape[0], a.shape[1], a.toFloats()};
}

int64_t RunData::testSize() const
{
    return d->data.test.size();
}

const std::vector<int64_t> &RunData::testLabels() const
{
    return d->testLabels;
}

RunData::Image RunData::testImage(int64_t index) const
{
    return imageAt(d->data.test, index);
}

int64_t RunData::trainSize() const
{
    return d->data.train.size();
}

const std::vector<int64_t> &RunData::trainLabels() const
{
    return d->trainLabels;
}

RunData::Image RunData::trainImage(int64_t index) const
{
    return imageAt(d->data.train, index);
}

std::vector<float> RunData::embedImageFile(const std::string &path) const
{
    // The dataset's format: letterboxed to its square side as its images
    // were (a wide image is not stretched), then gray or RGB.
    const Dataset &train = d->data.train;
    const int64_t channels = train.images.channels(), side = train.images.height();
    torch::Tensor rgb = torch::zeros({3, side, side}, torch::kUInt8);
    ImageEntry entry;
    entry.path = path;
    const std::string problem = decodeImage(entry, int(side), false, rgb.data_ptr<uint8_t>());
    if (!problem.empty())
        throw fileError(path, "not a usable image: " + problem);
    if (channels == 1) // ITU-R BT.601 luma, as OpenCV's and Qt's gray conversions
        rgb = (rgb.to(torch::kFloat32) * torch::tensor({0.299f, 0.587f, 0.114f}).view({3, 1, 1}))
                  .sum(0, true)
                  .round()
                  .clamp(0, 255)
                  .to(torch::kUInt8);
    Dataset one;
    one.images = ImageStore(rgb.unsqueeze(0));
    one.labels = torch::zeros({1}, torch::kInt64);
    const std::lock_guard<std::mutex> lock(d->modelMutex);
    prepareCompute(d->threads);
    const torch::Tensor e = embedDataset(d->loadedModel(), one, d->data.normalization).contiguous();
    return std::vector<float>(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
}

Matrix RunData::embedTestSet() const
{
    const std::lock_guard<std::mutex> lock(d->modelMutex);
    prepareCompute(d->threads);
    return toMatrix(embedDataset(d->loadedModel(), d->data.test, d->data.normalization));
}

std::string RunData::exportTorchScript(const std::string &path) const
{
    const Normalization &norm = d->data.normalization;
    const int64_t channels = d->data.train.images.channels();
    const int64_t side = norm.cropSide > 0 ? norm.cropSide : d->data.train.images.height();
    // The checkpoint as it is now (a run being trained moves on).
    saveTorchScript(*loadRunModel(d->run, channels), norm, side, path);
    std::string mean, std;
    for (size_t c = 0; c < norm.mean.size(); ++c) {
        char value[32];
        std::snprintf(value, sizeof value, "%s%.4g", c ? ", " : "", norm.mean[c]);
        mean += value;
        std::snprintf(value, sizeof value, "%s%.4g", c ? ", " : "", norm.std[c]);
        std += value;
    }
    return "input: float [B, " + std::to_string(channels) + ", " + std::to_string(side) + ", " + std::to_string(side)
           + "], pixels / 255 minus mean (" + mean + "), divided by std (" + std + "); output: embeddings [B, "
           + std::to_string(d->run.config().embeddingDim) + "]";
}

std::optional<Matrix> RunData::projection(const std::string &method, int64_t step) const
{
    const std::string path = d->run.files().projection(method, step);
    if (!std::filesystem::exists(path))
        return std::nullopt;
    try {
        const NpyArray a = readNpy(path);
        if (a.shape.size() != 2 || a.shape[0] != testSize() || a.shape[1] != 2)
            return std::nullopt; // stale or foreign: recompute
        return Matrix{a.shape[0], a.shape[1], a.toFloats()};
    } catch (const Error &) {
        return std::nullopt; // a torn file from a crash: recompute
    }
}

void RunData::saveProjection(const std::string &method, int64_t step, const Matrix &coordinates) const
{
    const std::string path = d->run.files().projection(method, step);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    writeNpy(path, npyFromFloats({coordinates.rows, coordinates.cols}, coordinates.values.data()));
}

Matrix normalizedRows(const Matrix &m)
{
    Matrix out = m;
    for (int64_t i = 0; i < m.rows; ++i) {
        float *r = out.values.data() + i * m.cols;
        double sum = 0;
        for (int64_t j = 0; j < m.cols; ++j)
            sum += double(r[j]) * r[j];
        const float scale = sum > 0 ? float(1 / std::sqrt(sum)) : 0.0f;
        for (int64_t j = 0; j < m.cols; ++j)
            r[j] *= scale;
    }
    return out;
}

} // namespace liftlab
