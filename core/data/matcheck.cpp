#include "data/matcheck.h"

#include "error.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace liftlab {

namespace {

// Data types and array classes of the level-5 format ("MAT-File Format",
// MathWorks), little-endian.
enum DataType : uint32_t {
    miINT8 = 1, miUINT8 = 2, miINT16 = 3, miUINT16 = 4, miINT32 = 5, miUINT32 = 6, miSINGLE = 7,
    miDOUBLE = 9, miINT64 = 12, miUINT64 = 13, miMATRIX = 14, miCOMPRESSED = 15, miUTF8 = 16,
    miUTF16 = 17, miUTF32 = 18,
};
enum ArrayClass : uint8_t { mxCELL = 1, mxSTRUCT = 2, mxCHAR = 4, mxDOUBLE = 6, mxUINT64 = 15 };

constexpr size_t kMaxInflated = size_t(256) << 20;
constexpr int kMaxDepth = 16;

size_t sizeOf(uint32_t type)
{
    switch (type) {
    case miINT8: case miUINT8: case miUTF8: return 1;
    case miINT16: case miUINT16: case miUTF16: return 2;
    case miINT32: case miUINT32: case miSINGLE: case miUTF32: return 4;
    case miDOUBLE: case miINT64: case miUINT64: return 8;
    default: return 0;
    }
}

uint32_t u32(const uint8_t *p)
{
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

struct Element
{
    uint32_t type = 0;
    const uint8_t *data = nullptr;
    size_t size = 0;
};

class Checker
{
public:
    explicit Checker(const std::string &path)
        : m_path(path)
    {
    }

    void check(const std::vector<uint8_t> &bytes) const
    {
        if (bytes.size() < 128)
            fail("shorter than a MAT-file header");
        if (bytes[126] == 'M' && bytes[127] == 'I')
            fail("big-endian MAT-files are not read");
        if (bytes[126] != 'I' || bytes[127] != 'M' || bytes[125] != 0x01)
            fail("not a level-5 MAT-file; version 4 and 7.3 (HDF5) files are not read: save with -v7");
        const uint8_t *at = bytes.data() + 128, *end = bytes.data() + bytes.size();
        while (end - at >= 8) {
            const Element e = next(at, end);
            if (e.type == miCOMPRESSED) {
                const std::vector<uint8_t> inflated = inflate(e);
                const uint8_t *in = inflated.data(), *inEnd = in + inflated.size();
                matrix(expect(in, inEnd, miMATRIX, "a compressed part that is not an array"), 0);
            } else if (e.type == miMATRIX) {
                matrix(e, 0);
            } else {
                fail("a variable that is not an array");
            }
        }
    }

private:
    [[noreturn]] void fail(const std::string &what) const
    {
        throw fileError(m_path, "is not a MAT-file LiftLab can read: " + what);
    }

    // The element at `at` (before `end`); moves `at` past it and its padding.
    Element next(const uint8_t *&at, const uint8_t *end) const
    {
        if (end - at < 8)
            fail("truncated");
        Element e;
        const uint32_t first = u32(at);
        if (first >> 16) { // small element: up to 4 bytes inside the tag
            e.type = first & 0xffff;
            e.size = first >> 16;
            if (e.size > 4)
                fail("a malformed small element");
            e.data = at + 4;
            at += 8;
            return e;
        }
        e.type = first;
        e.size = u32(at + 4);
        e.data = at + 8;
        if (size_t(end - e.data) < e.size)
            fail("truncated");
        const size_t padded = e.type == miCOMPRESSED ? e.size : (e.size + 7) / 8 * 8;
        at = e.data + std::min(padded, size_t(end - e.data));
        return e;
    }

    Element expect(const uint8_t *&at, const uint8_t *end, uint32_t type, const char *what) const
    {
        const Element e = next(at, end);
        if (e.type != type)
            fail(what);
        return e;
    }

    std::vector<uint8_t> inflate(const Element &e) const
    {
        z_stream z{};
        if (inflateInit(&z) != Z_OK)
            fail("zlib cannot start");
        z.next_in = const_cast<Bytef *>(e.data);
        z.avail_in = uInt(e.size);
        std::vector<uint8_t> out;
        int status = Z_OK;
        while (status == Z_OK) {
            if (out.size() >= kMaxInflated) {
                inflateEnd(&z);
                fail("a compressed part larger than 256 MB");
            }
            const size_t have = out.size();
            out.resize(std::min(kMaxInflated, std::max<size_t>(2 * have, 1 << 16)));
            z.next_out = out.data() + have;
            z.avail_out = uInt(out.size() - have);
            status = ::inflate(&z, Z_NO_FLUSH);
            out.resize(out.size() - z.avail_out);
            if (status == Z_BUF_ERROR && z.avail_in == 0)
                break; // the stream ends without its trailer: what is there is read
        }
        inflateEnd(&z);
        if (status != Z_STREAM_END && status != Z_BUF_ERROR)
            fail("corrupt compressed data");
        return out;
    }

    void matrix(const Element &e, int depth) const
    {
        if (depth > kMaxDepth)
            fail("arrays nested too deeply");
        if (e.size == 0)
            return; // an empty array
        const uint8_t *at = e.data, *end = e.data + e.size;
        const Element flags = expect(at, end, miUINT32, "malformed array flags");
        if (flags.size != 8)
            fail("malformed array flags");
        const uint8_t arrayClass = flags.data[0];
        const bool complex = flags.data[1] & 0x08;
        const Element dims = expect(at, end, miINT32, "malformed dimensions");
        if (dims.size < 8 || dims.size % 4 != 0)
            fail("malformed dimensions");
        size_t count = 1;
        for (size_t i = 0; i < dims.size / 4; ++i) {
            const int32_t d = int32_t(u32(dims.data + 4 * i));
            if (d < 0 || __builtin_mul_overflow(count, size_t(d), &count))
                fail("malformed dimensions");
        }
        expect(at, end, miINT8, "a malformed array name");
        if (arrayClass == mxCELL || arrayClass == mxSTRUCT) {
            size_t elements = count;
            if (arrayClass == mxSTRUCT) {
                // matio reads the name length only as a small element.
                if (end - at < 8 || u32(at) >> 16 != 4)
                    fail("malformed field names");
                const Element length = expect(at, end, miINT32, "malformed field names");
                const Element names = expect(at, end, miINT8, "malformed field names");
                const int32_t nameLength = length.size == 4 ? int32_t(u32(length.data)) : 0;
                if (nameLength <= 0 || names.size % size_t(nameLength) != 0)
                    fail("malformed field names");
                if (__builtin_mul_overflow(count, names.size / size_t(nameLength), &elements))
                    fail("malformed dimensions");
            }
            // Each element is an array of its own, at least a tag long.
            if (elements > size_t(end - at) / 8)
                fail("an array larger than its data");
            for (size_t i = 0; i < elements; ++i)
                matrix(expect(at, end, miMATRIX, "an element that is not an array"), depth + 1);
        } else if (arrayClass == mxCHAR || (arrayClass >= mxDOUBLE && arrayClass <= mxUINT64)) {
            for (int part = 0; part < (complex ? 2 : 1); ++part) {
                const Element values = next(at, end);
                const size_t size = sizeOf(values.type);
                if (size == 0 || values.size / size < count)
                    fail("an array larger than its data");
            }
        } else {
            fail("an array class LiftLab does not read (sparse, object or function)");
        }
    }

    std::string m_path;
};

} // namespace

void checkMatFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw fileError(path, "cannot be read");
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Checker(path).check(bytes);
}

} // namespace liftlab
