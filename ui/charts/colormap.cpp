#include "charts/colormap.h"

#include <algorithm>
#include <cmath>

namespace liftlab {

QRgb viridis(double t)
{
    static const QRgb stops[] = {0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c,
                                 0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725};
    constexpr int last = int(sizeof stops / sizeof stops[0]) - 1;
    if (!std::isfinite(t))
        t = 0;
    const double x = std::clamp(t, 0.0, 1.0) * last;
    const int i = std::min(int(x), last - 1);
    const double f = x - i;
    auto mix = [f](int a, int b) { return int(std::lround(a + (b - a) * f)); };
    const QRgb a = stops[i], b = stops[i + 1];
    return qRgb(mix(qRed(a), qRed(b)), mix(qGreen(a), qGreen(b)), mix(qBlue(a), qBlue(b)));
}

QRgb categorical(int index)
{
    static const QRgb tableau[] = {0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f,
                                   0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac};
    constexpr int count = int(sizeof tableau / sizeof tableau[0]);
    if (index < 0)
        return qRgb(128, 128, 128);
    if (index < count)
        return tableau[index] | 0xff000000u;
    const double hue = std::fmod((index - count) * 137.508, 360.0);
    return QColor::fromHsv(int(hue), 170 + 40 * (index % 2), 200 - 30 * (index / 2 % 2)).rgb();
}

QColor runColour(int run)
{
    return QColor::fromRgb(categorical(run));
}

} // namespace liftlab
