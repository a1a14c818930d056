#pragma once

#include <torch/types.h>

#include <string>

namespace liftlab {

// Which implementation LiftLab's own kernels use. Fast: the hand-written CPU
// kernels (the lifted loss's analytic gradient, the row-wise losses, the
// Gram products, kNN), for CPU tensors. Generic: the same computations as
// torch operations, which run on any device (CUDA tensors always take it);
// on the CPU it is the reference the fast kernels are tested against.
enum class Kernels { Fast, Generic };
void setKernels(Kernels kernels); // for the whole process; Fast at start
Kernels kernels();
// Whether the hand-written CPU kernels compute on x: a CPU tensor and Kernels::Fast.
bool fastKernels(const torch::Tensor &x);

// The device named by a --device value: "cpu", "cuda", "cuda:N" or "auto"
// (CUDA when this libtorch has it and a GPU is visible, else the CPU). In a
// distributed run "cuda" and "auto" take the rank's local GPU (localRank
// modulo the GPUs visible), as torchrun's users expect. Throws
// liftlab::Error for a malformed value, for CUDA from a libtorch without it,
// and for a GPU that is not there.
torch::Device computeDevice(const std::string &spec, int localRank = 0);
// Whether the value names a device (not whether it is there).
bool isDeviceSpec(const std::string &spec);

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
// result (torch::mm with generic kernels). Not differentiable: the result
// carries no autograd history.
torch::Tensor parallelMm(const torch::Tensor &a, const torch::Tensor &b);

// The rows of x [N, K] scaled to unit length (a zero row stays zero),
// differentiable, over the intra-op threads.
torch::Tensor normalizeRows(const torch::Tensor &x);

// x x^T for x [N, K] (float or double), symmetric [N, N], not
// differentiable. With BLAS's syrk it costs half a general product: one syrk
// per diagonal block and one product for the off-diagonal block, in parallel.
torch::Tensor gram(const torch::Tensor &x);

} // namespace liftlab
