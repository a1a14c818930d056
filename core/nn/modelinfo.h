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

// A model name that is a TorchScript backbone file (.pt, .pth).
bool isScriptedBackbone(const std::string &name);

} // namespace liftlab
