#include "nn/batchnorm.h"

#include <torch/nn/functional/batchnorm.h>

namespace liftlab {

BatchNorm2dImpl::BatchNorm2dImpl(const torch::nn::BatchNormOptions &o)
    : options(o)
{
    reset();
}

void BatchNorm2dImpl::reset()
{
    const int64_t n = options.num_features();
    if (options.affine()) {
        weight = register_parameter("weight", torch::ones({n}));
        bias = register_parameter("bias", torch::zeros({n}));
    }
    if (options.track_running_stats()) {
        running_mean = register_buffer("running_mean", torch::zeros({n}));
        running_var = register_buffer("running_var", torch::ones({n}));
        num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
    }
}

void BatchNorm2dImpl::pretty_print(std::ostream &stream) const
{
    stream << "liftlab::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps() << ")";
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor &x)
{
    const bool training = is_training();
    // The running average's weight, as libtorch's: the momentum, or a
    // cumulative average without one.
    double momentum = 0;
    if (training && options.track_running_stats()) {
        num_batches_tracked += 1;
        momentum = options.momentum() ? *options.momentum() : 1.0 / num_batches_tracked.item<double>();
    }
    if (!training || !m_reduce)
        return torch::nn::functional::detail::batch_norm(x, running_mean, running_var, weight, bias,
                                                         training || !options.track_running_stats(), momentum,
                                                         options.eps());

    const int64_t channels = x.size(1);
    const std::vector<int64_t> dims{0, 2, 3};
    const std::vector<int64_t> perChannel{1, channels, 1, 1};
    // The sums and the count in one message, then the squared deviations.
    const torch::Tensor local = torch::cat({x.sum(dims), torch::full({1}, double(x.numel() / channels), x.options())});
    const torch::Tensor total = m_reduce(local);
    const torch::Tensor count = total.narrow(0, channels, 1).detach();
    const torch::Tensor mean = total.narrow(0, 0, channels) / count;
    const torch::Tensor centred = x - mean.view(perChannel);
    const torch::Tensor variance = m_reduce(centred.square().sum(dims)) / count;
    if (options.track_running_stats()) {
        torch::NoGradGuard noGrad;
        const double n = count.item<double>();
        running_mean.mul_(1 - momentum).add_(mean.detach(), momentum);
        running_var.mul_(1 - momentum).add_(variance.detach() * (n / std::max(n - 1, 1.0)), momentum);
    }
    torch::Tensor y = centred * torch::rsqrt(variance + options.eps()).view(perChannel);
    if (options.affine())
        y = y * weight.view(perChannel) + bias.view(perChannel);
    return y;
}

int synchronizeBatchNorm(torch::nn::Module &model, const BatchNorm2dImpl::Reduce &reduce)
{
    int found = 0;
    for (const std::shared_ptr<torch::nn::Module> &m : model.modules())
        if (auto *bn = dynamic_cast<BatchNorm2dImpl *>(m.get())) {
            bn->setReduce(reduce);
            ++found;
        }
    return found;
}

} // namespace liftlab
