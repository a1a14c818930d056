#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace liftlab {

// Watching an image dataset decode: progress(done, total) now and then on
// the loading thread, and a flag that, once set, makes loading throw Error.
struct LoadMonitor
{
    std::function<void(int64_t done, int64_t total)> progress;
    const std::atomic<bool> *cancel = nullptr;
};

// An image of an image dataset that could not be used.
struct SkippedImage
{
    std::string path;
    std::string reason; // "missing", "cannot be decoded ...", ...
};

} // namespace liftlab
