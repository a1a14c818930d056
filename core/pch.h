// Precompiled for every target that uses torch: <torch/torch.h> alone costs
// ~20 s per file on these machines.
#pragma once
#include <torch/torch.h>
