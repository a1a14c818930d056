#include "util/atomicfile.h"

#include "error.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <unistd.h>

namespace liftlab {

namespace {

const char kTemporaryMark[] = ".tmp-";

} // namespace

std::string temporaryPathFor(const std::string &path)
{
    // Unique per call: two threads writing the same file never share one.
    static std::atomic<uint64_t> calls{0};
    return path + kTemporaryMark + std::to_string(::getpid()) + "-" + std::to_string(calls++);
}

bool isTemporaryName(const std::string &fileName)
{
    return fileName.find(kTemporaryMark) != std::string::npos;
}

void removeTemporaryFiles(const std::string &folder)
{
    std::error_code ec;
    for (const std::filesystem::directory_entry &e : std::filesystem::directory_iterator(folder, ec))
        if (isTemporaryName(e.path().filename().string()) && e.is_regular_file(ec))
            std::filesystem::remove(e.path(), ec);
}

void commitTemporaryFile(const std::string &temporaryPath, const std::string &path)
{
    // fsync the data before the rename so a crash cannot leave an empty file
    // under the final name.
    const int fd = ::open(temporaryPath.c_str(), O_RDONLY);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
    if (std::rename(temporaryPath.c_str(), path.c_str()) != 0) {
        const std::string reason = std::strerror(errno);
        std::remove(temporaryPath.c_str());
        throw fileError(path, "cannot write file (" + reason + ")");
    }
}

void writeFileAtomically(const std::string &path, const std::string &contents)
{
    const std::string tmp = temporaryPathFor(path);
    FILE *f = std::fopen(tmp.c_str(), "wb");
    if (!f)
        throw fileError(path, std::string("cannot write file (") + std::strerror(errno) + ")");
    const bool ok = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) {
        std::remove(tmp.c_str());
        throw fileError(path, "write failed (disk full?)");
    }
    commitTemporaryFile(tmp, path);
}

} // namespace liftlab
