#include "train/checkpoint.h"

#include "error.h"
#include "util/atomicfile.h"
#include "util/zipcheck.h"

#include <torch/serialize.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

namespace liftlab {

namespace {

// c10 error messages carry a C++ backtrace after the first line.
std::string firstLine(const std::string &text)
{
    return text.substr(0, text.find('\n'));
}

struct TensorLayout
{
    std::vector<int64_t> shape;
    bool channelsLast = false;
};

std::map<std::string, TensorLayout> layoutsOf(torch::nn::Module &model)
{
    std::map<std::string, TensorLayout> layouts;
    for (const auto &list : {model.named_parameters(), model.named_buffers()})
        for (const auto &t : list)
            layouts[t.key()] = {t.value().sizes().vec(),
                                t.value().dim() == 4 && t.value().is_contiguous(torch::MemoryFormat::ChannelsLast)};
    return layouts;
}

bool hasState(torch::nn::Module *module)
{
    return module && (!module->parameters().empty() || !module->buffers().empty());
}

// Module::load replaces each tensor whatever its shape and memory format:
// check the shapes, restore the formats the module chose.
void readModule(torch::serialize::InputArchive &archive, const std::string &key, torch::nn::Module &module,
                const std::string &path)
{
    torch::serialize::InputArchive moduleArchive;
    if (!archive.try_read(key, moduleArchive))
        throw fileError(path, "incompatible checkpoint: it holds no " + key + " state");
    const std::map<std::string, TensorLayout> expected = layoutsOf(module);
    module.load(moduleArchive);
    for (const auto &list : {module.named_parameters(), module.named_buffers()})
        for (const auto &t : list) {
            const TensorLayout &want = expected.at(t.key());
            if (t.value().sizes().vec() != want.shape)
                throw fileError(path, "incompatible checkpoint: " + t.key() + " has shape "
                                          + c10::str(t.value().sizes()) + ", the " + key + " expects "
                                          + c10::str(c10::IntArrayRef(want.shape)));
            if (want.channelsLast)
                t.value().set_data(t.value().contiguous(torch::MemoryFormat::ChannelsLast));
        }
}

// torch's zip writer cannot fail cleanly: a write that fails while it
// finishes the file (disk full) throws from its destructor and ends the
// process. So it is told that every write succeeded, and a failed one is
// reported once it is done.
void writeArchive(torch::serialize::OutputArchive &archive, const std::string &file, const std::string &path)
{
    FILE *out = std::fopen(file.c_str(), "wb");
    if (!out)
        throw fileError(path, std::string("cannot write checkpoint (") + std::strerror(errno) + ")");
    int error = 0;
    try {
        archive.save_to([&](const void *data, size_t size) -> size_t {
            if (error == 0 && size > 0 && std::fwrite(data, 1, size, out) != size)
                error = errno ? errno : EIO;
            return size;
        });
    } catch (...) {
        std::fclose(out);
        throw;
    }
    if (std::fclose(out) != 0 && error == 0)
        error = errno ? errno : EIO;
    if (error != 0) {
        std::remove(file.c_str());
        throw fileError(path, std::string("cannot write checkpoint (") + std::strerror(error) + ")");
    }
}

} // namespace

void saveCheckpoint(const std::string &path, torch::nn::Module &model, torch::nn::Module *loss,
                    torch::optim::Optimizer *optimizer, const CheckpointInfo &info)
{
    const std::string tmp = temporaryPathFor(path);
    try {
        torch::serialize::OutputArchive archive;
        torch::serialize::OutputArchive modelArchive;
        model.save(modelArchive);
        archive.write("model", modelArchive);
        if (hasState(loss)) {
            torch::serialize::OutputArchive lossArchive;
            loss->save(lossArchive);
            archive.write("loss", lossArchive);
        }
        if (optimizer) {
            torch::serialize::OutputArchive optimizerArchive;
            optimizer->save(optimizerArchive);
            archive.write("optimizer", optimizerArchive);
        }
        archive.write("step", c10::IValue(info.step));
        archive.write("config", c10::IValue(info.configJson));
        archive.write("format", c10::IValue(std::string("liftlab-checkpoint-1")));
        writeArchive(archive, tmp, path);
    } catch (const c10::Error &e) {
        std::remove(tmp.c_str());
        throw fileError(path, "cannot write checkpoint (" + firstLine(e.what()) + ")");
    }
    commitTemporaryFile(tmp, path);
}

CheckpointInfo loadCheckpoint(const std::string &path, torch::nn::Module &model, torch::nn::Module *loss,
                              torch::optim::Optimizer *optimizer)
{
    if (!std::filesystem::exists(path))
        throw fileError(path, "checkpoint does not exist");
    return loadCheckpointBytes(readZipArchive(path, "checkpoint"), path, model, loss, optimizer);
}

CheckpointInfo loadCheckpointBytes(const std::string &bytes, const std::string &path, torch::nn::Module &model,
                                   torch::nn::Module *loss, torch::optim::Optimizer *optimizer)
{
    CheckpointInfo info;
    try {
        torch::serialize::InputArchive archive;
        // Onto the model's device, whichever device the checkpoint was written from.
        const std::vector<torch::Tensor> parameters = model.parameters();
        archive.load_from(bytes.data(), bytes.size(),
                          parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device());
        c10::IValue format;
        if (!archive.try_read("format", format) || !format.isString()
            || format.toStringRef() != "liftlab-checkpoint-1")
            throw fileError(path, "not a LiftLab checkpoint");
        readModule(archive, "model", model, path);
        if (hasState(loss))
            readModule(archive, "loss", *loss, path);
        if (optimizer) {
            torch::serialize::InputArchive optimizerArchive;
            archive.read("optimizer", optimizerArchive);
            optimizer->load(optimizerArchive);
        }
        c10::IValue step, config;
        archive.read("step", step);
        archive.read("config", config);
        info.step = step.toInt();
        info.configJson = config.toStringRef();
    } catch (const c10::Error &e) {
        throw fileError(path, "corrupt or incompatible checkpoint (" + firstLine(e.what()) + ")");
    } catch (const std::exception &e) {
        if (dynamic_cast<const Error *>(&e))
            throw;
        throw fileError(path, "corrupt or incompatible checkpoint (" + firstLine(e.what()) + ")");
    }
    return info;
}

} // namespace liftlab

namespace liftlab {

EmbeddingNet createModelFor(const ExperimentConfig &config, int64_t inChannels)
{
    ModelOptions options;
    options.name = config.model;
    options.embeddingDim = config.embeddingDim;
    options.normalize = config.normalize;
    options.freezeBatchNorm = config.freezeBatchNorm;
    options.inChannels = inChannels;
    // Seeding and drawing the initial weights use torch's global generator:
    // one network at a time, so that a network built on another thread (an
    // export, the explorer) never changes the weights a run starts from.
    static std::mutex globalGenerator;
    const std::lock_guard<std::mutex> lock(globalGenerator);
    torch::manual_seed(config.seed);
    return createModel(options);
}

EmbeddingNet loadRunModel(const RunDirectory &run, int64_t inChannels)
{
    EmbeddingNet model = createModelFor(run.config(), inChannels);
    loadCheckpoint(run.files().checkpoint(), *model, nullptr, nullptr);
    model->eval();
    return model;
}

} // namespace liftlab
