#include "data/imagestore.h"

#include "error.h"

#include <torch/torch.h>

#include <cerrno>
#include <cstring>
#include <numeric>

#include <unistd.h>

namespace liftlab {

struct ImageStore::Storage
{
    int64_t channels = 0, height = 0, width = 0;
    torch::Tensor memory; // uint8 [N, C, H, W], contiguous; or undefined:
    int fd = -1;          // the file, from `offset` on
    std::string path;
    int64_t offset = 0;

    Storage() = default;
    Storage(const Storage &) = delete;
    Storage &operator=(const Storage &) = delete;
    ~Storage()
    {
        if (fd >= 0)
            ::close(fd);
    }

    int64_t imageBytes() const { return channels * height * width; }

    void read(int64_t row, uint8_t *out) const
    {
        const size_t size = size_t(imageBytes());
        off_t at = off_t(offset + row * int64_t(size));
        for (size_t done = 0; done < size;) {
            const ssize_t n = ::pread(fd, out + done, size - done, at);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throw fileError(path, n < 0 ? std::string("cannot read decoded images: ") + std::strerror(errno)
                                            : std::string("decoded images file is shorter than it should be"));
            done += size_t(n);
            at += n;
        }
    }
};

ImageStore::ImageStore(torch::Tensor pixels)
{
    TORCH_CHECK(pixels.dim() == 4 && pixels.scalar_type() == torch::kUInt8, "ImageStore: expected uint8 [N, C, H, W]");
    auto s = std::make_shared<Storage>();
    s->channels = pixels.size(1);
    s->height = pixels.size(2);
    s->width = pixels.size(3);
    s->memory = pixels.contiguous();
    m_rows.resize(size_t(pixels.size(0)));
    std::iota(m_rows.begin(), m_rows.end(), int64_t(0));
    m_storage = std::move(s);
}

ImageStore::ImageStore(int fd, std::string path, int64_t offset, int64_t channels, int64_t height, int64_t width,
                       std::vector<int64_t> rows)
    : m_rows(std::move(rows))
{
    auto s = std::make_shared<Storage>();
    s->fd = fd;
    s->path = std::move(path);
    s->offset = offset;
    s->channels = channels;
    s->height = height;
    s->width = width;
    m_storage = std::move(s);
}

int64_t ImageStore::channels() const
{
    return m_storage ? m_storage->channels : 0;
}

int64_t ImageStore::height() const
{
    return m_storage ? m_storage->height : 0;
}

int64_t ImageStore::width() const
{
    return m_storage ? m_storage->width : 0;
}

bool ImageStore::inMemory() const
{
    return !m_storage || m_storage->memory.defined();
}

std::string ImageStore::filePath() const
{
    return m_storage && !m_storage->memory.defined() ? m_storage->path : std::string();
}

const uint8_t *ImageStore::pixels(int64_t i, uint8_t *buffer) const
{
    const int64_t row = m_rows.at(size_t(i));
    if (m_storage->memory.defined())
        return m_storage->memory.data_ptr<uint8_t>() + row * imageBytes();
    m_storage->read(row, buffer);
    return buffer;
}

torch::Tensor ImageStore::image(int64_t i) const
{
    return gather({i}).squeeze(0);
}

torch::Tensor ImageStore::gather(const std::vector<int64_t> &indices) const
{
    torch::Tensor out = torch::empty({int64_t(indices.size()), channels(), height(), width()}, torch::kUInt8);
    uint8_t *dst = out.data_ptr<uint8_t>();
    const int64_t bytes = imageBytes();
    for (size_t k = 0; k < indices.size(); ++k) {
        uint8_t *target = dst + int64_t(k) * bytes;
        const uint8_t *source = pixels(indices[k], target);
        if (source != target)
            std::memcpy(target, source, size_t(bytes));
    }
    return out;
}

torch::Tensor ImageStore::all() const
{
    std::vector<int64_t> every(m_rows.size());
    std::iota(every.begin(), every.end(), int64_t(0));
    return gather(every);
}

ImageStore ImageStore::select(const std::vector<int64_t> &indices) const
{
    ImageStore s;
    s.m_storage = m_storage;
    s.m_rows.reserve(indices.size());
    for (const int64_t i : indices)
        s.m_rows.push_back(m_rows.at(size_t(i)));
    return s;
}

ImageStore ImageStore::narrow(int64_t first, int64_t count) const
{
    TORCH_CHECK(first >= 0 && count >= 0 && first + count <= size(), "ImageStore::narrow out of range");
    ImageStore s;
    s.m_storage = m_storage;
    s.m_rows.assign(m_rows.begin() + first, m_rows.begin() + first + count);
    return s;
}

} // namespace liftlab
