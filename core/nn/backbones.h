#pragma once

#include "nn/models.h"

namespace liftlab {

// resnet18, resnet50 or googlenet (randomly initialised) with a linear
// embedding head; null for another name.
EmbeddingNet createBackbone(const ModelOptions &options);

// A backbone from a TorchScript file (isScriptedBackbone), mapping images
// to features [B, F] (or maps [B, F, h, w], pooled), with a linear
// embedding head. Throws liftlab::Error naming the file when it is not a
// TorchScript image model.
EmbeddingNet createScriptedBackbone(const ModelOptions &options);

} // namespace liftlab
