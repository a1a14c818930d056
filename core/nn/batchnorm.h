#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>

#include <functional>
#include <ostream>

namespace liftlab {

// 2-D batch norm as libtorch's BatchNorm2d (the same parameter and buffer
// names, initialisation and kernel), whose training statistics can also
// span the processes of a distributed run, as torch.nn.SyncBatchNorm does.
// Once given a function that sums a tensor over the ranks
// (differentiably), each training forward computes the per-channel mean
// and variance of the global batch in two passes (the sums, then the
// squared deviations from the global mean) and normalises with them.
// Evaluation uses the running statistics, as always.
//
// Its own class rather than a subclass of torch::nn::BatchNorm2dImpl:
// libtorch does not export that base's virtual functions.
class BatchNorm2dImpl : public torch::nn::Cloneable<BatchNorm2dImpl>
{
public:
    using Reduce = std::function<torch::Tensor(const torch::Tensor &)>;

    explicit BatchNorm2dImpl(const torch::nn::BatchNormOptions &options);
    explicit BatchNorm2dImpl(int64_t features)
        : BatchNorm2dImpl(torch::nn::BatchNormOptions(features))
    {
    }

    void reset() override;
    void pretty_print(std::ostream &stream) const override;
    torch::Tensor forward(const torch::Tensor &x);

    // An empty function: per-process statistics.
    void setReduce(Reduce reduce) { m_reduce = std::move(reduce); }

    torch::nn::BatchNormOptions options;
    torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

private:
    Reduce m_reduce;
};
TORCH_MODULE(BatchNorm2d);

// Sets `reduce` on every BatchNorm2d of `model`; returns how many there are.
int synchronizeBatchNorm(torch::nn::Module &model, const BatchNorm2dImpl::Reduce &reduce);

} // namespace liftlab
