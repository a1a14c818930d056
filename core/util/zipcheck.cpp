#include "util/zipcheck.h"

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

// Record layouts from PKWARE's APPNOTE.TXT, little-endian.
constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEnd = 0x06054b50,
                   kZip64End = 0x06064b50, kZip64Locator = 0x07064b50;
constexpr size_t kLocalHeaderSize = 30, kCentralHeaderSize = 46, kEndSize = 22, kZip64EndSize = 56,
                 kZip64LocatorSize = 20;
constexpr uint16_t kZip64Extra = 0x0001, kStored = 0, kDeflated = 8;

class Reader
{
public:
    Reader(const char *data, size_t size, const std::string &path, const std::string &kind)
        : m_data(reinterpret_cast<const uint8_t *>(data)), m_size(size), m_path(path), m_kind(kind)
    {
    }

    void check() const
    {
        const size_t end = findEnd();
        uint64_t entries = u16(end + 10), directorySize = u32(end + 12), directoryOffset = u32(end + 16);
        uint64_t directoryEnd = end;
        // torch writes a zip64 end record and its locator before the end
        // record of every archive, and readers differ in which of the two
        // records they take: they must agree, and sit where torch puts them.
        if (end >= kZip64LocatorSize && u32(end - kZip64LocatorSize) == kZip64Locator) {
            const uint64_t zip64End = end - kZip64LocatorSize - kZip64EndSize;
            if (end < kZip64LocatorSize + kZip64EndSize || u32(zip64End) != kZip64End
                || u64(end - kZip64LocatorSize + 8) != zip64End)
                fail("its zip64 end record is misplaced");
            const uint64_t wide[] = {u64(zip64End + 32), u64(zip64End + 40), u64(zip64End + 48)};
            const uint64_t narrow[] = {entries, directorySize, directoryOffset};
            const uint64_t saturated[] = {0xffff, 0xffffffff, 0xffffffff};
            for (int i = 0; i < 3; ++i)
                if (narrow[i] != saturated[i] && narrow[i] != wide[i])
                    fail("its two end records disagree");
            entries = wide[0];
            directorySize = wide[1];
            directoryOffset = wide[2];
            directoryEnd = zip64End;
        } else if (entries == 0xffff || directorySize == 0xffffffff || directoryOffset == 0xffffffff) {
            fail("its zip64 end record is missing");
        }
        if (directoryOffset > directoryEnd || directoryEnd - directoryOffset != directorySize)
            fail("its directory is not where its end record says");
        if (entries > directorySize / kCentralHeaderSize)
            fail("its directory is shorter than its entry count");

        uint64_t at = directoryOffset;
        for (uint64_t i = 0; i < entries; ++i) {
            if (directoryEnd - at < kCentralHeaderSize || u32(at) != kCentralHeader)
                fail("its directory is damaged");
            const uint16_t method = u16(at + 10);
            const uint32_t crc = u32(at + 16);
            uint64_t compressedSize = u32(at + 20), size = u32(at + 24), localOffset = u32(at + 42);
            const size_t nameLength = u16(at + 28), extraLength = u16(at + 30), commentLength = u16(at + 32);
            const uint64_t name = at + kCentralHeaderSize, extra = name + nameLength;
            at = extra + extraLength + commentLength;
            if (at > directoryEnd)
                fail("its directory is damaged");
            readZip64Extra(extra, extraLength, size, compressedSize, localOffset);
            const std::string entryName(reinterpret_cast<const char *>(m_data + name), nameLength);
            if (method != kStored && method != kDeflated)
                fail("entry " + entryName + " has an unknown compression method");
            if (method == kStored && compressedSize != size)
                fail("entry " + entryName + " has two different sizes");

            need(localOffset, kLocalHeaderSize);
            if (u32(localOffset) != kLocalHeader)
                fail("entry " + entryName + " has no local header");
            const size_t localNameLength = u16(localOffset + 26), localExtraLength = u16(localOffset + 28);
            need(localOffset + kLocalHeaderSize, localNameLength);
            if (localNameLength != nameLength
                || std::memcmp(m_data + localOffset + kLocalHeaderSize, m_data + name, nameLength) != 0)
                fail("entry " + entryName + " has a different name in its local header");
            const uint64_t dataOffset = localOffset + kLocalHeaderSize + localNameLength + localExtraLength;
            need(dataOffset, compressedSize);
            const uint32_t actual = method == kStored ? crc32OfRange(dataOffset, size)
                                                      : crc32OfInflated(dataOffset, compressedSize, size, entryName);
            if (actual != crc)
                fail("entry " + entryName + " fails its checksum");
        }
        if (at != directoryEnd)
            fail("its directory holds more than its entry count");
    }

private:
    [[noreturn]] void fail(const std::string &what) const
    {
        throw fileError(m_path, "damaged " + m_kind + ": " + what);
    }

    [[noreturn]] void notAnArchive() const
    {
        throw fileError(m_path, "not a " + m_kind + ", or truncated (it has no zip end record)");
    }

    // Fails unless [offset, offset + length) lies inside the file.
    void need(uint64_t offset, uint64_t length) const
    {
        if (offset > m_size || length > m_size - offset)
            fail("truncated");
    }

    uint16_t u16(uint64_t offset) const { return uint16_t(m_data[offset] | m_data[offset + 1] << 8); }
    uint32_t u32(uint64_t offset) const { return uint32_t(u16(offset)) | uint32_t(u16(offset + 2)) << 16; }
    uint64_t u64(uint64_t offset) const { return uint64_t(u32(offset)) | uint64_t(u32(offset + 4)) << 32; }

    // The end-of-central-directory record: as zip readers find it, the last
    // one within the 64 KiB a comment may take; its comment must end the file.
    size_t findEnd() const
    {
        if (m_size < kEndSize)
            notAnArchive();
        const size_t lowest = m_size - kEndSize - std::min<size_t>(m_size - kEndSize, 0xffff);
        for (size_t at = m_size - kEndSize + 1; at-- > lowest;)
            if (u32(at) == kEnd) {
                if (at + kEndSize + u16(at + 20) != m_size)
                    fail("data follows its end record");
                return at;
            }
        notAnArchive();
    }

    // Sizes and offset that do not fit 32 bits are 0xffffffff in the header
    // and 64-bit values, in this order, in the zip64 extra field.
    void readZip64Extra(uint64_t extra, size_t length, uint64_t &size, uint64_t &compressedSize,
                        uint64_t &localOffset) const
    {
        for (uint64_t at = extra, end = extra + length; end - at >= 4;) {
            const uint16_t id = u16(at), fieldLength = u16(at + 2);
            const uint64_t field = at + 4;
            at = field + fieldLength;
            if (at > end)
                fail("an entry's extra field is damaged");
            if (id != kZip64Extra)
                continue;
            uint64_t next = field;
            for (uint64_t *value : {&size, &compressedSize, &localOffset}) {
                if (*value != 0xffffffff)
                    continue;
                if (at - next < 8)
                    fail("an entry's zip64 field is damaged");
                *value = u64(next);
                next += 8;
            }
        }
    }

    uint32_t crc32OfRange(uint64_t offset, uint64_t length) const
    {
        uLong crc = crc32(0, nullptr, 0);
        for (uint64_t done = 0; done < length;) {
            const uInt chunk = uInt(std::min<uint64_t>(length - done, 1u << 30));
            crc = crc32(crc, m_data + offset + done, chunk);
            done += chunk;
        }
        return uint32_t(crc);
    }

    // The CRC-32 of a deflated entry's contents, which must inflate to
    // exactly `size` bytes.
    uint32_t crc32OfInflated(uint64_t offset, uint64_t length, uint64_t size, const std::string &entryName) const
    {
        z_stream z{};
        if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
            fail("zlib cannot start");
        uLong crc = crc32(0, nullptr, 0);
        uint64_t inflated = 0;
        uint64_t consumed = 0;
        std::vector<Bytef> buffer(1 << 16);
        int status = Z_OK;
        while (status == Z_OK) {
            if (z.avail_in == 0 && consumed < length) {
                z.next_in = const_cast<Bytef *>(m_data + offset + consumed);
                z.avail_in = uInt(std::min<uint64_t>(length - consumed, 1u << 30));
                consumed += z.avail_in;
            }
            z.next_out = buffer.data();
            z.avail_out = uInt(buffer.size());
            status = inflate(&z, Z_NO_FLUSH);
            const uInt produced = uInt(buffer.size()) - z.avail_out;
            inflated += produced;
            if (inflated > size)
                break;
            crc = crc32(crc, buffer.data(), produced);
            if (status == Z_BUF_ERROR && z.avail_in == 0 && consumed < length)
                status = Z_OK;
        }
        inflateEnd(&z);
        if (status != Z_STREAM_END || inflated != size)
            fail("entry " + entryName + " does not inflate to its size");
        return uint32_t(crc);
    }

    const uint8_t *m_data;
    size_t m_size;
    const std::string &m_path;
    const std::string &m_kind;
};

} // namespace

std::string readZipArchive(const std::string &path, const std::string &kind)
{
    std::ifstream in(path, std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (!in.is_open() || in.bad())
        throw fileError(path, "cannot read " + kind);
    Reader(bytes.data(), bytes.size(), path, kind).check();
    return bytes;
}

} // namespace liftlab
