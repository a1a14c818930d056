#pragma once

#include "nn/models.h"

namespace liftlab {

// resnet18, resnet50 or googlenet (randomly initialised) with a linear
// embedding head; null for another name.
EmbeddingNet createBackbone(const ModelOptions &options);

} // namespace liftlab
