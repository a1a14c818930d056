#include "data/sampler.h"

#include "error.h"
#include "train/config.h"
#include "util/mix.h"

#include <algorithm>
#include <map>
#include <set>

namespace liftlab {

std::mt19937_64 stepGenerator(uint64_t seed, int64_t step, uint64_t stream)
{
    // SplitMix64 finaliser to decorrelate neighbouring (seed, step) pairs.
    return std::mt19937_64(
        mix64(seed * 0x9E3779B97F4A7C15ull + uint64_t(step) * 0xBF58476D1CE4E5B9ull + stream * 0x94D049BB133111EBull));
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
                    + " is more than the training set allows: only " + std::to_string(m_members.size())
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

PairSampler::PairSampler(const std::vector<int64_t> &labels, int pairs, int randomImages, uint64_t seed)
    : m_size(int64_t(labels.size()))
    , m_pairs(pairs)
    , m_randomImages(randomImages)
    , m_seed(seed)
{
    if (pairs < 1 || randomImages < 0)
        throw Error("a pair batch needs at least one positive pair and no negative number of random images");
    std::map<int64_t, std::vector<int64_t>> byClass;
    for (size_t i = 0; i < labels.size(); ++i)
        byClass[labels[i]].push_back(int64_t(i));
    m_classOf.assign(labels.size(), -1);
    for (auto &entry : byClass) {
        if (entry.second.size() < 2)
            continue;
        for (int64_t i : entry.second) {
            m_classOf[size_t(i)] = int64_t(m_members.size());
            m_pairImages.push_back(i);
        }
        m_members.push_back(std::move(entry.second));
    }
    if (m_members.empty())
        throw Error("no class of the training set holds two images: there are no positive pairs");
    if (m_size < batchSize() || int64_t(m_pairImages.size()) < 2 * int64_t(pairs))
        throw Error("a batch of " + std::to_string(pairs) + " positive pairs and " + std::to_string(randomImages)
                    + " random images is more than the training set's " + std::to_string(m_size)
                    + " images allow");
}

std::vector<int64_t> PairSampler::batch(int64_t step) const
{
    std::mt19937_64 rng = stepGenerator(m_seed, step, 1);
    std::vector<int64_t> indices;
    indices.reserve(size_t(batchSize()));
    std::set<int64_t> taken;
    auto pick = [&rng](const std::vector<int64_t> &from) {
        return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
    };
    // A pair: an image that has a classmate, then one of its classmates;
    // draws that hit a taken image are repeated (a bounded number of times,
    // since the constructor checked that enough images exist).
    for (int64_t draws = 0; int(indices.size()) < 2 * m_pairs; ++draws) {
        if (draws > 1000 * int64_t(m_pairs))
            throw Error("cannot find " + std::to_string(m_pairs) + " distinct positive pairs in the training set");
        const int64_t first = pick(m_pairImages), second = pick(m_members[size_t(m_classOf[size_t(first)])]);
        if (first == second || taken.count(first) || taken.count(second))
            continue;
        taken.insert({first, second});
        indices.insert(indices.end(), {first, second});
    }
    std::uniform_int_distribution<int64_t> anyImage(0, m_size - 1);
    while (int(indices.size()) < batchSize()) {
        const int64_t image = anyImage(rng);
        if (taken.insert(image).second)
            indices.push_back(image);
    }
    return indices;
}

std::unique_ptr<Sampler> makeSampler(const ExperimentConfig &config, const std::vector<int64_t> &labels)
{
    // The global batch of a distributed run: worldSize processes' batches.
    const int w = config.worldSize;
    try {
        if (config.sampler == "pairs")
            return std::make_unique<PairSampler>(labels, w * config.pairs, w * config.randomImages, config.seed);
        return std::make_unique<PKSampler>(labels, w * config.classesPerBatch, config.perClass, config.seed);
    } catch (const Error &e) {
        if (w == 1)
            throw;
        throw Error("the global batch of " + std::to_string(w) + " ranks (each rank's batch " + std::to_string(w)
                    + " times) does not fit: " + e.what());
    }
}

} // namespace liftlab
