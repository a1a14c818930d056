#include "data/imagestore.h"

#include "error.h"
#include "util/atomicfile.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
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

} // namespace

std::string decodeImage(const ImageEntry &entry, int side, bool cropToBox, uint8_t *out)
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
    if (cropToBox && entry.box[2] > entry.box[0] && entry.box[3] > entry.box[1]) {
        // 1-based inclusive corners to a 0-based rectangle, inside the image.
        // (clamped as doubles first: a box may be anything a file says)
        auto inside = [](double v, int lo, int hi) { return int(std::clamp(v, double(lo), double(hi))); };
        const int x1 = inside(std::floor(entry.box[0]) - 1, 0, rgb.cols - 1);
        const int y1 = inside(std::floor(entry.box[1]) - 1, 0, rgb.rows - 1);
        const int x2 = inside(std::ceil(entry.box[2]), x1 + 1, rgb.cols);
        const int y2 = inside(std::ceil(entry.box[3]), y1 + 1, rgb.rows);
        rgb = rgb(cv::Rect(x1, y1, x2 - x1, y2 - y1));
    }
    const int s = side;
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

namespace {

DecodedImages decodeAll(const ImageListing &listing, const LoadOptions &o)
{
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
                    problem[size_t(i)] = decodeImage(listing.images[size_t(i)], o.imageSize, o.cropToBox, data + i * pixels);
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

// ---- the cache -------------------------------------------------------------

// Bump the digit when decodeInto's output changes: old files are then decoded again.
constexpr char cacheMagic[8] = {'L', 'L', 'I', 'M', 'G', 'S', '1', '\n'};
constexpr int maxCachedDatasets = 4;
constexpr uintmax_t keepFreeBytes = uintmax_t(1) << 30;

// What the decoded images depend on: the size, the box crop and, image by
// image, its path, box, file size and modification time. 64-bit FNV-1a.
uint64_t cacheKey(const ImageListing &listing, const LoadOptions &o)
{
    uint64_t h = 1469598103934665603ull;
    auto add = [&h](const void *data, size_t size) {
        for (size_t i = 0; i < size; ++i)
            h = (h ^ static_cast<const uint8_t *>(data)[i]) * 1099511628211ull;
    };
    auto addValue = [&add](const auto &v) { add(&v, sizeof v); };
    addValue(o.imageSize);
    addValue(o.cropToBox);
    for (const ImageEntry &e : listing.images) {
        add(e.path.data(), e.path.size() + 1);
        if (o.cropToBox)
            add(e.box.data(), sizeof e.box);
        std::error_code ec;
        const uintmax_t size = fs::file_size(e.path, ec);
        addValue(ec ? uintmax_t(-1) : size);
        const auto time = fs::last_write_time(e.path, ec);
        addValue(ec ? int64_t(-1) : int64_t(time.time_since_epoch().count()));
    }
    return h;
}

fs::path cachePath(const std::string &folder, uint64_t key)
{
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.images", static_cast<unsigned long long>(key));
    return fs::path(folder) / name;
}

void writeString(std::ostream &out, const std::string &s)
{
    const uint32_t n = uint32_t(s.size());
    out.write(reinterpret_cast<const char *>(&n), sizeof n);
    out.write(s.data(), std::streamsize(n));
}

bool readString(std::istream &in, std::string &s)
{
    uint32_t n = 0;
    if (!in.read(reinterpret_cast<char *>(&n), sizeof n) || n > (1u << 20))
        return false;
    s.resize(n);
    return bool(in.read(s.data(), std::streamsize(n)));
}

// The cached images, or nothing when there are none or the file is not
// whole (it is then removed).
std::optional<DecodedImages> readCache(const fs::path &path, uint64_t key, const ImageListing &listing,
                                       const LoadOptions &o)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    auto bad = [&path] {
        std::error_code ec;
        fs::remove(path, ec);
        return std::nullopt;
    };
    char magic[sizeof cacheMagic];
    uint64_t fileKey = 0;
    int64_t side = 0, total = 0, m = 0, skipped = 0;
    in.read(magic, sizeof magic);
    in.read(reinterpret_cast<char *>(&fileKey), sizeof fileKey);
    in.read(reinterpret_cast<char *>(&side), sizeof side);
    in.read(reinterpret_cast<char *>(&total), sizeof total);
    in.read(reinterpret_cast<char *>(&m), sizeof m);
    const int64_t n = int64_t(listing.images.size());
    if (!in || std::memcmp(magic, cacheMagic, sizeof magic) != 0 || fileKey != key || side != o.imageSize
        || total != n || m < 0 || m > n)
        return bad();
    DecodedImages d;
    d.kept.resize(size_t(m));
    in.read(reinterpret_cast<char *>(d.kept.data()), std::streamsize(m * sizeof(int64_t)));
    in.read(reinterpret_cast<char *>(&skipped), sizeof skipped);
    if (!in || skipped != n - m)
        return bad();
    for (int64_t i = 0; i < skipped; ++i) {
        SkippedImage s;
        if (!readString(in, s.path) || !readString(in, s.reason))
            return bad();
        d.skipped.push_back(std::move(s));
    }
    for (size_t i = 0; i < d.kept.size(); ++i)
        if (d.kept[i] < (i ? d.kept[i - 1] + 1 : 0) || d.kept[i] >= n) // ascending, inside the listing
            return bad();
    d.images = torch::empty({m, 3, side, side}, torch::kUInt8);
    in.read(reinterpret_cast<char *>(d.images.data_ptr<uint8_t>()), std::streamsize(d.images.numel()));
    if (!in || in.peek() != std::char_traits<char>::eof())
        return bad();
    std::error_code ec;
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec); // recently used
    return d;
}

// Writes the cache file (through a temporary file and a rename) and keeps
// the most recently used few. A cache that cannot be written is no error.
void writeCache(const fs::path &path, uint64_t key, const ImageListing &listing, const LoadOptions &o,
                const DecodedImages &d)
{
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    const uintmax_t bytes = uintmax_t(d.images.numel());
    const fs::space_info space = fs::space(path.parent_path(), ec);
    if (ec || space.available < bytes + keepFreeBytes)
        return;
    const std::string temporary = temporaryPathFor(path.string());
    try {
        {
            std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
            const int64_t side = o.imageSize, total = int64_t(listing.images.size()), m = int64_t(d.kept.size()),
                          skipped = int64_t(d.skipped.size());
            out.write(cacheMagic, sizeof cacheMagic);
            out.write(reinterpret_cast<const char *>(&key), sizeof key);
            out.write(reinterpret_cast<const char *>(&side), sizeof side);
            out.write(reinterpret_cast<const char *>(&total), sizeof total);
            out.write(reinterpret_cast<const char *>(&m), sizeof m);
            out.write(reinterpret_cast<const char *>(d.kept.data()), std::streamsize(m * sizeof(int64_t)));
            out.write(reinterpret_cast<const char *>(&skipped), sizeof skipped);
            for (const SkippedImage &s : d.skipped) {
                writeString(out, s.path);
                writeString(out, s.reason);
            }
            const torch::Tensor images = d.images.contiguous();
            out.write(reinterpret_cast<const char *>(images.data_ptr<uint8_t>()), std::streamsize(images.numel()));
            out.flush();
            if (!out)
                throw Error("cannot write " + temporary);
        }
        commitTemporaryFile(temporary, path.string());
    } catch (const std::exception &) {
        fs::remove(temporary, ec);
        return;
    }
    std::vector<fs::directory_entry> cached;
    for (const fs::directory_entry &e : fs::directory_iterator(path.parent_path(), ec))
        if (e.path().extension() == ".images")
            cached.push_back(e);
    std::sort(cached.begin(), cached.end(), [](const fs::directory_entry &a, const fs::directory_entry &b) {
        std::error_code ea, eb;
        return a.last_write_time(ea) > b.last_write_time(eb);
    });
    for (size_t i = maxCachedDatasets; i < cached.size(); ++i)
        fs::remove(cached[i].path(), ec);
}

} // namespace

DecodedImages decodeImages(const ImageListing &listing, const LoadOptions &o)
{
    if (o.imageSize < 8 || o.imageSize > 1024)
        throw Error("image size " + std::to_string(o.imageSize) + " is outside 8..1024");
    if (o.cacheFolder.empty())
        return decodeAll(listing, o);
    const uint64_t key = cacheKey(listing, o);
    const fs::path path = cachePath(o.cacheFolder, key);
    if (std::optional<DecodedImages> cached = readCache(path, key, listing, o)) {
        if (o.monitor.progress)
            o.monitor.progress(int64_t(listing.images.size()), int64_t(listing.images.size()));
        return std::move(*cached);
    }
    DecodedImages decoded = decodeAll(listing, o);
    writeCache(path, key, listing, o, decoded);
    return decoded;
}

std::string defaultImageCacheFolder()
{
    if (const char *folder = std::getenv("LIFTLAB_CACHE"))
        return folder;
    if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
        return (fs::path(xdg) / "liftlab" / "images").string();
    if (const char *home = std::getenv("HOME"); home && *home)
        return (fs::path(home) / ".cache" / "liftlab" / "images").string();
    return {};
}

} // namespace liftlab
