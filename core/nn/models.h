#pragma once

#include "nn/modelinfo.h"

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace liftlab {

struct ModelOptions
{
    std::string name = "convnet-small";
    int64_t embeddingDim = 64;
    bool normalize = false; // L2-normalise the embedding (off in the paper)
    int64_t inChannels = 1;
    bool freezeBatchNorm = false; // TorchScript backbones: batch norm keeps its statistics
};

// Every embedding network maps a normalised image batch [B, C, H, W] to
// embeddings [B, d].
class EmbeddingNetImpl : public torch::nn::Module
{
public:
    virtual torch::Tensor forward(torch::Tensor images) = 0;
    // Where its parameters live (the CPU for a network without any).
    torch::Device device() const;
};
using EmbeddingNet = std::shared_ptr<EmbeddingNetImpl>;

// Throws liftlab::Error for an unknown name or an embedding size outside 2..4096.
EmbeddingNet createModel(const ModelOptions &options);

} // namespace liftlab
