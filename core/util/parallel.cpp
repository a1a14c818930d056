#include "util/parallel.h"

#include "error.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <type_traits>

namespace liftlab {

namespace {

std::atomic<Kernels> g_kernels{Kernels::Fast};

void setBlasThreads(int threads)
{
    // Looked up at run time: the BLAS behind libtorch is whatever Debian's
    // libblas.so.3 alternative points to, and only OpenBLAS has a pool.
    using SetThreads = void (*)(int);
    static const auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (set)
        set(threads);
}

// CBLAS's syrk, looked up at run time for the same reason.
enum { RowMajor = 101, NoTrans = 111, Lower = 122 };
template <typename T>
using Syrk = void (*)(int order, int uplo, int trans, int n, int k, T alpha, const T *a, int lda, T beta, T *c, int ldc);

template <typename T>
Syrk<T> syrk()
{
    static const auto f = reinterpret_cast<Syrk<T>>(
        dlsym(RTLD_DEFAULT, std::is_same_v<T, float> ? "cblas_ssyrk" : "cblas_dsyrk"));
    return f;
}

template <typename T>
torch::Tensor gram(const torch::Tensor &x)
{
    const Syrk<T> f = syrk<T>();
    const int64_t n = x.size(0), k = x.size(1);
    if (!f || n < 64 || n > std::numeric_limits<int>::max() / std::max<int64_t>(1, n))
        return parallelMm(x, x.t());
    torch::Tensor out = torch::empty({n, n}, x.options());
    T *c = out.data_ptr<T>();
    const T *a = x.data_ptr<T>();
    const int64_t h = n / 2;
    // Lower triangle: the two diagonal blocks by syrk, the block below them
    // by a product; two tasks of equal cost.
    auto task = [&](int64_t which) {
        if (which == 0) {
            f(RowMajor, Lower, NoTrans, int(h), int(k), T(1), a, int(k), T(0), c, int(n));
            f(RowMajor, Lower, NoTrans, int(n - h), int(k), T(1), a + h * k, int(k), T(0), c + h * n + h, int(n));
        } else {
            out.narrow(0, h, n - h).narrow(1, 0, h).copy_(torch::mm(x.narrow(0, h, n - h), x.narrow(0, 0, h).t()));
        }
    };
    if (at::get_num_threads() > 1 && !at::in_parallel_region())
        at::parallel_for(0, 2, 1, [&](int64_t begin, int64_t end) {
            for (int64_t which = begin; which < end; ++which)
                task(which);
        });
    else {
        task(0);
        task(1);
    }
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j)
            c[i * n + j] = c[j * n + i];
    return out;
}

// y = x / max(||x||, eps) row by row, and dL/dx = (g - y (y . g)) / ||x||
// (g / eps where the norm is clamped). Autograd's version (a norm, a clamp,
// a broadcast division) spent most of a proxy loss's time in the division's
// backward pass.
class NormalizeRowsFunction : public torch::autograd::Function<NormalizeRowsFunction>
{
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x)
    {
        const torch::Tensor rawNorm = x.norm(2, 1, true);
        const torch::Tensor norm = rawNorm.clamp_min(1e-12);
        const torch::Tensor y = x / norm;
        ctx->save_for_backward({y, norm, rawNorm.ge(1e-12)});
        return y;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        const auto saved = ctx->get_saved_variables();
        const torch::Tensor &y = saved[0], &norm = saved[1], &unclamped = saved[2];
        const torch::Tensor &g = gradOutputs[0];
        const torch::Tensor dot = (y * g).sum(1, true) * unclamped;
        return {(g - y * dot) / norm};
    }
};

} // namespace

void setKernels(Kernels k)
{
    g_kernels = k;
}

Kernels kernels()
{
    return g_kernels;
}

bool fastKernels(const torch::Tensor &x)
{
    return g_kernels == Kernels::Fast && x.device().is_cpu();
}

bool isDeviceSpec(const std::string &spec)
{
    if (spec == "cpu" || spec == "cuda" || spec == "auto")
        return true;
    const std::string prefix = "cuda:";
    return spec.size() > prefix.size() && spec.compare(0, prefix.size(), prefix) == 0
           && spec.size() - prefix.size() <= 3
           && std::all_of(spec.begin() + prefix.size(), spec.end(), [](char c) { return c >= '0' && c <= '9'; });
}

torch::Device computeDevice(const std::string &spec, int localRank)
{
    if (!isDeviceSpec(spec))
        throw Error("device '" + spec + "' is not one of cpu, cuda, cuda:N or auto");
    if (spec == "cpu")
        return torch::kCPU;
    const int64_t gpus = at::hasCUDA() ? int64_t(torch::cuda::device_count()) : 0;
    if (spec == "auto" && gpus == 0)
        return torch::kCPU;
    if (!at::hasCUDA())
        throw Error("device '" + spec + "': this LiftLab was built against a libtorch without CUDA (README: GPUs)");
    if (gpus == 0)
        throw Error("device '" + spec + "': CUDA sees no GPU here (is CUDA_VISIBLE_DEVICES empty, or the driver missing?)");
    const int64_t index = spec.rfind("cuda:", 0) == 0 ? std::stoll(spec.substr(5)) : localRank % gpus;
    if (index >= gpus)
        throw Error("device '" + spec + "': CUDA sees " + std::to_string(gpus) + (gpus == 1 ? " GPU" : " GPUs")
                    + ", numbered from 0");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

torch::Tensor normalizeRows(const torch::Tensor &x)
{
    if (!fastKernels(x))
        return x / x.norm(2, 1, true).clamp_min(1e-12);
    return NormalizeRowsFunction::apply(x);
}

torch::Tensor gram(const torch::Tensor &xIn)
{
    const torch::Tensor x = xIn.detach().contiguous(); // see parallelMm
    if (!fastKernels(x))
        return torch::mm(x, x.t());
    if (x.scalar_type() == torch::kFloat64)
        return gram<double>(x);
    if (x.scalar_type() == torch::kFloat32)
        return gram<float>(x);
    return parallelMm(x, x.t());
}

void prepareCompute(int threads)
{
    at::set_num_threads(std::max(1, threads));
    setBlasThreads(1);
    // Keep freed memory in the process. Each training step frees and
    // re-allocates the same activation buffers; with glibc's defaults the
    // larger ones go back to the kernel (munmap, trimming) and come back as
    // fresh pages to fault in and zero, ~20% of a Fashion-MNIST step.
    mallopt(M_MMAP_THRESHOLD, 32 << 20); // glibc's largest: 32 MiB
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 64 << 20);
}

torch::Tensor parallelMm(const torch::Tensor &aIn, const torch::Tensor &bIn)
{
    // Grad mode is per thread and the OpenMP workers start with it on: the
    // operands are detached so that no worker tries to record a graph.
    const torch::Tensor a = aIn.detach(), b = bIn.detach();
    if (!fastKernels(a))
        return torch::mm(a, b);
    const int64_t rows = a.size(0);
    // Below ~16 rows a thread the split costs more than it gains.
    constexpr int64_t grain = 16;
    if (at::get_num_threads() == 1 || rows < 2 * grain || at::in_parallel_region())
        return torch::mm(a, b);
    torch::Tensor out = torch::empty({rows, b.size(1)}, a.options());
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
        torch::Tensor slice = out.narrow(0, begin, end - begin);
        torch::mm_out(slice, a.narrow(0, begin, end - begin), b);
    });
    return out;
}

} // namespace liftlab
