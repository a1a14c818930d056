#include "data/npy.h"

#include "error.h"
#include "util/atomicfile.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <type_traits>

namespace liftlab {

namespace {

const char kMagic[] = "\x93NUMPY";

size_t sizeOf(NpyArray::Type type)
{
    return (type == NpyArray::Type::Float32 || type == NpyArray::Type::Int32) ? 4 : 8;
}

const char *descrOf(NpyArray::Type type)
{
    switch (type) {
    case NpyArray::Type::Float32: return "<f4";
    case NpyArray::Type::Float64: return "<f8";
    case NpyArray::Type::Int32: return "<i4";
    case NpyArray::Type::Int64: return "<i8";
    }
    return "";
}

NpyArray::Type typeFromDescr(const std::string &path, const std::string &descr)
{
    if (descr == "<f4") return NpyArray::Type::Float32;
    if (descr == "<f8") return NpyArray::Type::Float64;
    if (descr == "<i4") return NpyArray::Type::Int32;
    if (descr == "<i8") return NpyArray::Type::Int64;
    throw fileError(path, "unsupported .npy dtype '" + descr
                              + "' (supported: little-endian float32, float64, int32, int64)");
}

// A floating-point value as an integer label: whole and in range, or an Error.
template<typename To, typename From>
To toValue(From v)
{
    if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
        if (!(v >= -9.0e18 && v <= 9.0e18) || v != std::trunc(v))
            throw Error("the array holds " + std::to_string(v) + " where a whole number (a label) is expected");
    }
    return To(v);
}

template<typename To>
std::vector<To> convert(const NpyArray &a)
{
    std::vector<To> out(size_t(a.count()));
    const char *p = a.bytes.data();
    for (size_t i = 0; i < out.size(); ++i) {
        switch (a.type) {
        case NpyArray::Type::Float32: { float v; std::memcpy(&v, p + 4 * i, 4); out[i] = toValue<To>(v); break; }
        case NpyArray::Type::Float64: { double v; std::memcpy(&v, p + 8 * i, 8); out[i] = toValue<To>(v); break; }
        case NpyArray::Type::Int32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); out[i] = To(v); break; }
        case NpyArray::Type::Int64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); out[i] = To(v); break; }
        }
    }
    return out;
}

} // namespace

int64_t NpyArray::count() const
{
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    return n;
}

size_t NpyArray::itemSize() const
{
    return sizeOf(type);
}

std::vector<float> NpyArray::toFloats() const
{
    return convert<float>(*this);
}

std::vector<int64_t> NpyArray::toInt64() const
{
    return convert<int64_t>(*this);
}

NpyArray readNpy(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw fileError(path, "cannot open file");
    const std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (file.size() < 10 || std::memcmp(file.data(), kMagic, 6) != 0)
        throw fileError(path, "not a .npy file (wrong magic)");
    const int major = uint8_t(file[6]);
    size_t headerLength = 0;
    size_t headerStart = 0;
    if (major == 1) {
        headerLength = uint8_t(file[8]) | (size_t(uint8_t(file[9])) << 8);
        headerStart = 10;
    } else if (major == 2 || major == 3) {
        if (file.size() < 12)
            throw fileError(path, "truncated .npy header");
        headerLength = 0;
        for (int i = 0; i < 4; ++i)
            headerLength |= size_t(uint8_t(file[8 + i])) << (8 * i);
        headerStart = 12;
    } else {
        throw fileError(path, "unsupported .npy version " + std::to_string(major));
    }
    if (file.size() < headerStart + headerLength)
        throw fileError(path, "truncated .npy header");
    const std::string header(file.data() + headerStart, headerLength);

    std::smatch m;
    if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'")))
        throw fileError(path, "malformed .npy header (no descr)");
    NpyArray array;
    array.type = typeFromDescr(path, m[1]);
    if (!std::regex_search(header, m, std::regex("'fortran_order'\\s*:\\s*(True|False)")))
        throw fileError(path, "malformed .npy header (no fortran_order)");
    if (m[1] == "True")
        throw fileError(path, "Fortran-ordered .npy arrays are not supported (save with C order)");
    if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)")))
        throw fileError(path, "malformed .npy header (no shape)");
    const std::string dims = m[1];
    const std::regex number("\\s*(\\d+)\\s*,?");
    for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it) {
        const std::string digits = (*it)[1];
        if (digits.size() > 12)
            throw fileError(path, "implausible .npy shape");
        array.shape.push_back(std::stoll(digits));
    }
    const int64_t count = array.count();
    if (count < 0 || count > (int64_t(1) << 36))
        throw fileError(path, "implausible .npy shape");
    const size_t dataStart = headerStart + headerLength;
    const size_t expected = size_t(count) * array.itemSize();
    if (file.size() - dataStart < expected)
        throw fileError(path, "truncated .npy data: expected " + std::to_string(expected) + " bytes, found "
                                  + std::to_string(file.size() - dataStart));
    array.bytes.assign(file.begin() + dataStart, file.begin() + dataStart + expected);
    return array;
}

void writeNpy(const std::string &path, const NpyArray &array)
{
    std::string shape = "(";
    for (int64_t d : array.shape)
        shape += std::to_string(d) + (array.shape.size() == 1 ? "," : ", ");
    if (array.shape.size() > 1)
        shape.resize(shape.size() - 2);
    shape += ")";
    std::string header = std::string("{'descr': '") + descrOf(array.type) + "', 'fortran_order': False, 'shape': " + shape + ", }";
    // Pad so the data starts on a 64-byte boundary, header ends with '\n'.
    const size_t unpadded = 10 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';

    std::string out(kMagic, 6);
    out += char(1);
    out += char(0);
    out += char(header.size() & 0xff);
    out += char(header.size() >> 8);
    out += header;
    out.append(array.bytes.data(), array.bytes.size());
    writeFileAtomically(path, out);
}

NpyArray npyFromFloats(std::vector<int64_t> shape, const float *data)
{
    NpyArray a;
    a.type = NpyArray::Type::Float32;
    a.shape = std::move(shape);
    a.bytes.assign(reinterpret_cast<const char *>(data), reinterpret_cast<const char *>(data) + a.count() * 4);
    return a;
}

NpyArray npyFromInt64(std::vector<int64_t> shape, const int64_t *data)
{
    NpyArray a;
    a.type = NpyArray::Type::Int64;
    a.shape = std::move(shape);
    a.bytes.assign(reinterpret_cast<const char *>(data), reinterpret_cast<const char *>(data) + a.count() * 8);
    return a;
}

} // namespace liftlab
