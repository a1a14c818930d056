#pragma once

#include <torch/types.h>

namespace liftlab {

// One place sets how many threads LiftLab computes with. torch's intra-op
// pool (OpenMP) gets `threads`; OpenBLAS is kept on the calling thread.
// OpenBLAS's own pool would spin (sched_yield) for a long while after each
// call, and on a machine with few cores it then competes with the OpenMP
// threads that run the convolutions: single-threaded BLAS inside OpenMP
// regions (parallelMm) is faster for every size LiftLab uses. Freed memory
// is kept for reuse (mallopt) instead of going back to the kernel.
void prepareCompute(int threads);

// a [M, K] x b [K, N] with the rows of a split over the intra-op threads,
// each block one single-threaded BLAS call writing into its rows of the
// result. Not differentiable: the result carries no autograd history.
torch::Tensor parallelMm(const torch::Tensor &a, const torch::Tensor &b);

// The rows of x [N, K] scaled to unit length (a zero row stays zero),
// differentiable, over the intra-op threads.
torch::Tensor normalizeRows(const torch::Tensor &x);

// x x^T for x [N, K] (float or double), symmetric [N, N]. With BLAS's syrk
// it costs half a general product: one syrk per diagonal block and one
// product for the off-diagonal block, in parallel.
torch::Tensor gram(const torch::Tensor &x);

} // namespace liftlab
