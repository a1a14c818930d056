#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace liftlab {

// The random stream for one training step. Every random choice of step n
// (which images, how they are augmented) is drawn from a generator seeded by
// (seed, n), so a run resumed at step n sees exactly the batches it would
// have seen, and runs with the same seed see the same batches.
std::mt19937_64 stepGenerator(uint64_t seed, int64_t step, uint64_t stream);

// P x K class-balanced batches: P distinct classes, K distinct images of each.
// Its state is the step counter (see stepGenerator), which the checkpoint holds.
class PKSampler
{
public:
    // Throws liftlab::Error when fewer than P classes hold K images.
    PKSampler(const std::vector<int64_t> &labels, int classesPerBatch, int perClass, uint64_t seed);

    std::vector<int64_t> batch(int64_t step) const;
    int batchSize() const { return m_classesPerBatch * m_perClass; }

private:
    std::vector<std::vector<int64_t>> m_members; // indices of each eligible class
    int m_classesPerBatch;
    int m_perClass;
    uint64_t m_seed;
};

// K distinct integers from [0, n), Floyd's algorithm (no O(n) work).
std::vector<int64_t> sampleDistinct(int64_t n, int k, std::mt19937_64 &rng);

} // namespace liftlab
