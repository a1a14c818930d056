#include "data/sampler.h"

#include "error.h"

#include <algorithm>
#include <map>

namespace liftlab {

std::mt19937_64 stepGenerator(uint64_t seed, int64_t step, uint64_t stream)
{
    // SplitMix64 finaliser to decorrelate neighbouring (seed, step) pairs.
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + uint64_t(step) * 0xBF58476D1CE4E5B9ull + stream * 0x94D049BB133111EBull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return std::mt19937_64(z ^ (z >> 31));
}

std::vector<int64_t> sampleDistinct(int64_t n, int k, std::mt19937_64 &rng)
{
    std::vector<int64_t> chosen;
    chosen.reserve(size_t(k));
    for (int64_t j = n - k; j < n; ++j) {
        const int64_t t = std::uniform_int_distribution<int64_t>(0, j)(rng);
        const bool seen = std::find(chosen.begin(), chosen.end(), t) != chosen.end();
        chosen.push_back(seen ? j : t);
    }
    return chosen;
}

PKSampler::PKSampler(const std::vector<int64_t> &labels, int classesPerBatch, int perClass, uint64_t seed)
    : m_classesPerBatch(classesPerBatch)
    , m_perClass(perClass)
    , m_seed(seed)
{
    if (classesPerBatch < 2)
        throw Error("classes per batch must be at least 2 (a batch needs negatives)");
    if (perClass < 2)
        throw Error("images per class must be at least 2 (a batch needs positive pairs)");
    std::map<int64_t, std::vector<int64_t>> byClass;
    for (size_t i = 0; i < labels.size(); ++i)
        byClass[labels[i]].push_back(int64_t(i));
    for (auto &entry : byClass)
        if (int(entry.second.size()) >= perClass)
            m_members.push_back(std::move(entry.second));
    if (int(m_members.size()) < classesPerBatch)
        throw Error("P x K = " + std::to_string(classesPerBatch) + " x " + std::to_string(perClass)
                    + " is more than the training split allows: only " + std::to_string(m_members.size())
                    + " of " + std::to_string(byClass.size()) + " classes hold " + std::to_string(perClass)
                    + " images");
}

std::vector<int64_t> PKSampler::batch(int64_t step) const
{
    std::mt19937_64 rng = stepGenerator(m_seed, step, 1);
    std::vector<int64_t> indices;
    indices.reserve(size_t(batchSize()));
    for (int64_t c : sampleDistinct(int64_t(m_members.size()), m_classesPerBatch, rng)) {
        const std::vector<int64_t> &members = m_members[size_t(c)];
        for (int64_t i : sampleDistinct(int64_t(members.size()), m_perClass, rng))
            indices.push_back(members[size_t(i)]);
    }
    return indices;
}

} // namespace liftlab
