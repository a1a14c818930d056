#include "data/augment.h"

namespace liftlab {

torch::Tensor makeBatch(const Dataset &data, const std::vector<int64_t> &indices, const Normalization &norm,
                        const AugmentOptions &augment, std::mt19937_64 *rng)
{
    const int64_t c = data.images.size(1), h = data.images.size(2), w = data.images.size(3);
    const int64_t b = int64_t(indices.size());
    torch::Tensor out = torch::empty({b, c, h, w}, torch::kFloat32);
    const torch::Tensor images = data.images.contiguous();
    const uint8_t *src = images.data_ptr<uint8_t>();
    float *dst = out.data_ptr<float>();
    const bool doAugment = augment.enabled && rng;
    const int pad = augment.padding;

    for (int64_t n = 0; n < b; ++n) {
        int dy = 0, dx = 0;
        bool flip = false;
        if (doAugment) {
            std::uniform_int_distribution<int> offset(-pad, pad);
            dy = offset(*rng);
            dx = offset(*rng);
            flip = augment.flip && ((*rng)() & 1);
        }
        const uint8_t *image = src + indices[size_t(n)] * c * h * w;
        for (int64_t ch = 0; ch < c; ++ch) {
            const float scale = 1.0f / (255.0f * norm.std[size_t(ch)]);
            const float shift = -norm.mean[size_t(ch)] / norm.std[size_t(ch)];
            const uint8_t *plane = image + ch * h * w;
            float *target = dst + ((n * c) + ch) * h * w;
            for (int64_t y = 0; y < h; ++y) {
                const int64_t sy = y + dy;
                for (int64_t x = 0; x < w; ++x) {
                    const int64_t sx = (flip ? w - 1 - x : x) + dx;
                    const bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
                    target[y * w + x] = (inside ? plane[sy * w + sx] : 0) * scale + shift;
                }
            }
        }
    }
    return out;
}

} // namespace liftlab
