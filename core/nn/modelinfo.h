#pragma once

// The model registry as the GUI and CLI see it, without torch.

#include <string>
#include <vector>

namespace liftlab {

struct ModelInfo
{
    std::string name;
    std::string description;
};

const std::vector<ModelInfo> &modelRegistry();

} // namespace liftlab
