#include "testdata.h"

#include "data/idx.h"

#include <QProcess>

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

namespace liftlab::testing {

namespace {

void write(const std::string &path, const IdxArray &array, bool gzip)
{
    if (!gzip) {
        writeIdx(path, array);
        return;
    }
    writeIdx(path + ".raw", array);
    std::ifstream in(path + ".raw", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    gzFile out = gzopen((path + ".gz").c_str(), "wb");
    gzwrite(out, bytes.data(), unsigned(bytes.size()));
    gzclose(out);
    std::filesystem::remove(path + ".raw");
}

void writeSplit(const std::string &folder, const std::string &prefix, int classes, int perClass, std::mt19937 &rng,
                bool gzip)
{
    const int n = classes * perClass;
    IdxArray images{{n, 28, 28}, std::vector<uint8_t>(size_t(n) * 784)};
    IdxArray labels{{n}, std::vector<uint8_t>(size_t(n))};
    std::normal_distribution<float> noise(0.f, 20.f);
    std::uniform_int_distribution<int> jitter(-1, 1);
    for (int i = 0; i < n; ++i) {
        const int c = i % classes;
        labels.data[size_t(i)] = uint8_t(c);
        const float cy = 6.f + 16.f * float(c / 4) / 3.f + float(jitter(rng));
        const float cx = 6.f + 16.f * float(c % 4) / 3.f + float(jitter(rng));
        for (int y = 0; y < 28; ++y)
            for (int x = 0; x < 28; ++x) {
                const float r2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
                const float v = 220.f * std::exp(-r2 / 18.f) + 20.f + noise(rng);
                images.data[size_t(i) * 784 + size_t(y * 28 + x)] = uint8_t(std::clamp(v, 0.f, 255.f));
            }
    }
    write(folder + "/" + prefix + "-images-idx3-ubyte", images, gzip);
    write(folder + "/" + prefix + "-labels-idx1-ubyte", labels, gzip);
}

} // namespace

void writeSyntheticIdx(const std::string &folder, int classes, int trainPerClass, int testPerClass, unsigned seed,
                       bool gzip)
{
    std::filesystem::create_directories(folder);
    std::mt19937 rng(seed);
    writeSplit(folder, "train", classes, trainPerClass, rng, gzip);
    writeSplit(folder, "t10k", classes, testPerClass, rng, gzip);
}

TempDir::TempDir()
{
    std::string pattern = (std::filesystem::temp_directory_path() / "liftlab-test-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
        throw std::runtime_error("cannot create a temporary folder");
    m_path = pattern;
}

TempDir::~TempDir()
{
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

QString python(const QStringList &arguments)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(QStringLiteral("/usr/bin/python3"), arguments);
    if (!p.waitForFinished(300000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
        return QStringLiteral("python3 %1 failed: %2").arg(arguments.join(' '), QString::fromUtf8(p.readAll()));
    return {};
}

} // namespace liftlab::testing
