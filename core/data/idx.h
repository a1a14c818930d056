#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace liftlab {

// An IDX array (the MNIST/Fashion-MNIST file format): unsigned bytes with a
// shape. Only the ubyte element type is used by those datasets, so only it is
// accepted; anything else is a clear error rather than a silent misread.
struct IdxArray
{
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
};

// Reads a raw or gzip-compressed IDX file. Throws liftlab::Error naming the
// file for a missing file, wrong magic, unsupported type or truncated data.
IdxArray readIdx(const std::string &path);

// Writes an uncompressed IDX ubyte file (used by tests and tools).
void writeIdx(const std::string &path, const IdxArray &array);

} // namespace liftlab
