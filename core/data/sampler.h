#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace liftlab {

struct ExperimentConfig;

// The random stream for one training step. Every random choice of step n
// (which images, how they are augmented) is drawn from a generator seeded by
// (seed, n), so a run resumed at step n sees exactly the batches it would
// have seen, and runs with the same seed see the same batches.
std::mt19937_64 stepGenerator(uint64_t seed, int64_t step, uint64_t stream);

// Chooses the training images of each step. A sampler's state is the step
// counter (see stepGenerator), which the checkpoint holds.
class Sampler
{
public:
    virtual ~Sampler() = default;
    virtual std::vector<int64_t> batch(int64_t step) const = 0;
    virtual int batchSize() const = 0;
};

// P x K class-balanced batches: P distinct classes, K distinct images of each.
class PKSampler : public Sampler
{
public:
    // Throws liftlab::Error when fewer than P classes hold K images.
    PKSampler(const std::vector<int64_t> &labels, int classesPerBatch, int perClass, uint64_t seed);

    std::vector<int64_t> batch(int64_t step) const override;
    int batchSize() const override { return m_classesPerBatch * m_perClass; }

private:
    std::vector<std::vector<int64_t>> m_members; // indices of each eligible class
    int m_classesPerBatch;
    int m_perClass;
    uint64_t m_seed;
};

// The paper's batches (Song et al. 2016, section 5): `pairs` positive pairs,
// two images each of a class chosen at random (a class may give several
// pairs), then `randomImages` more images drawn uniformly from the rest of
// the training set, the negatives. All images of a batch are distinct.
class PairSampler : public Sampler
{
public:
    // Throws liftlab::Error when no class holds two images or the training
    // set is smaller than a batch.
    PairSampler(const std::vector<int64_t> &labels, int pairs, int randomImages, uint64_t seed);

    std::vector<int64_t> batch(int64_t step) const override;
    int batchSize() const override { return 2 * m_pairs + m_randomImages; }

private:
    std::vector<std::vector<int64_t>> m_members; // images of each class with two or more
    std::vector<int64_t> m_classOf;              // image -> its m_members slot, -1 if none
    std::vector<int64_t> m_pairImages;           // every image that has a classmate
    int64_t m_size;
    int m_pairs;
    int m_randomImages;
    uint64_t m_seed;
};

// The sampler an experiment trains with (its `sampler` field) over the
// labels of its training images. It draws the global batch of a
// distributed run (config.batchSize()); each process takes its slice. Throws liftlab::Error when its batches
// cannot be drawn from them.
std::unique_ptr<Sampler> makeSampler(const ExperimentConfig &config, const std::vector<int64_t> &labels);

// K distinct integers from [0, n), Floyd's algorithm (no O(n) work).
std::vector<int64_t> sampleDistinct(int64_t n, int k, std::mt19937_64 &rng);

} // namespace liftlab
