#pragma once

// The pixels of a dataset's images, uint8 C x H x W each, either held in
// memory or read on demand from a file of decoded images (imagedecode.h
// writes them), so that memory need not grow with the number of images.
// Either way a store reads the same bytes: what is made from it does not
// depend on where the pixels live.
//
// A store is a list of rows of its storage; copies share the storage, and
// select() and narrow() make other lists of the same rows.

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace liftlab {

class ImageStore
{
public:
    ImageStore() = default;
    // Every image of `pixels` (uint8 [N, C, H, W]), in memory.
    explicit ImageStore(torch::Tensor pixels);
    // The images `rows` of a file holding uint8 C x H x W images one after
    // another from byte `offset` on. The store owns `fd` and closes it.
    ImageStore(int fd, std::string path, int64_t offset, int64_t channels, int64_t height, int64_t width,
               std::vector<int64_t> rows);

    int64_t size() const { return int64_t(m_rows.size()); }
    int64_t channels() const;
    int64_t height() const;
    int64_t width() const;
    int64_t imageBytes() const { return channels() * height() * width(); }
    bool inMemory() const;
    std::string filePath() const; // where the pixels are read from (empty: in memory)

    // Image i's pixels: a pointer into memory, or `buffer` (imageBytes()
    // long) filled from the file. Throws liftlab::Error when the file
    // cannot be read.
    const uint8_t *pixels(int64_t i, uint8_t *buffer) const;
    torch::Tensor image(int64_t i) const;                          // uint8 [C, H, W]
    torch::Tensor gather(const std::vector<int64_t> &indices) const; // uint8 [B, C, H, W]
    torch::Tensor all() const;                                      // uint8 [N, C, H, W]

    ImageStore select(const std::vector<int64_t> &indices) const;
    ImageStore narrow(int64_t first, int64_t count) const;

private:
    struct Storage;
    std::shared_ptr<const Storage> m_storage;
    std::vector<int64_t> m_rows; // for each image, its row in the storage
};

} // namespace liftlab
