// A backbone from a TorchScript file (models/export_backbone.py writes
// torchvision's, with ImageNet weights where they could be downloaded): its
// parameters train with the head, its buffers (batch-norm statistics) go
// into checkpoints, and the feature size is read off one forward pass.
#include "nn/backbones.h"

#include "error.h"
#include "nn/torchscript.h"
#include "util/parallel.h"
#include "util/zipcheck.h"

#include <torch/nn.h>
#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace liftlab {

namespace {

std::string firstLine(const std::string &text)
{
    return text.substr(0, text.find('\n'));
}

// Module names may not hold dots.
std::string flat(std::string name)
{
    std::replace(name.begin(), name.end(), '.', '_');
    return "backbone_" + name;
}

class ScriptedBackbone : public EmbeddingNetImpl, public Scriptable
{
public:
    explicit ScriptedBackbone(const ModelOptions &o)
        : m_path(o.name)
        , m_normalize(o.normalize)
        , m_freezeBatchNorm(o.freezeBatchNorm)
    {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(m_path, ec))
            throw fileError(m_path, "TorchScript backbone file does not exist");
        std::istringstream archive(readZipArchive(m_path, "TorchScript file"));
        try {
            m_script = torch::jit::load(archive, torch::kCPU);
        } catch (const std::exception &e) { // c10::Error, or jit::ErrorReport for code this libtorch cannot run
            throw fileError(m_path, "is not a TorchScript module LiftLab can load (" + firstLine(e.what()) + ")");
        }
        for (const auto &p : m_script.named_parameters(/*recurse=*/true))
            register_parameter(flat(p.name), p.value);
        for (const auto &b : m_script.named_buffers(/*recurse=*/true))
            register_buffer(flat(b.name), b.value);
        // Pretrained backbones take RGB: gray images are given as three equal channels.
        const int64_t features = featureSize(o.inChannels == 1 ? 3 : o.inChannels);
        m_head = register_module("head", torch::nn::Linear(features, o.embeddingDim));
        train(true);
    }

    torch::Tensor forward(torch::Tensor images) override
    {
        const torch::jit::IValue out = m_script.forward({images.size(1) == 1 ? images.expand({-1, 3, -1, -1}) : images});
        if (!out.isTensor())
            throw fileError(m_path, "returned no tensor in training mode");
        torch::Tensor x = out.toTensor();
        if (x.dim() == 4) // feature maps: pool them
            x = x.mean({2, 3});
        x = m_head->forward(x);
        return m_normalize ? normalizeRows(x) : x;
    }

    void train(bool on) override
    {
        EmbeddingNetImpl::train(on);
        m_script.train(on);
        // Frozen batch norm: the statistics of the backbone's (pretraining)
        // data, not those of the small batches of a fine-grained dataset.
        if (m_freezeBatchNorm)
            for (torch::jit::Module m : m_script.modules())
                if (m.type()->name() && m.type()->name()->name().find("BatchNorm") != std::string::npos)
                    m.train(false);
    }

    std::string script(ScriptWriter &w, const std::string &, const std::string &x) const override
    {
        w.submodule("backbone", m_script.clone());
        const std::string rgb = w.assign(x + ".expand([-1, 3, -1, -1]) if " + x + ".size(1) == 1 else " + x);
        const std::string f = w.assign("self.backbone.forward(" + rgb + ")");
        return w.embeddingHead(*m_head, w.assign(f + ".mean([2, 3]) if " + f + ".dim() == 4 else " + f), m_normalize);
    }

private:
    // The backbone's output size for one 64 x 64 image, or a message naming
    // the file when it is no image model.
    int64_t featureSize(int64_t channels)
    {
        torch::NoGradGuard noGrad;
        m_script.eval();
        torch::jit::IValue out;
        try {
            out = m_script.forward({torch::zeros({1, channels, 64, 64})});
        } catch (const std::exception &e) {
            throw fileError(m_path, "is not an image model: it fails on a 1 x " + std::to_string(channels)
                                        + " x 64 x 64 image (" + firstLine(e.what()) + ")");
        }
        if (!out.isTensor() || (out.toTensor().dim() != 2 && out.toTensor().dim() != 4)
            || out.toTensor().size(0) != 1)
            throw fileError(m_path, "is not an image model: it must map [B, C, H, W] to features [B, F] or feature "
                                    "maps [B, F, h, w]");
        return out.toTensor().size(1);
    }

    std::string m_path;
    bool m_normalize, m_freezeBatchNorm;
    torch::jit::Module m_script;
    torch::nn::Linear m_head{nullptr};
};

} // namespace

bool isScriptedBackbone(const std::string &name)
{
    return name.size() > 3 && (name.compare(name.size() - 3, 3, ".pt") == 0 || name.compare(name.size() - 4, 4, ".pth") == 0);
}

EmbeddingNet createScriptedBackbone(const ModelOptions &options)
{
    return std::make_shared<ScriptedBackbone>(options);
}

} // namespace liftlab
