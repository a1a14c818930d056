#include "fuzz/targets.h"

#include "data/idx.h"
#include "data/imagesets.h"
#include "data/npy.h"
#include "error.h"
#include "losses/loss.h"
#include "nn/models.h"
#include "train/checkpoint.h"
#include "train/rundirectory.h"

#include <torch/optim/adam.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace liftlab::fuzz {

namespace {

// A folder of this process's own, emptied before each input.
class Scratch
{
public:
    Scratch()
    {
        std::string pattern = (fs::temp_directory_path() / "liftlab-fuzz-XXXXXX").string();
        if (!mkdtemp(pattern.data()))
            throw std::runtime_error("cannot create a folder in " + fs::temp_directory_path().string());
        m_path = pattern;
    }
    ~Scratch()
    {
        std::error_code ec;
        fs::remove_all(m_path, ec);
    }
    const fs::path &fresh()
    {
        for (const fs::directory_entry &e : fs::directory_iterator(m_path))
            fs::remove_all(e.path());
        return m_path;
    }

private:
    fs::path m_path;
};

void writeFile(const fs::path &path, const char *data, size_t size)
{
    std::ofstream out(path, std::ios::binary);
    out.write(data, std::streamsize(size));
    if (!out)
        throw std::runtime_error("cannot write " + path.string());
}

// Writes the input's parts (separated by a line "%%") as the files `names`,
// in order, into an empty folder. A part the input lacks is a file the
// folder lacks.
const fs::path &writeFiles(const uint8_t *data, size_t size, std::initializer_list<const char *> names)
{
    static Scratch scratch;
    const fs::path &folder = scratch.fresh();
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    const std::string_view separator = "\n%%\n";
    size_t start = 0;
    for (const char *name : names) {
        if (start > input.size())
            break;
        size_t end = input.find(separator, start);
        if (end == std::string_view::npos)
            end = input.size();
        writeFile(folder / name, input.data() + start, end - start);
        start = end + separator.size();
    }
    return folder;
}

// Runs each step; a step may refuse the input with liftlab::Error only.
template<typename... Steps>
int refusingOnlyWithError(Steps... steps)
{
    ((void)[&] {
        try {
            steps();
        } catch (const Error &) {
        }
    }(), ...);
    return 0;
}

int idx(const uint8_t *data, size_t size)
{
    const fs::path file = writeFiles(data, size, {"images-idx3-ubyte"}) / "images-idx3-ubyte";
    return refusingOnlyWithError([&] { readIdx(file.string()); });
}

int npy(const uint8_t *data, size_t size)
{
    const fs::path file = writeFiles(data, size, {"embedding.npy"}) / "embedding.npy";
    return refusingOnlyWithError([&] {
        const NpyArray a = readNpy(file.string());
        a.toFloats();
        a.toInt64();
    });
}

int listBothSplits(const fs::path &folder)
{
    return refusingOnlyWithError([&] { listImages(folder.string(), SplitKind::Seen); },
                                 [&] { listImages(folder.string(), SplitKind::ZeroShot); });
}

int cub(const uint8_t *data, size_t size)
{
    return listBothSplits(writeFiles(data, size, {"classes.txt", "image_class_labels.txt", "images.txt",
                                                  "bounding_boxes.txt", "train_test_split.txt"}));
}

int sop(const uint8_t *data, size_t size)
{
    return listBothSplits(writeFiles(data, size, {"Ebay_train.txt", "Ebay_test.txt"}));
}

int carsCsv(const uint8_t *data, size_t size)
{
    return listBothSplits(writeFiles(data, size, {"anno_train.csv", "anno_test.csv", "names.csv"}));
}

int carsMat(const uint8_t *data, size_t size)
{
    return listBothSplits(writeFiles(data, size, {"cars_annos.mat"}));
}

int config(const uint8_t *data, size_t size)
{
    const fs::path folder = writeFiles(data, size, {"config.json"});
    return refusingOnlyWithError([&] { RunDirectory::open(folder.string()); });
}

int runFiles(const uint8_t *data, size_t size)
{
    const fs::path folder = writeFiles(data, size, {"metrics.jsonl", "eval.jsonl", "snapshot.json", "status.json"});
    const RunFiles files(folder.string());
    return refusingOnlyWithError([&] { RunDirectory::readSteps(files.metrics()); },
                                 [&] { RunDirectory::readEvals(files.evals()); },
                                 [&] { RunDirectory::readSnapshot(files.snapshot()); },
                                 [&] { RunDirectory::readStatus(files.dir()); });
}

// The network, learned loss and optimizer state of a default run, which the
// seed corpus's checkpoints were saved from.
struct TrainingState
{
    TrainingState()
    {
        torch::manual_seed(1);
        std::vector<torch::Tensor> parameters = model->parameters();
        for (const torch::Tensor &p : loss->parameters())
            parameters.push_back(p);
        optimizer = std::make_unique<torch::optim::Adam>(parameters);
    }
    EmbeddingNet model = createModel(ModelOptions{});
    std::unique_ptr<Loss> loss = createLoss("proxy-anchor", {}, lossContextFor({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 64, 1));
    std::unique_ptr<torch::optim::Adam> optimizer;
};

int checkpoint(const uint8_t *data, size_t size)
{
    static TrainingState state;
    const fs::path file = writeFiles(data, size, {"last.pt"}) / "last.pt";
    return refusingOnlyWithError(
        [&] { loadCheckpoint(file.string(), *state.model, state.loss.get(), state.optimizer.get()); });
}

} // namespace

const std::vector<Target> &targets()
{
    static const std::vector<Target> all = {
        {"idx", idx},           {"npy", npy},           {"cub", cub},       {"sop", sop},
        {"cars-csv", carsCsv},  {"cars-mat", carsMat},  {"config", config}, {"run-files", runFiles},
        {"checkpoint", checkpoint},
    };
    return all;
}

const Target &target(const std::string &name)
{
    for (const Target &t : targets())
        if (name == t.name)
            return t;
    throw std::invalid_argument("no fuzz target '" + name + "'");
}

} // namespace liftlab::fuzz
