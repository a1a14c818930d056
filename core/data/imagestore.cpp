#include "data/imagestore.h"

#include "error.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>

namespace fs = std::filesystem;

namespace liftlab {

namespace {

// Any depth and channel count as 8-bit RGB.
cv::Mat toRgb8(const cv::Mat &in)
{
    cv::Mat m = in;
    if (m.depth() == CV_16U)
        m.convertTo(m, CV_8U, 1.0 / 257.0);
    else if (m.depth() == CV_32F || m.depth() == CV_64F)
        m.convertTo(m, CV_8U, 255.0); // saturating
    else if (m.depth() != CV_8U)
        m.convertTo(m, CV_8U);
    cv::Mat rgb;
    switch (m.channels()) {
    case 1: cv::cvtColor(m, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(m, rgb, cv::COLOR_BGRA2RGB); break;
    default: return {};
    }
    return rgb;
}

// Decodes entry into `out` (3 x S x S, zeroed): empty string, or why not.
std::string decodeInto(const ImageEntry &entry, const LoadOptions &o, uint8_t *out)
{
    std::error_code ec;
    if (!fs::is_regular_file(entry.path, ec))
        return "missing";
    cv::Mat image;
    try {
        // Any depth and gray or colour, turned as its EXIF orientation says
        // (an alpha channel is dropped).
        image = cv::imread(entry.path, cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR);
    } catch (const cv::Exception &) {
        image.release();
    }
    if (image.empty() || image.dims != 2)
        return "cannot be decoded (corrupt, or not an image)";
    cv::Mat rgb = toRgb8(image);
    if (rgb.empty())
        return "has " + std::to_string(image.channels()) + " channels";
    if (o.cropToBox && entry.box[2] > entry.box[0] && entry.box[3] > entry.box[1]) {
        // 1-based inclusive corners to a 0-based rectangle, inside the image.
        // (clamped as doubles first: a box may be anything a file says)
        auto inside = [](double v, int lo, int hi) { return int(std::clamp(v, double(lo), double(hi))); };
        const int x1 = inside(std::floor(entry.box[0]) - 1, 0, rgb.cols - 1);
        const int y1 = inside(std::floor(entry.box[1]) - 1, 0, rgb.rows - 1);
        const int x2 = inside(std::ceil(entry.box[2]), x1 + 1, rgb.cols);
        const int y2 = inside(std::ceil(entry.box[3]), y1 + 1, rgb.rows);
        rgb = rgb(cv::Rect(x1, y1, x2 - x1, y2 - y1));
    }
    const int s = o.imageSize;
    const double scale = double(s) / std::max(rgb.cols, rgb.rows);
    const int w = std::clamp(int(std::lround(rgb.cols * scale)), 1, s);
    const int h = std::clamp(int(std::lround(rgb.rows * scale)), 1, s);
    cv::Mat scaled;
    cv::resize(rgb, scaled, cv::Size(w, h), 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    const int x0 = (s - w) / 2, y0 = (s - h) / 2;
    for (int y = 0; y < h; ++y) {
        const uint8_t *row = scaled.ptr<uint8_t>(y);
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                out[(int64_t(c) * s + y0 + y) * s + x0 + x] = row[x * 3 + c];
    }
    return {};
}

} // namespace

DecodedImages decodeImages(const ImageListing &listing, const LoadOptions &o)
{
    if (o.imageSize < 8 || o.imageSize > 1024)
        throw Error("image size " + std::to_string(o.imageSize) + " is outside 8..1024");
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); // the skip report says it
    cv::setNumThreads(0); // the images are spread over our threads already
    const int64_t n = int64_t(listing.images.size());
    const int64_t pixels = 3 * int64_t(o.imageSize) * o.imageSize;
    torch::Tensor all;
    try {
        all = torch::zeros({n, 3, o.imageSize, o.imageSize}, torch::kUInt8);
    } catch (const std::exception &) {
        throw Error(std::to_string(n) + " images of " + std::to_string(o.imageSize) + " x " + std::to_string(o.imageSize)
                    + " need " + std::to_string(n * pixels >> 20) + " MiB, more than this machine can give: choose a "
                    "smaller image size");
    }
    uint8_t *data = all.data_ptr<uint8_t>();
    std::vector<std::string> problem(static_cast<size_t>(n));
    std::atomic<int64_t> next{0}, done{0};
    std::atomic<bool> stop{false};
    std::exception_ptr failure; // the first error that is not an image's own
    std::mutex failureMutex;
    auto work = [&](bool reportProgress) {
        try {
            for (int64_t i; !stop && (i = next++) < n;) {
                if (o.monitor.cancel && o.monitor.cancel->load())
                    return;
                try {
                    problem[size_t(i)] = decodeInto(listing.images[size_t(i)], o, data + i * pixels);
                } catch (const cv::Exception &e) {
                    problem[size_t(i)] = "cannot be decoded (" + e.err + ")";
                }
                const int64_t d = ++done;
                if (reportProgress && o.monitor.progress && (d % 64 == 0 || d == n))
                    o.monitor.progress(d, n);
            }
        } catch (...) { // out of memory, or the progress callback's own
            const std::lock_guard<std::mutex> lock(failureMutex);
            if (!failure)
                failure = std::current_exception();
            stop = true;
        }
    };
    {
        std::vector<std::thread> workers;
        try {
            for (int t = 1; t < std::max(1, o.threads); ++t)
                workers.emplace_back(work, false);
        } catch (const std::system_error &) {
            // fewer threads than asked for: the ones there share the work
        }
        work(true); // progress from the calling thread
        for (std::thread &t : workers)
            t.join();
    }
    if (failure)
        std::rethrow_exception(failure);
    if (o.monitor.cancel && o.monitor.cancel->load())
        throw Error("stopped while decoding the images (nothing was written)");
    if (o.monitor.progress)
        o.monitor.progress(n, n);

    DecodedImages result;
    int64_t m = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!problem[size_t(i)].empty()) {
            result.skipped.push_back({listing.images[size_t(i)].path, problem[size_t(i)]});
            continue;
        }
        if (m != i) // keep the decoded ones together at the front
            std::memcpy(data + m * pixels, data + i * pixels, size_t(pixels));
        result.kept.push_back(i);
        ++m;
    }
    result.images = all.narrow(0, 0, m); // the skipped ones' room stays with it: no second copy
    return result;
}

} // namespace liftlab
