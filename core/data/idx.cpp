#include "data/idx.h"

#include "error.h"

#include <zlib.h>

#include <fstream>
#include <memory>

namespace liftlab {

namespace {

// Reads the whole file, inflating it when it is gzip-compressed (gzread passes
// plain files through unchanged).
std::vector<uint8_t> readMaybeGzip(const std::string &path)
{
    std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
    if (!file)
        throw fileError(path, "cannot open file");
    std::vector<uint8_t> bytes;
    std::vector<uint8_t> chunk(1 << 20);
    for (;;) {
        const int n = gzread(file.get(), chunk.data(), unsigned(chunk.size()));
        if (n < 0) {
            int code = 0;
            throw fileError(path, std::string("corrupt compressed data (") + gzerror(file.get(), &code) + ")");
        }
        if (n == 0)
            break;
        bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
    }
    return bytes;
}

} // namespace

IdxArray readIdx(const std::string &path)
{
    const std::vector<uint8_t> bytes = readMaybeGzip(path);
    if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0)
        throw fileError(path, "not an IDX file (wrong magic number)");
    if (bytes[2] != 0x08)
        throw fileError(path, "unsupported IDX element type (only unsigned bytes are supported)");
    const int rank = bytes[3];
    if (rank < 1 || rank > 4)
        throw fileError(path, "unsupported IDX rank " + std::to_string(rank));
    if (bytes.size() < size_t(4 + 4 * rank))
        throw fileError(path, "truncated IDX header");

    IdxArray array;
    uint64_t count = 1;
    for (int d = 0; d < rank; ++d) {
        const uint8_t *p = &bytes[4 + 4 * d];
        const uint32_t dim = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
        array.shape.push_back(dim);
        count *= dim;
        if (count > (uint64_t(1) << 40))
            throw fileError(path, "implausible IDX shape");
    }
    const size_t offset = 4 + 4 * rank;
    if (bytes.size() - offset < count)
        throw fileError(path, "truncated IDX data: expected " + std::to_string(count) + " bytes, found "
                                  + std::to_string(bytes.size() - offset));
    array.data.assign(bytes.begin() + offset, bytes.begin() + offset + count);
    return array;
}

void writeIdx(const std::string &path, const IdxArray &array)
{
    std::ofstream out(path, std::ios::binary);
    if (!out)
        throw fileError(path, "cannot write file");
    const char magic[4] = {0, 0, 0x08, char(array.shape.size())};
    out.write(magic, 4);
    for (int64_t dim : array.shape) {
        const char be[4] = {char(dim >> 24), char(dim >> 16), char(dim >> 8), char(dim)};
        out.write(be, 4);
    }
    out.write(reinterpret_cast<const char *>(array.data.data()), std::streamsize(array.data.size()));
    if (!out)
        throw fileError(path, "write failed");
}

} // namespace liftlab
