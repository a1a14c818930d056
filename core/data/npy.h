#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace liftlab {

// A NumPy .npy array held as raw little-endian bytes. Only the types an
// embedding workflow needs are supported (float32/float64, int32/int64, C
// order); anything else is refused with a message naming the file.
struct NpyArray
{
    enum class Type { Float32, Float64, Int32, Int64 };

    Type type = Type::Float32;
    std::vector<int64_t> shape;
    std::vector<char> bytes;

    int64_t count() const;
    size_t itemSize() const;
    std::vector<float> toFloats() const;
    std::vector<int64_t> toInt64() const;
};

NpyArray readNpy(const std::string &path);

// Writes atomically (temporary file + rename), so a failed write leaves no
// partial file behind.
void writeNpy(const std::string &path, const NpyArray &array);

NpyArray npyFromFloats(std::vector<int64_t> shape, const float *data);
NpyArray npyFromInt64(std::vector<int64_t> shape, const int64_t *data);

} // namespace liftlab
