#pragma once

// Writing LiftLab's networks as TorchScript, without Python: one module
// holding a copy of every weight and one straight-line `forward` compiled
// from TorchScript source, layer by layer. The file loads in libtorch
// (torch::jit::load) and in PyTorch (torch.jit.load) and computes what the
// network computes in evaluation mode (batch norm with its running
// statistics). Its code reads like the network: print(model.code).

#include "data/dataset.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>

#include <string>

namespace liftlab {

class ScriptWriter;

// A module of LiftLab's own that knows its TorchScript form.
class Scriptable
{
public:
    virtual ~Scriptable() = default;
    // Writes the lines computing this module on the value `x` and returns
    // the name of the result. `path` names the module's weights
    // ("features.3.body.0"), as in named_parameters().
    virtual std::string script(ScriptWriter &w, const std::string &path, const std::string &x) const = 0;
};

class ScriptWriter
{
public:
    ScriptWriter();

    // Writes `layer` applied to `x` and returns the name of the result:
    // libtorch's Conv2d, BatchNorm2d, Linear, ReLU, MaxPool2d and
    // Sequential, or a Scriptable. Throws liftlab::Error for any other.
    std::string apply(const torch::nn::Module &layer, const std::string &path, const std::string &x);
    // A line "name = expression" with a fresh name, returned.
    std::string assign(const std::string &expression);
    // A line of the forward as it is (indented as needed).
    void line(const std::string &code);
    // The expression for a copy of `t` held by the module under `path`.
    std::string tensor(const std::string &path, const torch::Tensor &t, bool parameter);
    // A submodule (a loaded TorchScript backbone), registered under `name`.
    void submodule(const std::string &name, const torch::jit::Module &m);
    // The embedding head on pooled features [B, F], then normalizeRows
    // when `normalize`; the name of the result.
    std::string embeddingHead(const torch::nn::Module &head, const std::string &features, bool normalize);

    // The module, with forward(self, x) returning `result`.
    torch::jit::Module finish(const std::string &result);

private:
    torch::jit::Module m_module;
    std::string m_source;
    int m_values = 0;
};

// Writes an embedding network (a Scriptable) as a TorchScript file
// (atomically). Its forward maps images normalised as in training, float
// [B, C, H, W], to embeddings [B, d]. The module also holds that
// normalisation: `input_mean` and `input_std` (per channel, applied to
// pixels / 255) and `input_side` (the side the network was trained on).
// Throws liftlab::Error naming the file.
void saveTorchScript(const torch::nn::Module &model, const Normalization &normalization, int64_t inputSide,
                     const std::string &path);

} // namespace liftlab
