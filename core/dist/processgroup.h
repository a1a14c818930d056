#pragma once

#include "dist/rankenv.h"

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace liftlab {

// The processes of one distributed run, joined into one torch.distributed
// (c10d) process group: NCCL when the device is a GPU and the libtorch has
// NCCL, else Gloo over TCP; rendezvous through a c10d TCPStore
// that rank 0 hosts at MASTER_ADDR:MASTER_PORT (under torchrun, the one
// its agent hosts there), as torch.distributed's env:// initialisation does.
//
// Every collective waits at most `timeout` for the others. When a rank has
// died (its sockets close at once) or hangs (the timeout), the call throws
// liftlab::Error naming the ranks that no longer answer, found by a
// heartbeat each rank keeps in the store; the caller then ends as any
// failed run does, keeping its last checkpoint.
//
// Collectives take tensors on any device: they travel on the backend's
// (the GPU for NCCL, the CPU for Gloo) and come back where they were.
class ProcessGroup
{
public:
    // Waits up to 10 minutes for every rank to join. Throws liftlab::Error
    // when they do not, or when the address cannot be used.
    // `device`: the rank's training device (util/parallel.h: computeDevice).
    ProcessGroup(const RankEnvironment &env, std::chrono::milliseconds timeout, torch::Device device = torch::kCPU);
    ~ProcessGroup();
    ProcessGroup(const ProcessGroup &) = delete;
    ProcessGroup &operator=(const ProcessGroup &) = delete;

    int rank() const;
    int size() const;
    int localRank() const; // among the ranks on this machine
    // "nccl" or "gloo".
    std::string backend() const;
    // Wall time spent in this rank's collectives so far (each from its
    // start to the end of its wait, which includes waiting for slower ranks).
    double communicationSeconds() const;

    // Rank 0's values into every rank's tensors, in place (in buckets, as
    // allReduceSum's).
    void broadcast(const std::vector<torch::Tensor> &tensors);
    // Rank 0's bytes to every rank (what the others pass is ignored).
    std::string broadcast(const std::string &bytes);
    // The sum over ranks, in place. Consecutive tensors travel together in
    // flat buckets of up to 16 MB (a larger tensor alone), all of them in
    // flight at once, instead of one message per tensor. (DDP's reducer
    // also starts each bucket during the backward pass; here they start
    // after it.)
    void allReduceSum(const std::vector<torch::Tensor> &tensors);
    // Whether any rank passed true: a stop that every rank sees at the same step.
    bool any(bool value);
    // Every rank's rows [n_r, ...], concatenated in rank order; the counts
    // may differ between ranks. Not differentiable.
    torch::Tensor allGatherRows(const torch::Tensor &rows);
    // The same when every rank has the same count (one collective instead of two).
    torch::Tensor allGatherEqual(const torch::Tensor &rows);
    // Waits up to `patience` for every rank to get here and returns
    // whether any passed true. For the points that ranks reach after lone
    // work of uneven length (loading the dataset, rank 0 computing the
    // metrics of an evaluation or writing a checkpoint), which may take
    // longer than the group's timeout: it waits on the rendezvous store,
    // not on Gloo, and ends early when a rank's heartbeat stops. `what`
    // ("evaluating step 200") names the point in the error thrown.
    bool waitForAll(bool value, std::chrono::milliseconds patience, const std::string &what);

    // Differentiable collectives, for the loss and batch norm.
    //
    // Every rank's rows [b, ...] (the same b on every rank), concatenated
    // in rank order [size() * b, ...]. The gradient that flows back to a
    // rank's rows is the sum over ranks of the gradients of their copies of
    // those rows (a reduce-scatter): when every rank computes its share
    // L / size() of one loss L of the gathered rows, each rank's rows get
    // dL/d(rows), exactly what a single process computing L gets.
    torch::Tensor allGather(const torch::Tensor &rows);
    // The sum over ranks. Its gradient is the sum over ranks too (the
    // all-reduce is its own adjoint).
    torch::Tensor allReduce(const torch::Tensor &x);

private:
    void stopHeartbeat();
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace liftlab
