#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <string>

namespace liftlab {

// A checkpoint holds the model (parameters and buffers), the loss's learned
// parameters (proxies, a margin) when it has any, the optimizer state,
// the finished step count (which is the sampler's whole state, see
// stepGenerator) and the experiment config as JSON text.
struct CheckpointInfo
{
    int64_t step = 0;
    std::string configJson;
};

// Written to a temporary file and renamed, so the previous checkpoint
// survives any failure (disk full, a kill mid-write).
void saveCheckpoint(const std::string &path, torch::nn::Module &model, torch::nn::Module *loss,
                    torch::optim::Optimizer *optimizer, const CheckpointInfo &info);

// Throws liftlab::Error naming the file for a missing, corrupt or
// incompatible checkpoint. `loss` and `optimizer` may be null (evaluation
// only).
CheckpointInfo loadCheckpoint(const std::string &path, torch::nn::Module &model, torch::nn::Module *loss,
                              torch::optim::Optimizer *optimizer);
// The same from the checked bytes of the file at `path` (readZipArchive):
// the ranks of a distributed run load what rank 0 read.
CheckpointInfo loadCheckpointBytes(const std::string &bytes, const std::string &path, torch::nn::Module &model,
                                   torch::nn::Module *loss, torch::optim::Optimizer *optimizer);

} // namespace liftlab

#include "nn/models.h"
#include "train/rundirectory.h"

namespace liftlab {

// The network an experiment trains, initialised from its seed: the same
// weights every time for the same config.
EmbeddingNet createModelFor(const ExperimentConfig &config, int64_t inChannels);

// The trained network of a run: built from its config, weights from its last
// checkpoint. Throws liftlab::Error if either is missing or does not fit.
EmbeddingNet loadRunModel(const RunDirectory &run, int64_t inChannels);

} // namespace liftlab
