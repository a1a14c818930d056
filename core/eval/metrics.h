#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace liftlab {

// Retrieval and clustering quality of an embedding on a test set, following
// the paper's protocol: every test image queries the rest of the test set.
struct Metrics
{
    double recallAt1 = 0, recallAt2 = 0, recallAt4 = 0, recallAt8 = 0;
    double mapAtR = 0;      // mean average precision at R (Musgrave et al. 2020)
    double rPrecision = 0;  // precision over the first R neighbours
    double nmi = 0;         // normalised mutual information of k-means vs labels
    double f1 = 0;          // pairwise F1 of k-means vs labels
    int64_t queries = 0;
    // Queries whose class has no other test image (R = 0). As in the
    // published protocol they are left out of MAP@R and R-precision (0 when
    // every query is one); Recall@K counts them as misses.
    int64_t singletonQueries = 0;
    // Recall@10, @100 and @1000, Stanford Online Products' (Song et al.
    // 2016): computed for test sets of more than 1,000 classes, of a few
    // images each, where 1/2/4/8 tell little apart. `largeRecall` says
    // whether they were.
    bool largeRecall = false;
    double recallAt10 = 0, recallAt100 = 0, recallAt1000 = 0;
};

// Whether a test set of `classes` classes gets Recall@10/100/1000.
inline bool wantsLargeRecall(int64_t classes)
{
    return classes > 1000;
}

// Clustering scores of an assignment against labels, from their contingency
// table. NMI uses the arithmetic mean of the entropies, 2 I / (H(Y) + H(C));
// F1 is over item pairs (same cluster vs same class), as in the lifted paper.
double normalizedMutualInformation(const std::vector<int64_t> &labels, const std::vector<int64_t> &clusters);
double pairwiseF1(const std::vector<int64_t> &labels, const std::vector<int64_t> &clusters);

// Average precision at R for one query: `relevant` flags the ranked
// neighbours (at least R of them), R = number of relevant items in the gallery.
double averagePrecisionAtR(const std::vector<bool> &relevant, int64_t r);

// One query's K results as the retrieval browser shows them: `relevant`
// flags the K ranked results, `inGallery` counts the relevant items the
// gallery holds. Precision@K is the share of the K that are relevant; AP@K
// averages the precision at each relevant rank, normalised by
// min(K, inGallery) (NaN when that is 0).
struct PrecisionAtK
{
    int64_t hits = 0;
    double precision = 0;
    double averagePrecision = 0;
};
PrecisionAtK precisionAtK(const std::vector<bool> &relevant, int64_t inGallery);

} // namespace liftlab
