// The ImageNet backbones of the literature, in libtorch, randomly
// initialised, with the layer sizes of torchvision's:
//   ResNet-18 and ResNet-50 (He et al. 2016), 512 and 2048 features;
//   GoogLeNet (Szegedy et al. 2015, the paper's network) with batch
//   normalisation after every convolution (Ioffe & Szegedy 2015), 1024
//   features, without the auxiliary classifiers.
// Each ends in global average pooling and a linear embedding head.
#include "nn/backbones.h"
#include "nn/batchnorm.h"

#include "nn/torchscript.h"
#include "util/parallel.h"

#include <torch/nn.h>

namespace liftlab {

namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0)
{
    return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

void initialise(nn::Module &m)
{
    for (auto &module : m.modules(/*include_self=*/false))
        if (auto *c = module->as<nn::Conv2d>())
            nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
}

// A backbone's features [B, F, h, w] -> embedding [B, d].
class PooledEmbedding : public EmbeddingNetImpl, public Scriptable
{
public:
    PooledEmbedding(nn::Sequential features, int64_t featureDim, const ModelOptions &o)
        : m_normalize(o.normalize)
    {
        m_features = register_module("features", std::move(features));
        m_head = register_module("head", nn::Linear(featureDim, o.embeddingDim));
        initialise(*m_features);
    }

    torch::Tensor forward(torch::Tensor images) override
    {
        const torch::Tensor x = m_head->forward(m_features->forward(images).mean({2, 3}));
        return m_normalize ? normalizeRows(x) : x;
    }

    std::string script(ScriptWriter &w, const std::string &, const std::string &x) const override
    {
        const std::string maps = w.apply(*m_features, "features", x);
        return w.embeddingHead(*m_head, w.assign(maps + ".mean([2, 3])"), m_normalize);
    }

private:
    bool m_normalize;
    nn::Sequential m_features{nullptr};
    nn::Linear m_head{nullptr};
};

// ---- ResNet ----------------------------------------------------------------

class ResidualBlockImpl : public nn::Module, public Scriptable
{
public:
    // bottleneck: 1x1 (width), 3x3 (width, stride), 1x1 (4 width); else 3x3, 3x3.
    ResidualBlockImpl(int64_t in, int64_t width, int64_t stride, bool bottleneck)
    {
        const int64_t out = bottleneck ? 4 * width : width;
        if (bottleneck) {
            m_body = nn::Sequential(conv(in, width, 1), BatchNorm2d(width), nn::ReLU(true),
                                    conv(width, width, 3, stride, 1), BatchNorm2d(width), nn::ReLU(true),
                                    conv(width, out, 1), BatchNorm2d(out));
        } else {
            m_body = nn::Sequential(conv(in, width, 3, stride, 1), BatchNorm2d(width), nn::ReLU(true),
                                    conv(width, width, 3, 1, 1), BatchNorm2d(width));
        }
        register_module("body", m_body);
        if (stride != 1 || in != out)
            m_shortcut = register_module("shortcut", nn::Sequential(conv(in, out, 1, stride), BatchNorm2d(out)));
    }

    torch::Tensor forward(const torch::Tensor &x)
    {
        return torch::relu(m_body->forward(x) + (m_shortcut ? m_shortcut->forward(x) : x));
    }

    std::string script(ScriptWriter &w, const std::string &path, const std::string &x) const override
    {
        const std::string body = w.apply(*m_body, path + ".body", x);
        const std::string skip = m_shortcut ? w.apply(*m_shortcut, path + ".shortcut", x) : x;
        return w.assign("torch.relu(" + body + " + " + skip + ")");
    }

private:
    nn::Sequential m_body{nullptr};
    nn::Sequential m_shortcut{nullptr};
};
TORCH_MODULE(ResidualBlock);

EmbeddingNet resnet(const std::vector<int> &blocks, bool bottleneck, const ModelOptions &o)
{
    nn::Sequential f(conv(o.inChannels, 64, 7, 2, 3), BatchNorm2d(64), nn::ReLU(true),
                     nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    int64_t in = 64;
    for (size_t stage = 0; stage < blocks.size(); ++stage) {
        const int64_t width = 64 << stage;
        for (int b = 0; b < blocks[stage]; ++b) {
            f->push_back(ResidualBlock(in, width, b == 0 && stage > 0 ? 2 : 1, bottleneck));
            in = bottleneck ? 4 * width : width;
        }
    }
    return std::make_shared<PooledEmbedding>(f, in, o);
}

// ---- GoogLeNet -------------------------------------------------------------

// Convolution, batch norm, ReLU.
class BasicConvImpl : public nn::Module, public Scriptable
{
public:
    BasicConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0)
        : m_conv(register_module("conv", conv(in, out, kernel, stride, padding)))
        , m_bn(register_module("bn", BatchNorm2d(nn::BatchNorm2dOptions(out).eps(0.001))))
    {
    }

    torch::Tensor forward(const torch::Tensor &x) { return torch::relu(m_bn->forward(m_conv->forward(x))); }

    std::string script(ScriptWriter &w, const std::string &path, const std::string &x) const override
    {
        return w.assign("torch.relu(" + w.apply(*m_bn, path + ".bn", w.apply(*m_conv, path + ".conv", x)) + ")");
    }

private:
    nn::Conv2d m_conv;
    BatchNorm2d m_bn;
};
TORCH_MODULE(BasicConv);

nn::MaxPool2d maxPool(int64_t kernel, int64_t stride, int64_t padding = 0)
{
    return nn::MaxPool2d(nn::MaxPool2dOptions(kernel).stride(stride).padding(padding).ceil_mode(true));
}

class InceptionImpl : public nn::Module, public Scriptable
{
public:
    InceptionImpl(int64_t in, int64_t c1, int64_t c3r, int64_t c3, int64_t c5r, int64_t c5, int64_t pool)
    {
        m_b1 = register_module("branch1", BasicConv(in, c1, 1));
        m_b2 = register_module("branch2", nn::Sequential(BasicConv(in, c3r, 1), BasicConv(c3r, c3, 3, 1, 1)));
        // torchvision's (and so the pretrained weights'): 3x3 where the paper has 5x5.
        m_b3 = register_module("branch3", nn::Sequential(BasicConv(in, c5r, 1), BasicConv(c5r, c5, 3, 1, 1)));
        m_b4 = register_module("branch4", nn::Sequential(maxPool(3, 1, 1), BasicConv(in, pool, 1)));
    }

    torch::Tensor forward(const torch::Tensor &x)
    {
        return torch::cat({m_b1->forward(x), m_b2->forward(x), m_b3->forward(x), m_b4->forward(x)}, 1);
    }

    std::string script(ScriptWriter &w, const std::string &path, const std::string &x) const override
    {
        return w.assign("torch.cat([" + w.apply(*m_b1, path + ".branch1", x) + ", "
                        + w.apply(*m_b2, path + ".branch2", x) + ", " + w.apply(*m_b3, path + ".branch3", x) + ", "
                        + w.apply(*m_b4, path + ".branch4", x) + "], 1)");
    }

private:
    BasicConv m_b1{nullptr};
    nn::Sequential m_b2{nullptr}, m_b3{nullptr}, m_b4{nullptr};
};
TORCH_MODULE(Inception);

EmbeddingNet googlenet(const ModelOptions &o)
{
    nn::Sequential f(BasicConv(o.inChannels, 64, 7, 2, 3), maxPool(3, 2), BasicConv(64, 64, 1),
                     BasicConv(64, 192, 3, 1, 1), maxPool(3, 2),
                     Inception(192, 64, 96, 128, 16, 32, 32), Inception(256, 128, 128, 192, 32, 96, 64), maxPool(3, 2),
                     Inception(480, 192, 96, 208, 16, 48, 64), Inception(512, 160, 112, 224, 24, 64, 64),
                     Inception(512, 128, 128, 256, 24, 64, 64), Inception(512, 112, 144, 288, 32, 64, 64),
                     Inception(528, 256, 160, 320, 32, 128, 128), maxPool(2, 2),
                     Inception(832, 256, 160, 320, 32, 128, 128), Inception(832, 384, 192, 384, 48, 128, 128));
    return std::make_shared<PooledEmbedding>(f, 1024, o);
}

} // namespace

EmbeddingNet createBackbone(const ModelOptions &o)
{
    if (o.name == "resnet18")
        return resnet({2, 2, 2, 2}, false, o);
    if (o.name == "resnet50")
        return resnet({3, 4, 6, 3}, true, o);
    if (o.name == "googlenet")
        return googlenet(o);
    return nullptr;
}

} // namespace liftlab
