#pragma once

#include "eval/metrics.h"

#include <cstdint>
#include <string>
#include <vector>

namespace liftlab {

// What the trainer reports, as plain copyable values: nothing here refers to
// a tensor, so events can cross threads and processes freely.

struct TrainingStep
{
    int64_t step = 0;       // 1-based number of the finished step
    int64_t iterations = 0; // total steps of the run
    double loss = 0;
    double learningRate = 0;
    double imagesPerSec = 0;
    double activeFraction = 0;
    double elapsedSeconds = 0;
};

struct EvalReport
{
    int64_t step = 0;
    Metrics metrics;
    double seconds = 0; // time the evaluation took
};

// The batch's pairwise distances, for the heatmap.
struct DistanceSnapshot
{
    int64_t step = 0;
    int64_t size = 0;               // B
    std::vector<float> distances;   // B x B, row-major
    std::vector<float> pairTerms;   // B x B loss term per pair (may be empty)
    std::vector<int64_t> labels;    // B
    std::vector<int64_t> indices;   // B dataset indices of the images
};

} // namespace liftlab
