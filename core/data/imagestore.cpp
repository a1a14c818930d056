#include "data/imagestore.h"

#include "error.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
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
        image = cv::imread(entry.path, cv::IMREAD_UNCHANGED);
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
        const int x1 = std::clamp(int(std::floor(entry.box[0])) - 1, 0, rgb.cols - 1);
        const int y1 = std::clamp(int(std::floor(entry.box[1])) - 1, 0, rgb.rows - 1);
        const int x2 = std::clamp(int(std::ceil(entry.box[2])), x1 + 1, rgb.cols);
        const int y2 = std::clamp(int(std::ceil(entry.box[3])), y1 + 1, rgb.rows);
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
    torch::Tensor all = torch::zeros({n, 3, o.imageSize, o.imageSize}, torch::kUInt8);
    uint8_t *data = all.data_ptr<uint8_t>();
    std::vector<std::string> problem(static_cast<size_t>(n));
    std::atomic<int64_t> next{0}, done{0};
    auto work = [&](bool reportProgress) {
        for (int64_t i; (i = next++) < n;) {
            if (o.cancel && o.cancel->load())
                return;
            problem[size_t(i)] = decodeInto(listing.images[size_t(i)], o, data + i * pixels);
            const int64_t d = ++done;
            if (reportProgress && o.progress && (d % 64 == 0 || d == n))
                o.progress(d, n);
        }
    };
    std::vector<std::thread> workers;
    for (int t = 1; t < std::max(1, o.threads); ++t)
        workers.emplace_back(work, false);
    work(true); // progress from the calling thread
    for (std::thread &t : workers)
        t.join();
    if (o.cancel && o.cancel->load())
        throw Error("loading the images was cancelled");
    if (o.progress)
        o.progress(n, n);

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
    result.images = m == n ? all : all.narrow(0, 0, m).clone();
    return result;
}

} // namespace liftlab
