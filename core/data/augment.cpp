#include "data/augment.h"

#include "error.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

namespace liftlab {

Augmentation augmentationFromString(const std::string &name)
{
    if (name == "pad-crop")
        return Augmentation::PadCrop;
    if (name == "paper")
        return Augmentation::Paper;
    if (name == "resized-crop")
        return Augmentation::ResizedCrop;
    throw Error("unknown augmentation '" + name + "' (expected pad-crop, paper or resized-crop)");
}

int64_t inputSide(Augmentation a, int64_t side)
{
    switch (a) {
    case Augmentation::Paper: return std::max<int64_t>(1, std::lround(double(side) * 227.0 / 256.0));
    case Augmentation::ResizedCrop: return std::max<int64_t>(1, std::lround(double(side) * 224.0 / 256.0));
    default: return side;
    }
}

namespace {

// The part of the source image (h x w) an output image (oh x ow) shows: the
// output pixel (y, x) samples the source at (y0 + (y + 0.5) * wh / oh - 0.5, ...).
struct Window
{
    double x0 = 0, y0 = 0, ww = 0, wh = 0;
    bool flip = false;
};

Window trainingWindow(const AugmentOptions &a, int64_t h, int64_t w, int64_t oh, int64_t ow, std::mt19937_64 &rng)
{
    Window win{double((w - ow) / 2), double((h - oh) / 2), double(ow), double(oh), false};
    switch (a.kind) {
    case Augmentation::PadCrop: {
        std::uniform_int_distribution<int> offset(-a.padding, a.padding);
        win.y0 += offset(rng);
        win.x0 += offset(rng);
        break;
    }
    case Augmentation::Paper:
        win.y0 = double(std::uniform_int_distribution<int64_t>(0, h - oh)(rng));
        win.x0 = double(std::uniform_int_distribution<int64_t>(0, w - ow)(rng));
        break;
    case Augmentation::ResizedCrop: {
        // Inception's: up to 10 tries at a window inside the image, else all of it.
        std::uniform_real_distribution<double> area(0.08, 1.0), logRatio(std::log(3.0 / 4.0), std::log(4.0 / 3.0));
        win = {0, 0, double(w), double(h), false};
        for (int attempt = 0; attempt < 10; ++attempt) {
            const double target = area(rng) * double(h * w), ratio = std::exp(logRatio(rng));
            const double ww = std::round(std::sqrt(target * ratio)), wh = std::round(std::sqrt(target / ratio));
            if (ww < 1 || wh < 1 || ww > double(w) || wh > double(h))
                continue;
            win = {double(std::uniform_int_distribution<int64_t>(0, w - int64_t(ww))(rng)),
                   double(std::uniform_int_distribution<int64_t>(0, h - int64_t(wh))(rng)), ww, wh, false};
            break;
        }
        break;
    }
    }
    win.flip = a.flip && (rng() & 1);
    return win;
}

} // namespace

torch::Tensor makeBatch(const Dataset &data, const std::vector<int64_t> &indices, const Normalization &norm,
                        const AugmentOptions &augment, std::mt19937_64 *rng, int64_t first, int64_t stride, int workers)
{
    const int64_t c = data.images.channels(), h = data.images.height(), w = data.images.width();
    const int64_t oh = norm.cropSide > 0 ? std::min(norm.cropSide, h) : h;
    const int64_t ow = norm.cropSide > 0 ? std::min(norm.cropSide, w) : w;
    const int64_t total = int64_t(indices.size());
    stride = std::max<int64_t>(stride, 1);
    first = std::clamp<int64_t>(first, 0, total);
    const int64_t b = (total - first + stride - 1) / stride;
    torch::Tensor out = torch::empty({b, c, oh, ow}, torch::kFloat32);
    float *dst = out.data_ptr<float>();
    const bool doAugment = augment.enabled && rng;
    // Every image's window, drawn in order, so that each is the same whichever share is made.
    std::vector<Window> windows;
    if (doAugment)
        for (int64_t n = 0; n < total; ++n)
            windows.push_back(trainingWindow(augment, h, w, oh, ow, *rng));

    // Image n of the batch; each depends on its window only, so the workers
    // may make them in any order.
    auto make = [&](int64_t n, uint8_t *buffer) {
        const int64_t position = first + n * stride;
        // Evaluation (and training without augmentation): the centre, on whole pixels.
        const Window win = doAugment ? windows[size_t(position)]
                                     : Window{double((w - ow) / 2), double((h - oh) / 2), double(ow), double(oh), false};
        const uint8_t *image = data.images.pixels(indices[size_t(position)], buffer);
        const bool exact = win.ww == double(ow) && win.wh == double(oh) && win.x0 == std::floor(win.x0)
                           && win.y0 == std::floor(win.y0);
        const double sx = win.ww / double(ow), sy = win.wh / double(oh);
        for (int64_t ch = 0; ch < c; ++ch) {
            const float scale = 1.0f / (255.0f * norm.std[size_t(ch)]);
            const float shift = -norm.mean[size_t(ch)] / norm.std[size_t(ch)];
            const uint8_t *plane = image + ch * h * w;
            // Outside the image: black for the exact crops (pad-crop pads with
            // zeros), the nearest edge pixel for the scaled ones.
            auto at = [&](int64_t y, int64_t x) { return y >= 0 && y < h && x >= 0 && x < w ? plane[y * w + x] : 0; };
            auto edge = [&](int64_t y, int64_t x) {
                return plane[std::clamp<int64_t>(y, 0, h - 1) * w + std::clamp<int64_t>(x, 0, w - 1)];
            };
            float *target = dst + ((n * c) + ch) * oh * ow;
            for (int64_t y = 0; y < oh; ++y)
                for (int64_t x = 0; x < ow; ++x) {
                    const int64_t fx0 = win.flip ? ow - 1 - x : x;
                    float v;
                    if (exact) {
                        v = at(y + int64_t(win.y0), fx0 + int64_t(win.x0));
                    } else { // bilinear
                        const double fy = win.y0 + (double(y) + 0.5) * sy - 0.5;
                        const double fx = win.x0 + (double(fx0) + 0.5) * sx - 0.5;
                        const int64_t y0 = int64_t(std::floor(fy)), x0 = int64_t(std::floor(fx));
                        const double ty = fy - double(y0), tx = fx - double(x0);
                        v = float((1 - ty) * ((1 - tx) * edge(y0, x0) + tx * edge(y0, x0 + 1))
                                  + ty * ((1 - tx) * edge(y0 + 1, x0) + tx * edge(y0 + 1, x0 + 1)));
                    }
                    target[y * ow + x] = v * scale + shift;
                }
        }
    };
    // Images from a file are read into a buffer per worker first.
    const size_t bufferSize = data.images.inMemory() ? 0 : size_t(data.images.imageBytes());
    workers = int(std::clamp<int64_t>(workers, 1, std::max<int64_t>(b, 1)));
    std::exception_ptr failure;
    std::mutex failureMutex;
    std::atomic<int64_t> next{0};
    auto work = [&] {
        try {
            std::vector<uint8_t> buffer(bufferSize);
            for (int64_t n; (n = next++) < b;)
                make(n, buffer.data());
        } catch (...) { // a file that cannot be read
            const std::lock_guard<std::mutex> lock(failureMutex);
            if (!failure)
                failure = std::current_exception();
            next = b;
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(size_t(workers));
    try {
        for (int t = 1; t < workers; ++t)
            threads.emplace_back(work);
    } catch (const std::system_error &) {
        // fewer threads than asked for: the ones there share the work
    }
    work();
    for (std::thread &t : threads)
        t.join();
    if (failure)
        std::rethrow_exception(failure);
    return out;
}

} // namespace liftlab
