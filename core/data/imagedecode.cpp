#include "data/imagedecode.h"

#include "error.h"
#include "util/atomicfile.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

// Takes image i's decoded pixels; called from the decoding threads at once.
using Sink = std::function<void(int64_t i, const uint8_t *pixels)>;

// Decodes every image of the listing on o.threads threads, handing each to
// `sink`. Returns, image by image, why it cannot be used (empty: it can).
std::vector<std::string> decodeAll(const ImageListing &listing, const LoadOptions &o, const Sink &sink)
{
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); // the skip report says it
    cv::setNumThreads(0); // the images are spread over our threads already
    const int64_t n = int64_t(listing.images.size());
    const size_t pixels = size_t(3) * size_t(o.imageSize) * size_t(o.imageSize);
    std::vector<std::string> problem(static_cast<size_t>(n));
    std::atomic<int64_t> next{0}, done{0};
    std::atomic<bool> stop{false};
    std::exception_ptr failure; // the first error that is not an image's own
    std::mutex failureMutex;
    auto work = [&](bool reportProgress) {
        try {
            std::vector<uint8_t> buffer(pixels);
            for (int64_t i; !stop && (i = next++) < n;) {
                if (o.monitor.cancel && o.monitor.cancel->load())
                    return;
                std::fill(buffer.begin(), buffer.end(), uint8_t(0));
                try {
                    problem[size_t(i)] = decodeImage(listing.images[size_t(i)], o.imageSize, o.cropToBox, buffer.data());
                } catch (const cv::Exception &e) {
                    problem[size_t(i)] = "cannot be decoded (" + e.err + ")";
                }
                if (problem[size_t(i)].empty())
                    sink(i, buffer.data());
                const int64_t d = ++done;
                if (reportProgress && o.monitor.progress && (d % 64 == 0 || d == n))
                    o.monitor.progress(d, n);
            }
        } catch (...) { // out of memory or disk, or the progress callback's own
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
    return problem;
}

// The kept images' listing indices and the skipped ones' reports.
void sortOut(const ImageListing &listing, const std::vector<std::string> &problem, DecodedImages &d)
{
    for (size_t i = 0; i < problem.size(); ++i) {
        if (problem[i].empty())
            d.kept.push_back(int64_t(i));
        else
            d.skipped.push_back({listing.images[i].path, problem[i]});
    }
}

// ---- the file of decoded images -------------------------------------------
//
// A preamble (magic, key, S, N) padded to kDataOffset; then the N images of
// the listing, 3 x S x S bytes each at offset kDataOffset + i * 3 S S (a
// skipped image's place stays a hole); then a trailer: the kept images'
// listing indices and the skipped images' paths and reasons.

// Bump the digit when the layout or decodeImage's output changes: old files are then decoded again.
constexpr char cacheMagic[8] = {'L', 'L', 'I', 'M', 'G', 'S', '2', '\n'};
constexpr int64_t kDataOffset = 4096;
constexpr int maxCachedDatasets = 4;
constexpr uintmax_t keepFreeBytes = uintmax_t(1) << 30;

struct Preamble
{
    char magic[8];
    uint64_t key;
    int64_t side;
    int64_t total;
};

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

void appendBytes(std::string &out, const void *data, size_t size)
{
    out.append(static_cast<const char *>(data), size);
}

std::string trailerOf(const DecodedImages &d)
{
    std::string t;
    const int64_t m = int64_t(d.kept.size()), skipped = int64_t(d.skipped.size());
    appendBytes(t, &m, sizeof m);
    appendBytes(t, d.kept.data(), d.kept.size() * sizeof(int64_t));
    appendBytes(t, &skipped, sizeof skipped);
    for (const SkippedImage &s : d.skipped)
        for (const std::string *text : {&s.path, &s.reason}) {
            const uint32_t size = uint32_t(text->size());
            appendBytes(t, &size, sizeof size);
            t += *text;
        }
    return t;
}

// Reads a trailer for a listing of n images; false when it is not whole.
bool parseTrailer(const std::string &t, int64_t n, DecodedImages &d)
{
    size_t at = 0;
    auto take = [&](void *out, size_t size) {
        if (t.size() - at < size)
            return false;
        std::memcpy(out, t.data() + at, size);
        at += size;
        return true;
    };
    int64_t m = 0, skipped = 0;
    if (!take(&m, sizeof m) || m < 0 || m > n)
        return false;
    d.kept.resize(size_t(m));
    if (!take(d.kept.data(), size_t(m) * sizeof(int64_t)) || !take(&skipped, sizeof skipped) || skipped != n - m)
        return false;
    for (size_t i = 0; i < d.kept.size(); ++i)
        if (d.kept[i] < (i ? d.kept[i - 1] + 1 : 0) || d.kept[i] >= n) // ascending, inside the listing
            return false;
    for (int64_t i = 0; i < skipped; ++i) {
        SkippedImage s;
        for (std::string *text : {&s.path, &s.reason}) {
            uint32_t size = 0;
            if (!take(&size, sizeof size) || t.size() - at < size)
                return false;
            text->assign(t.data() + at, size);
            at += size;
        }
        d.skipped.push_back(std::move(s));
    }
    return at == t.size();
}

void writeAt(int fd, const std::string &path, const void *data, size_t size, int64_t offset)
{
    const char *bytes = static_cast<const char *>(data);
    for (size_t done = 0; done < size;) {
        const ssize_t w = ::pwrite(fd, bytes + done, size - done, off_t(offset + int64_t(done)));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            throw fileError(path, std::string("cannot write decoded images (") + std::strerror(errno) + ")");
        done += size_t(w);
    }
}

bool readAt(int fd, void *data, size_t size, int64_t offset)
{
    char *bytes = static_cast<char *>(data);
    for (size_t done = 0; done < size;) {
        const ssize_t r = ::pread(fd, bytes + done, size - done, off_t(offset + int64_t(done)));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        done += size_t(r);
    }
    return true;
}

// A file of decoded images being written: a temporary file beside its
// final name (commit() renames it), locked while it is written so that
// removeAbandonedFiles() knows it is in use, or an unnamed one that
// disappears with its last descriptor. Removed unless committed.
class ImageFile
{
public:
    // A temporary file for `finalPath`, or with an empty one an unnamed file in `folder`.
    ImageFile(const fs::path &finalPath, const fs::path &folder) : m_final(finalPath)
    {
        if (m_final.empty()) {
            m_path = (folder / "(unnamed decoded images)").string();
            m_fd = ::open(folder.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
            if (m_fd < 0) { // a file system without O_TMPFILE: a named file, unlinked at once
                std::string name = (folder / "liftlab-images-XXXXXX").string();
                m_fd = ::mkostemp(name.data(), O_CLOEXEC);
                if (m_fd >= 0)
                    ::unlink(name.c_str());
            }
        } else {
            m_path = temporaryPathFor(m_final.string());
            m_fd = ::open(m_path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
            if (m_fd >= 0)
                ::flock(m_fd, LOCK_EX);
        }
        if (m_fd < 0)
            throw fileError(m_final.empty() ? folder.string() : m_path,
                            std::string("cannot create a file for the decoded images (") + std::strerror(errno) + ")");
    }
    ~ImageFile()
    {
        if (m_fd >= 0)
            ::close(m_fd);
        if (!m_final.empty() && !m_committed)
            ::unlink(m_path.c_str());
    }
    ImageFile(const ImageFile &) = delete;
    ImageFile &operator=(const ImageFile &) = delete;

    void write(const void *data, size_t size, int64_t offset) { writeAt(m_fd, m_path, data, size, offset); }

    // Writes the preamble, makes room for the images (a sparse file) and
    // returns where the trailer goes.
    int64_t start(uint64_t key, int64_t side, int64_t total)
    {
        Preamble p{};
        std::memcpy(p.magic, cacheMagic, sizeof cacheMagic);
        p.key = key;
        p.side = side;
        p.total = total;
        write(&p, sizeof p, 0);
        const int64_t end = kDataOffset + total * 3 * side * side;
        if (::ftruncate(m_fd, off_t(end)) != 0)
            throw fileError(m_path, std::string("cannot make room for the decoded images (") + std::strerror(errno) + ")");
        return end;
    }
    // Renames the file into place (a named one); returns its name.
    std::string commit()
    {
        if (!m_final.empty()) {
            commitTemporaryFile(m_path, m_final.string());
            m_committed = true;
            m_path = m_final.string();
        }
        return m_path;
    }
    // Hands the descriptor over (to an ImageStore).
    int release() { return std::exchange(m_fd, -1); }

private:
    fs::path m_final;
    std::string m_path;
    int m_fd = -1;
    bool m_committed = false;
};

// The cached images, read from the file on demand, or nothing when there
// are none or the file is not whole (it is then removed).
std::optional<DecodedImages> readCache(const fs::path &path, uint64_t key, const ImageListing &listing,
                                       const LoadOptions &o)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    auto bad = [&path, fd] {
        ::close(fd);
        std::error_code ec;
        fs::remove(path, ec);
        return std::nullopt;
    };
    const int64_t n = int64_t(listing.images.size());
    Preamble p{};
    struct stat st{};
    if (!readAt(fd, &p, sizeof p, 0) || std::memcmp(p.magic, cacheMagic, sizeof cacheMagic) != 0 || p.key != key
        || p.side != o.imageSize || p.total != n || ::fstat(fd, &st) != 0)
        return bad();
    const int64_t trailerAt = kDataOffset + n * 3 * p.side * p.side;
    if (int64_t(st.st_size) < trailerAt || int64_t(st.st_size) - trailerAt > (int64_t(1) << 30))
        return bad();
    DecodedImages d;
    try {
        std::string trailer(size_t(int64_t(st.st_size) - trailerAt), '\0');
        if (!readAt(fd, trailer.data(), trailer.size(), trailerAt) || !parseTrailer(trailer, n, d))
            return bad();
        std::error_code ec;
        fs::last_write_time(path, fs::file_time_type::clock::now(), ec); // recently used
        d.images = ImageStore(fd, path.string(), kDataOffset, 3, p.side, p.side, d.kept); // owns fd from here
    } catch (...) { // out of memory before the store took the file
        ::close(fd);
        throw;
    }
    return d;
}

// Keeps the most recently used few cache files.
void removeOldCacheFiles(const fs::path &folder)
{
    std::error_code ec;
    std::vector<fs::directory_entry> cached;
    for (const fs::directory_entry &e : fs::directory_iterator(folder, ec))
        if (e.path().extension() == ".images")
            cached.push_back(e);
    std::sort(cached.begin(), cached.end(), [](const fs::directory_entry &a, const fs::directory_entry &b) {
        std::error_code ea, eb;
        return a.last_write_time(ea) > b.last_write_time(eb);
    });
    for (size_t i = maxCachedDatasets; i < cached.size(); ++i)
        fs::remove(cached[i].path(), ec);
}

// Removes the cache's temporary files that no process writes any more (a
// killed decode's): a writer holds a lock on its file (ImageFile).
void removeAbandonedFiles(const fs::path &folder)
{
    std::error_code ec;
    for (const fs::directory_entry &e : fs::directory_iterator(folder, ec)) {
        const std::string name = e.path().filename().string();
        if (name.find(".images") == std::string::npos || !isTemporaryName(name) || !e.is_regular_file(ec))
            continue;
        const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
            fs::remove(e.path(), ec);
        ::close(fd);
    }
}

bool hasRoomFor(const fs::path &folder, uintmax_t bytes)
{
    std::error_code ec;
    fs::create_directories(folder, ec);
    const fs::space_info space = fs::space(folder, ec);
    return !ec && space.available >= bytes + keepFreeBytes;
}

std::string gibibytes(int64_t bytes)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.1f GiB", double(bytes) / double(int64_t(1) << 30));
    return text;
}

// Decodes into memory (and writes the cache file when there is one).
DecodedImages decodeIntoMemory(const ImageListing &listing, const LoadOptions &o, const fs::path &cache, uint64_t key)
{
    const int64_t n = int64_t(listing.images.size());
    const int64_t pixels = 3 * int64_t(o.imageSize) * o.imageSize;
    torch::Tensor all;
    try {
        all = torch::zeros({n, 3, o.imageSize, o.imageSize}, torch::kUInt8);
    } catch (const std::exception &) {
        throw Error(std::to_string(n) + " images of " + std::to_string(o.imageSize) + " x " + std::to_string(o.imageSize)
                    + " need " + gibibytes(n * pixels) + ", more than this machine can give: choose a smaller image "
                    "size or memory budget");
    }
    uint8_t *data = all.data_ptr<uint8_t>();
    DecodedImages d;
    sortOut(listing, decodeAll(listing, o, [&](int64_t i, const uint8_t *image) {
                std::memcpy(data + i * pixels, image, size_t(pixels));
            }),
            d);
    d.images = ImageStore(all).select(d.kept);
    if (!cache.empty() && hasRoomFor(cache.parent_path(), uintmax_t(n * pixels))) {
        try { // a cache that cannot be written is no error
            ImageFile file(cache, {});
            const int64_t trailerAt = file.start(key, o.imageSize, n);
            for (const int64_t i : d.kept)
                file.write(data + i * pixels, size_t(pixels), kDataOffset + i * pixels);
            const std::string trailer = trailerOf(d);
            file.write(trailer.data(), trailer.size(), trailerAt);
            file.commit();
            removeOldCacheFiles(cache.parent_path());
        } catch (const Error &) {
        }
    }
    return d;
}

// Decodes into a file read on demand: the cache file, or an unnamed
// temporary file when there is no cache or no room in it.
DecodedImages decodeIntoFile(const ImageListing &listing, const LoadOptions &o, const fs::path &cache, uint64_t key)
{
    const int64_t n = int64_t(listing.images.size());
    const int64_t pixels = 3 * int64_t(o.imageSize) * o.imageSize;
    if (!cache.empty())
        removeAbandonedFiles(cache.parent_path()); // a killed decode's room back
    bool cached = !cache.empty() && hasRoomFor(cache.parent_path(), uintmax_t(n * pixels));
    // Without the cache: $TMPDIR, else /var/tmp (on disk, where /tmp may be memory).
    const char *tmpdir = std::getenv("TMPDIR");
    const fs::path temporaryFolder = tmpdir && *tmpdir ? fs::path(tmpdir) : fs::path("/var/tmp");
    if (!cached && !hasRoomFor(temporaryFolder, uintmax_t(n * pixels)))
        throw Error(std::to_string(n) + " images of " + std::to_string(o.imageSize) + " x " + std::to_string(o.imageSize)
                    + " take " + gibibytes(n * pixels) + ": more than half the memory budget ("
                    + gibibytes(o.memoryBudget) + "), and " + (cache.empty() ? "" : cache.parent_path().string() + " and ")
                    + temporaryFolder.string() + " have not that much room left to keep them: choose a smaller "
                    "image size, free some disk or raise the memory budget (--memory-budget, LIFTLAB_MEMORY_BUDGET)");
    std::unique_ptr<ImageFile> made;
    if (cached) {
        try {
            made = std::make_unique<ImageFile>(cache, fs::path());
        } catch (const Error &) { // a cache folder that cannot be written
            cached = false;
        }
    }
    if (!made)
        made = std::make_unique<ImageFile>(fs::path(), temporaryFolder);
    ImageFile &file = *made;
    const int64_t trailerAt = file.start(key, o.imageSize, n);
    DecodedImages d;
    sortOut(listing, decodeAll(listing, o, [&](int64_t i, const uint8_t *image) {
                file.write(image, size_t(pixels), kDataOffset + i * pixels);
            }),
            d);
    const std::string trailer = trailerOf(d);
    file.write(trailer.data(), trailer.size(), trailerAt);
    const std::string path = file.commit();
    if (cached)
        removeOldCacheFiles(cache.parent_path());
    std::vector<int64_t> rows = d.kept;
    d.images = ImageStore(file.release(), path, kDataOffset, 3, o.imageSize, o.imageSize, std::move(rows));
    return d;
}

} // namespace

DecodedImages decodeImages(const ImageListing &listing, const LoadOptions &o)
{
    if (o.imageSize < 8 || o.imageSize > 1024)
        throw Error("image size " + std::to_string(o.imageSize) + " is outside 8..1024");
    const int64_t n = int64_t(listing.images.size());
    LoadOptions options = o;
    if (options.memoryBudget <= 0)
        options.memoryBudget = defaultMemoryBudget();
    const bool inMemory = n * 3 * int64_t(o.imageSize) * o.imageSize <= options.memoryBudget / 2;
    const uint64_t key = o.cacheFolder.empty() ? 0 : cacheKey(listing, o);
    const fs::path cache = o.cacheFolder.empty() ? fs::path() : cachePath(o.cacheFolder, key);
    if (!cache.empty())
        if (std::optional<DecodedImages> cached = readCache(cache, key, listing, o)) {
            if (o.monitor.progress)
                o.monitor.progress(n, n);
            if (inMemory)
                cached->images = ImageStore(cached->images.all());
            return std::move(*cached);
        }
    return inMemory ? decodeIntoMemory(listing, options, cache, key) : decodeIntoFile(listing, options, cache, key);
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
