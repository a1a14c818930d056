#include "nn/models.h"

#include "nn/backbones.h"
#include "nn/batchnorm.h"
#include "nn/torchscript.h"

#include "error.h"
#include "util/parallel.h"

#include <torch/nn.h>

namespace liftlab {

namespace {

// conv3x3-BN-ReLU, optionally followed by a 2x2 max pool. The pool goes
// before the ReLU: max(relu(y)) = relu(max(y)) (ReLU is monotone), forward
// and backward, and the ReLU then touches a quarter of the values.
void addConvBlock(torch::nn::Sequential &s, int64_t in, int64_t out, bool pool)
{
    s->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
    s->push_back(BatchNorm2d(out));
    if (pool)
        s->push_back(torch::nn::MaxPool2d(2));
    s->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
}

// The default network for small grayscale images (28 x 28): three 3x3 conv
// blocks, global average pooling, a linear embedding head.
class ConvNetSmall : public EmbeddingNetImpl, public Scriptable
{
public:
    explicit ConvNetSmall(const ModelOptions &o)
        : m_normalize(o.normalize)
    {
        torch::nn::Sequential features;
        addConvBlock(features, o.inChannels, 32, true);
        addConvBlock(features, 32, 64, true);
        addConvBlock(features, 64, 128, false);
        m_features = register_module("features", features);
        m_head = register_module("head", torch::nn::Linear(128, o.embeddingDim));
        // Channels-last (NHWC) convolution, batch norm and pooling run ~20%
        // faster on CPU than NCHW here (bench/compare_train.sh).
        for (torch::Tensor &p : parameters())
            if (p.dim() == 4)
                p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }

    torch::Tensor forward(torch::Tensor images) override
    {
        torch::Tensor x = m_features->forward(images.contiguous(torch::MemoryFormat::ChannelsLast)).mean({2, 3});
        x = m_head->forward(x);
        return m_normalize ? normalizeRows(x) : x;
    }

    std::string script(ScriptWriter &w, const std::string &, const std::string &x) const override
    {
        const std::string maps = w.apply(*m_features, "features", x);
        return w.embeddingHead(*m_head, w.assign(maps + ".mean([2, 3])"), m_normalize);
    }

private:
    bool m_normalize;
    torch::nn::Sequential m_features{nullptr};
    torch::nn::Linear m_head{nullptr};
};

} // namespace

const std::vector<ModelInfo> &modelRegistry()
{
    static const std::vector<ModelInfo> models = {
        {"convnet-small", "3 conv blocks (32-64-128) + global average pool + linear head; for 28x28 grayscale"},
        {"resnet18", "ResNet-18 (He et al. 2016), random init, 512 features + linear head"},
        {"resnet50", "ResNet-50, random init, 2048 features + linear head"},
        {"googlenet", "GoogLeNet / Inception v1 with batch norm (the paper's network), random init, 1024 features "
                      "+ linear head"},
    };
    return models;
}

torch::Device EmbeddingNetImpl::device() const
{
    const std::vector<torch::Tensor> p = parameters();
    return p.empty() ? torch::Device(torch::kCPU) : p.front().device();
}

EmbeddingNet createModel(const ModelOptions &options)
{
    if (options.embeddingDim < 2 || options.embeddingDim > 4096)
        throw Error("embedding size " + std::to_string(options.embeddingDim) + " is out of range (2 to 4096)");
    if (options.name == "convnet-small")
        return std::make_shared<ConvNetSmall>(options);
    if (EmbeddingNet backbone = createBackbone(options))
        return backbone;
    if (isScriptedBackbone(options.name))
        return createScriptedBackbone(options);
    std::string known;
    for (const ModelInfo &m : modelRegistry())
        known += (known.empty() ? "" : ", ") + m.name;
    throw Error("unknown model '" + options.name + "' (known: " + known + ", or a TorchScript .pt file)");
}

} // namespace liftlab
