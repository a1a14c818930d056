// Unit tests of the data layer: IDX and .npy files, dataset loading and
// splits, the P x K sampler and batch assembly with augmentation.

#include "data/augment.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/npy.h"
#include "data/sampler.h"
#include "error.h"
#include "testdata.h"
#include "util/atomicfile.h"

#include <QtTest/QtTest>

#include <torch/torch.h>

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>

using namespace liftlab;
using liftlab::testing::TempDir;

namespace {

std::string readBytes(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeBytes(const std::string &path, const std::string &bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out)
        throw std::runtime_error("test cannot write " + path);
}

// gzip-compresses `bytes` into `path` with zlib, as `gzip` would.
void writeGzip(const std::string &path, const std::string &bytes)
{
    gzFile out = gzopen(path.c_str(), "wb");
    if (!out)
        throw std::runtime_error("test cannot write " + path);
    if (!bytes.empty() && gzwrite(out, bytes.data(), unsigned(bytes.size())) != int(bytes.size()))
        throw std::runtime_error("test cannot compress into " + path);
    gzclose(out);
}

bool containsNoCase(std::string text, std::string part)
{
    auto lower = [](std::string &s) {
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    };
    lower(text);
    lower(part);
    return text.find(part) != std::string::npos;
}

// Runs `f` and describes what is wrong: empty when it threw liftlab::Error
// whose message mentions every fragment (case-insensitively). Any other
// exception escapes and fails the test.
template<typename F>
QString errorProblem(F &&f, const std::vector<std::string> &fragments)
{
    try {
        f();
    } catch (const liftlab::Error &e) {
        const std::string what = e.what();
        for (const std::string &fragment : fragments)
            if (!containsNoCase(what, fragment))
                return QString("message \"%1\" does not mention \"%2\"")
                    .arg(QString::fromStdString(what), QString::fromStdString(fragment));
        return {};
    }
    return QStringLiteral("no liftlab::Error was thrown");
}

#define VERIFY_ERROR(problem)                                                                                          \
    do {                                                                                                               \
        const QString problem_ = (problem);                                                                            \
        QVERIFY2(problem_.isEmpty(), qPrintable(problem_));                                                            \
    } while (false)

std::vector<int64_t> toStd(const QList<qint64> &list)
{
    return std::vector<int64_t>(list.begin(), list.end());
}

std::string be32(uint32_t v)
{
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// An IDX file by hand: magic (0, 0, type, rank), big-endian dims, payload.
std::string idxBytes(uint8_t type, const std::vector<uint32_t> &dims, size_t payload, int rankOverride = -1)
{
    std::string s{char(0), char(0), char(type), char(rankOverride >= 0 ? rankOverride : int(dims.size()))};
    for (uint32_t d : dims)
        s += be32(d);
    for (size_t i = 0; i < payload; ++i)
        s += char(i * 7 + 1);
    return s;
}

// A .npy file by hand, in the layout numpy itself writes (v1: 2-byte header
// length; v2: 4-byte), padded so that the data is 64-byte aligned.
std::string npyBytes(const std::string &dict, const std::string &data, int major = 1, const std::string &magic = "\x93NUMPY")
{
    const size_t prefix = major == 1 ? 10 : 12;
    std::string header = dict;
    header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    std::string s = magic;
    s += char(major);
    s += char(0);
    const size_t n = header.size();
    s += char(n & 0xff);
    s += char((n >> 8) & 0xff);
    if (major != 1) {
        s += char((n >> 16) & 0xff);
        s += char((n >> 24) & 0xff);
    }
    return s + header + data;
}

template<typename T>
std::string rawBytes(const std::vector<T> &values)
{
    return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
}

// Deterministic test values of each .npy type, including awkward ones.
std::string npyTestBytes(NpyArray::Type type, int64_t count)
{
    switch (type) {
    case NpyArray::Type::Float32: {
        std::vector<float> v(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i)
            v[size_t(i)] = float(i) * 0.37f - 3.25f;
        const float specials[] = {-0.0f, 1e-30f, -3.4e38f, 123456.789f};
        for (size_t i = 0; i < 4 && i < v.size(); ++i)
            v[i] = specials[i];
        return rawBytes(v);
    }
    case NpyArray::Type::Float64: {
        std::vector<double> v(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i)
            v[size_t(i)] = 0.1 + double(i) * 1e-12; // not representable as float
        const double specials[] = {-1e300, 5e-324, 3.141592653589793};
        for (size_t i = 0; i < 3 && i < v.size(); ++i)
            v[i] = specials[i];
        return rawBytes(v);
    }
    case NpyArray::Type::Int32: {
        std::vector<int32_t> v(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i)
            v[size_t(i)] = int32_t(i * 1000003 - 77);
        const int32_t specials[] = {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), -1};
        for (size_t i = 0; i < 3 && i < v.size(); ++i)
            v[i] = specials[i];
        return rawBytes(v);
    }
    case NpyArray::Type::Int64: {
        std::vector<int64_t> v(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i)
            v[size_t(i)] = (int64_t(1) << 40) + i * 3 - 5; // beyond 32 bits
        const int64_t specials[] = {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), -1};
        for (size_t i = 0; i < 3 && i < v.size(); ++i)
            v[i] = specials[i];
        return rawBytes(v);
    }
    }
    return {};
}

// Every distinct class of a batch with the set of its indices.
std::map<int64_t, std::set<int64_t>> groupByLabel(const std::vector<int64_t> &batch, const std::vector<int64_t> &labels)
{
    std::map<int64_t, std::set<int64_t>> groups;
    for (int64_t i : batch)
        groups[labels[size_t(i)]].insert(i);
    return groups;
}

// Labels of 10 classes where class c holds c + 1 images, in shuffled order.
std::vector<int64_t> unevenLabels()
{
    std::vector<int64_t> labels;
    for (int64_t c = 0; c < 10; ++c)
        labels.insert(labels.end(), size_t(c + 1), c);
    std::shuffle(labels.begin(), labels.end(), std::mt19937(5));
    return labels;
}

// A small multi-channel uint8 dataset of random pixels (0 and 255 included).
Dataset randomImages(int64_t n, int64_t c, int64_t h, int64_t w, unsigned seed)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pixel(0, 255);
    torch::Tensor images = torch::empty({n, c, h, w}, torch::kUInt8);
    uint8_t *p = images.data_ptr<uint8_t>();
    for (int64_t i = 0; i < images.numel(); ++i)
        p[i] = uint8_t(pixel(rng));
    p[0] = 0;
    p[1] = 255;
    Dataset d;
    d.images = ImageStore(images);
    d.labels = torch::arange(n, torch::kInt64);
    for (int64_t i = 0; i < n; ++i)
        d.classNames.push_back(std::to_string(i));
    return d;
}

// The expected evaluation-mode image: (pixel / 255 - mean) / std, computed
// in double, independently of makeBatch's fused scale-and-shift.
torch::Tensor referenceNormalised(const torch::Tensor &image, const Normalization &norm)
{
    torch::Tensor out = image.to(torch::kFloat64) / 255.0;
    for (int64_t ch = 0; ch < out.size(0); ++ch)
        out[ch] = (out[ch] - double(norm.mean[size_t(ch)])) / double(norm.std[size_t(ch)]);
    return out.to(torch::kFloat32);
}

// The image [C, H, W] cropped from its zero-padded version at offset
// (dy, dx), optionally mirrored: out(y, x) = in(y + dy, x' + dx) with
// x' = w - 1 - x when mirrored, else x, and 0 outside the image. Over all
// offsets in [-p, p] this is the same candidate set whether the crop comes
// before or after the mirror.
torch::Tensor shifted(const torch::Tensor &image, int dy, int dx, bool flip)
{
    const int64_t c = image.size(0), h = image.size(1), w = image.size(2);
    const auto in = image.accessor<uint8_t, 3>();
    torch::Tensor out = torch::zeros({c, h, w}, torch::kUInt8);
    auto o = out.accessor<uint8_t, 3>();
    for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x) {
                const int64_t sy = y + dy;
                const int64_t sx = (flip ? w - 1 - x : x) + dx;
                if (sy >= 0 && sy < h && sx >= 0 && sx < w)
                    o[ch][y][x] = in[ch][sy][sx];
            }
    return out;
}

} // namespace

class TestData : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    // IDX
    void idxRoundTrip_data();
    void idxRoundTrip();
    void idxErrors_data();
    void idxErrors();

    // Dataset loading and splits
    void loadSplit_data();
    void loadSplit();
    void loadMissingFolder();
    void loadMissingFile_data();
    void loadMissingFile();
    void loadCorruptFolder_data();
    void loadCorruptFolder();
    void splitNames();

    // .npy
    void npyRoundTrip_data();
    void npyRoundTrip();
    void npyFloatLabels();
    void npyHeader_data();
    void npyHeader();
    void npyReadsNumpyFiles_data();
    void npyReadsNumpyFiles();
    void npyRefuses_data();
    void npyRefuses();

    // Sampling
    void pkBatches_data();
    void pkBatches();
    void pkDeterminism();
    void pkRejects_data();
    void pkRejects();
    void pairBatches();
    void pairRejects();
    void sampleDistinct_data();
    void sampleDistinct();
    void sampleDistinctIsUniform();

    // Batch assembly
    void makeBatchWithoutAugmentation_data();
    void makeBatchWithoutAugmentation();
    void makeBatchAugmentationIsDeterministic();
    void makeBatchAugmentationCandidates_data();
    void makeBatchAugmentationCandidates();

private:
    std::unique_ptr<TempDir> m_dir;
    std::string m_rawFolder;
    std::string m_gzipFolder;
};

void TestData::initTestCase()
{
    m_dir = std::make_unique<TempDir>();
    m_rawFolder = m_dir->file("raw");
    m_gzipFolder = m_dir->file("gzip");
    liftlab::testing::writeSyntheticIdx(m_rawFolder, 10, 12, 6, 1, false);
    liftlab::testing::writeSyntheticIdx(m_gzipFolder, 10, 12, 6, 1, true);
    QVERIFY(std::filesystem::exists(m_gzipFolder + "/train-images-idx3-ubyte.gz"));
    QVERIFY(!std::filesystem::exists(m_gzipFolder + "/train-images-idx3-ubyte"));
}

// ---------------------------------------------------------------- IDX ----

void TestData::idxRoundTrip_data()
{
    QTest::addColumn<QList<qint64>>("shape");
    QTest::addColumn<bool>("gzip");
    QTest::newRow("1-D") << QList<qint64>{17} << false;
    QTest::newRow("2-D") << QList<qint64>{3, 5} << false;
    QTest::newRow("3-D images") << QList<qint64>{4, 28, 28} << false;
    QTest::newRow("dims above one byte") << QList<qint64>{2, 70000} << false;
    QTest::newRow("empty") << QList<qint64>{0, 28, 28} << false;
    QTest::newRow("1-D gzip") << QList<qint64>{17} << true;
    QTest::newRow("3-D images gzip") << QList<qint64>{4, 28, 28} << true;
    QTest::newRow("dims above one byte gzip") << QList<qint64>{2, 70000} << true;
}

void TestData::idxRoundTrip()
{
    QFETCH(QList<qint64>, shape);
    QFETCH(bool, gzip);

    IdxArray written;
    written.shape = toStd(shape);
    size_t count = 1;
    for (int64_t d : written.shape)
        count *= size_t(d);
    for (size_t i = 0; i < count; ++i)
        written.data.push_back(uint8_t((i * 31 + i / 256 + 7) & 0xff));

    TempDir dir;
    const std::string path = dir.file("array-idx-ubyte");
    writeIdx(path, written);

    // The file itself: magic 0 0 8 rank, big-endian dims, then the bytes.
    const std::string file = readBytes(path);
    QCOMPARE(file.size(), 4 + 4 * written.shape.size() + count);
    QCOMPARE(int(file[0]), 0);
    QCOMPARE(int(file[1]), 0);
    QCOMPARE(int(file[2]), 0x08);
    QCOMPARE(int(file[3]), int(written.shape.size()));
    for (size_t d = 0; d < written.shape.size(); ++d)
        QCOMPARE(file.substr(4 + 4 * d, 4), be32(uint32_t(written.shape[d])));

    std::string readPath = path;
    if (gzip) {
        readPath = path + ".gz";
        writeGzip(readPath, file);
        QVERIFY(readBytes(readPath) != file); // really compressed
    }
    const IdxArray read = readIdx(readPath);
    QCOMPARE(read.shape, written.shape);
    QCOMPARE(read.data.size(), count);
    QVERIFY(read.data == written.data);
}

void TestData::idxErrors_data()
{
    QTest::addColumn<QByteArray>("content"); // written as is
    QTest::addColumn<bool>("create");        // false: the file does not exist
    QTest::addColumn<bool>("gzip");          // compress `content` first
    QTest::addColumn<QString>("fragment");   // besides the path

    auto bytes = [](const std::string &s) { return QByteArray(s.data(), qsizetype(s.size())); };
    const std::string good = idxBytes(0x08, {2, 3}, 6);
    QTest::newRow("missing file") << QByteArray() << false << false << QString();
    QTest::newRow("empty file") << QByteArray() << true << false << "magic";
    QTest::newRow("wrong magic byte 0") << bytes("\x01" + good.substr(1)) << true << false << "magic";
    QTest::newRow("wrong magic byte 1") << bytes(good.substr(0, 1) + "\x01" + good.substr(2)) << true << false << "magic";
    QTest::newRow("text file") << QByteArray("hello, world\n") << true << false << "magic";
    QTest::newRow("int32 elements") << bytes(idxBytes(0x0C, {2, 3}, 24)) << true << false << "type";
    QTest::newRow("float32 elements") << bytes(idxBytes(0x0D, {2, 3}, 24)) << true << false << "type";
    QTest::newRow("signed bytes") << bytes(idxBytes(0x09, {2, 3}, 6)) << true << false << "type";
    QTest::newRow("rank 0") << bytes(idxBytes(0x08, {}, 0)) << true << false << "rank";
    QTest::newRow("truncated header") << bytes(good.substr(0, 10)) << true << false << "header";
    QTest::newRow("truncated header rank 3") << bytes(idxBytes(0x08, {2, 3}, 0, 3)) << true << false << "header";
    QTest::newRow("truncated data") << bytes(good.substr(0, good.size() - 1)) << true << false << "truncated";
    QTest::newRow("no data") << bytes(idxBytes(0x08, {2, 3}, 0)) << true << false << "truncated";
    QTest::newRow("gzip truncated data") << bytes(good.substr(0, good.size() - 2)) << true << true << "truncated";
    QTest::newRow("gzip wrong magic") << bytes("\x02" + good.substr(1)) << true << true << "magic";
}

void TestData::idxErrors()
{
    QFETCH(QByteArray, content);
    QFETCH(bool, create);
    QFETCH(bool, gzip);
    QFETCH(QString, fragment);

    TempDir dir;
    const std::string path = dir.file(gzip ? "bad-idx3-ubyte.gz" : "bad-idx3-ubyte");
    const std::string bytes(content.constData(), size_t(content.size()));
    if (create) {
        if (gzip)
            writeGzip(path, bytes);
        else
            writeBytes(path, bytes);
    }
    std::vector<std::string> fragments{path};
    if (!fragment.isEmpty())
        fragments.push_back(fragment.toStdString());
    VERIFY_ERROR(errorProblem([&] { readIdx(path); }, fragments));
}

// ------------------------------------------------------------ Dataset ----

void TestData::loadSplit_data()
{
    QTest::addColumn<bool>("gzip");
    QTest::addColumn<QString>("split");
    QTest::addColumn<qint64>("trainSize");
    QTest::addColumn<qint64>("testSize");
    QTest::addColumn<QList<qint64>>("trainClasses");
    QTest::addColumn<QList<qint64>>("testClasses");

    const QList<qint64> all{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    const QList<qint64> first{0, 1, 2, 3, 4};
    const QList<qint64> second{5, 6, 7, 8, 9};
    QTest::newRow("seen") << false << "seen" << qint64(120) << qint64(60) << all << all;
    QTest::newRow("seen gzip") << true << "seen" << qint64(120) << qint64(60) << all << all;
    QTest::newRow("zero-shot") << false << "zero-shot" << qint64(60) << qint64(30) << first << second;
    QTest::newRow("zero-shot gzip") << true << "zero-shot" << qint64(60) << qint64(30) << first << second;
}

void TestData::loadSplit()
{
    QFETCH(bool, gzip);
    QFETCH(QString, split);
    QFETCH(qint64, trainSize);
    QFETCH(qint64, testSize);
    QFETCH(QList<qint64>, trainClasses);
    QFETCH(QList<qint64>, testClasses);

    const SplitKind kind = splitFromString(split.toStdString());
    const ExperimentData s = loadDataset(gzip ? m_gzipFolder : m_rawFolder, kind);

    QCOMPARE(s.train.size(), int64_t(trainSize));
    QCOMPARE(s.test.size(), int64_t(testSize));
    QCOMPARE(s.train.images.all().sizes().vec(), (std::vector<int64_t>{trainSize, 1, 28, 28}));
    QCOMPARE(s.test.images.all().sizes().vec(), (std::vector<int64_t>{testSize, 1, 28, 28}));
    QVERIFY(s.train.images.all().scalar_type() == torch::kUInt8);
    QVERIFY(s.train.labels.scalar_type() == torch::kInt64);
    QCOMPARE(s.train.classesPresent(), toStd(trainClasses));
    QCOMPARE(s.test.classesPresent(), toStd(testClasses));
    QCOMPARE(int(s.train.classNames.size()), 10);

    // Each class keeps all of its images: 12 train and 6 test per class.
    const torch::Tensor trainCounts = torch::bincount(s.train.labels, {}, 10);
    const torch::Tensor testCounts = torch::bincount(s.test.labels, {}, 10);
    for (qint64 c : trainClasses)
        QCOMPARE(trainCounts[c].item<int64_t>(), int64_t(12));
    for (qint64 c : testClasses)
        QCOMPARE(testCounts[c].item<int64_t>(), int64_t(6));

    if (kind == SplitKind::ZeroShot) {
        // Class-disjoint.
        std::set<int64_t> trainSet(trainClasses.begin(), trainClasses.end());
        for (qint64 c : testClasses)
            QVERIFY(!trainSet.count(c));
    }

    // The pixels are the file's pixels, image for image, label for label.
    const IdxArray trainImages = readIdx(m_rawFolder + "/train-images-idx3-ubyte");
    const IdxArray trainLabels = readIdx(m_rawFolder + "/train-labels-idx1-ubyte");
    std::vector<int64_t> kept; // indices of the file's train images in the split
    for (size_t i = 0; i < trainLabels.data.size(); ++i)
        if (std::find(trainClasses.begin(), trainClasses.end(), qint64(trainLabels.data[i])) != trainClasses.end())
            kept.push_back(int64_t(i));
    QCOMPARE(int64_t(kept.size()), int64_t(trainSize));
    const torch::Tensor images = s.train.images.all();
    for (size_t j = 0; j < kept.size(); ++j) {
        const size_t i = size_t(kept[j]);
        QCOMPARE(s.train.labels[int64_t(j)].item<int64_t>(), int64_t(trainLabels.data[i]));
        QVERIFY(std::memcmp(images.data_ptr<uint8_t>() + j * 784, trainImages.data.data() + i * 784, 784) == 0);
    }

    // Normalisation: the mean and std of x/255 over the training images only.
    double sum = 0, sumSquares = 0;
    for (int64_t i : kept)
        for (size_t p = 0; p < 784; ++p) {
            const double x = trainImages.data[size_t(i) * 784 + p] / 255.0;
            sum += x;
            sumSquares += x * x;
        }
    const double n = double(kept.size()) * 784;
    const double mean = sum / n;
    const double std = std::sqrt((sumSquares - n * mean * mean) / (n - 1));
    QCOMPARE(int(s.normalization.mean.size()), 1);
    QCOMPARE(int(s.normalization.std.size()), 1);
    QVERIFY(s.normalization.mean[0] > 0 && s.normalization.mean[0] < 1);
    QVERIFY(s.normalization.std[0] > 0);
    QVERIFY2(std::abs(s.normalization.mean[0] - mean) < 1e-4,
             qPrintable(QString("mean %1, expected %2").arg(s.normalization.mean[0]).arg(mean)));
    QVERIFY2(std::abs(s.normalization.std[0] - std) < 1e-4,
             qPrintable(QString("std %1, expected %2").arg(s.normalization.std[0]).arg(std)));
}

void TestData::loadMissingFolder()
{
    TempDir dir;
    const std::string missing = dir.file("no-such-dataset");
    VERIFY_ERROR(errorProblem([&] { loadDataset(missing, SplitKind::Seen); }, {missing}));
    VERIFY_ERROR(errorProblem([&] { loadDataset(missing, SplitKind::ZeroShot); }, {missing}));

    // A file where a folder is expected.
    const std::string file = dir.file("a-file");
    writeBytes(file, "not a folder");
    VERIFY_ERROR(errorProblem([&] { loadDataset(file, SplitKind::Seen); }, {file}));

    // An empty folder: the first missing file is named.
    const std::string empty = dir.file("empty");
    std::filesystem::create_directories(empty);
    VERIFY_ERROR(errorProblem([&] { loadDataset(empty, SplitKind::Seen); }, {empty, "-idx"}));
}

void TestData::loadMissingFile_data()
{
    QTest::addColumn<QString>("stem");
    QTest::addColumn<bool>("gzip");
    for (const char *stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                             "t10k-labels-idx1-ubyte"}) {
        QTest::newRow(stem) << stem << false;
        QTest::newRow(qPrintable(QString(stem) + " gzip")) << stem << true;
    }
}

void TestData::loadMissingFile()
{
    QFETCH(QString, stem);
    QFETCH(bool, gzip);

    TempDir dir;
    const std::string folder = dir.file("data");
    liftlab::testing::writeSyntheticIdx(folder, 10, 3, 2, 2, gzip);
    const std::string victim = folder + "/" + stem.toStdString() + (gzip ? ".gz" : "");
    QVERIFY(std::filesystem::remove(victim));
    VERIFY_ERROR(errorProblem([&] { loadDataset(folder, SplitKind::Seen); }, {folder, stem.toStdString()}));
}

void TestData::loadCorruptFolder_data()
{
    QTest::addColumn<QString>("file");  // the file replaced
    QTest::addColumn<QList<qint64>>("shape");
    QTest::addColumn<int>("fill");      // the value of every byte
    QTest::addColumn<QString>("named"); // which path the error must name

    QTest::newRow("fewer labels than images") << "train-labels-idx1-ubyte" << QList<qint64>{29} << 1
                                              << "train-labels-idx1-ubyte";
    QTest::newRow("label out of range") << "t10k-labels-idx1-ubyte" << QList<qint64>{20} << 12
                                        << "t10k-labels-idx1-ubyte";
    QTest::newRow("images of rank 2") << "train-images-idx3-ubyte" << QList<qint64>{30, 784} << 3
                                      << "train-images-idx3-ubyte";
    QTest::newRow("labels of rank 2") << "train-labels-idx1-ubyte" << QList<qint64>{30, 1} << 3
                                      << "train-labels-idx1-ubyte";
    QTest::newRow("test images of another size") << "t10k-images-idx3-ubyte" << QList<qint64>{20, 14, 14} << 3
                                                 << "";
}

void TestData::loadCorruptFolder()
{
    QFETCH(QString, file);
    QFETCH(QList<qint64>, shape);
    QFETCH(int, fill);
    QFETCH(QString, named);

    TempDir dir;
    const std::string folder = dir.file("data");
    liftlab::testing::writeSyntheticIdx(folder, 10, 3, 2, 3, false); // 30 train, 20 test
    IdxArray array;
    array.shape = toStd(shape);
    size_t count = 1;
    for (int64_t d : array.shape)
        count *= size_t(d);
    array.data.assign(count, uint8_t(fill));
    writeIdx(folder + "/" + file.toStdString(), array);

    std::vector<std::string> fragments{folder};
    if (!named.isEmpty())
        fragments.push_back(named.toStdString());
    VERIFY_ERROR(errorProblem([&] { loadDataset(folder, SplitKind::Seen); }, fragments));
}

void TestData::splitNames()
{
    QCOMPARE(int(splitFromString("seen")), int(SplitKind::Seen));
    QCOMPARE(int(splitFromString("zero-shot")), int(SplitKind::ZeroShot));
    QCOMPARE(splitToString(SplitKind::Seen), std::string("seen"));
    QCOMPARE(splitToString(SplitKind::ZeroShot), std::string("zero-shot"));
    for (SplitKind k : {SplitKind::Seen, SplitKind::ZeroShot})
        QCOMPARE(int(splitFromString(splitToString(k))), int(k));
    VERIFY_ERROR(errorProblem([] { splitFromString("bogus"); }, {"bogus"}));
    VERIFY_ERROR(errorProblem([] { splitFromString(""); }, {}));
    VERIFY_ERROR(errorProblem([] { splitFromString("Seen "); }, {}));
}

// ---------------------------------------------------------------- npy ----

void TestData::npyRoundTrip_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<QList<qint64>>("shape");

    const struct {
        const char *name;
        NpyArray::Type type;
    } types[] = {{"float32", NpyArray::Type::Float32},
                 {"float64", NpyArray::Type::Float64},
                 {"int32", NpyArray::Type::Int32},
                 {"int64", NpyArray::Type::Int64}};
    for (const auto &t : types) {
        QTest::newRow(qPrintable(QString("%1 1-D").arg(t.name))) << int(t.type) << QList<qint64>{7};
        QTest::newRow(qPrintable(QString("%1 2-D").arg(t.name))) << int(t.type) << QList<qint64>{3, 4};
        QTest::newRow(qPrintable(QString("%1 3-D").arg(t.name))) << int(t.type) << QList<qint64>{2, 3, 5};
        QTest::newRow(qPrintable(QString("%1 long").arg(t.name))) << int(t.type) << QList<qint64>{1000, 3};
        QTest::newRow(qPrintable(QString("%1 empty").arg(t.name))) << int(t.type) << QList<qint64>{0, 8};
    }
}

void TestData::npyFloatLabels()
{
    const float whole[] = {0.f, 2.f, 7.f, -3.f};
    QCOMPARE(npyFromFloats({4}, whole).toInt64(), (std::vector<int64_t>{0, 2, 7, -3}));
    for (const float bad : {0.5f, 1e20f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        const float values[] = {1.f, bad};
        QVERIFY_THROWS_EXCEPTION(Error, npyFromFloats({2}, values).toInt64());
    }
}

void TestData::npyRoundTrip()
{
    QFETCH(int, type);
    QFETCH(QList<qint64>, shape);

    NpyArray written;
    written.type = NpyArray::Type(type);
    written.shape = toStd(shape);
    const std::string bytes = npyTestBytes(written.type, written.count());
    written.bytes.assign(bytes.begin(), bytes.end());
    QCOMPARE(written.bytes.size(), size_t(written.count()) * written.itemSize());

    TempDir dir;
    const std::string path = dir.file("array.npy");
    writeNpy(path, written);
    QCOMPARE(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1L); // no leftover temporary file
    const NpyArray read = readNpy(path);
    QCOMPARE(int(read.type), type);
    QCOMPARE(read.shape, written.shape);
    QCOMPARE(read.count(), written.count());
    QVERIFY(read.bytes == written.bytes);

    // The conversions read the values, not just the bytes. Floating-point
    // values become labels only when whole (these are not: refused, never
    // truncated).
    const std::vector<float> asFloat = read.toFloats();
    QCOMPARE(int64_t(asFloat.size()), written.count());
    std::vector<int64_t> asInt;
    if (written.type == NpyArray::Type::Float32 || written.type == NpyArray::Type::Float64) {
        if (written.count() > 1)
            QVERIFY_THROWS_EXCEPTION(Error, read.toInt64());
    } else {
        asInt = read.toInt64();
        QCOMPARE(int64_t(asInt.size()), written.count());
    }
    for (int64_t i = 0; i < written.count(); ++i) {
        const char *p = written.bytes.data() + size_t(i) * written.itemSize();
        switch (written.type) {
        case NpyArray::Type::Float32: {
            float v;
            std::memcpy(&v, p, 4);
            QCOMPARE(asFloat[size_t(i)], v);
            break;
        }
        case NpyArray::Type::Float64: {
            double v;
            std::memcpy(&v, p, 8);
            QCOMPARE(asFloat[size_t(i)], float(v));
            break;
        }
        case NpyArray::Type::Int32: {
            int32_t v;
            std::memcpy(&v, p, 4);
            QCOMPARE(asInt[size_t(i)], int64_t(v));
            break;
        }
        case NpyArray::Type::Int64: {
            int64_t v;
            std::memcpy(&v, p, 8);
            QCOMPARE(asInt[size_t(i)], v);
            break;
        }
        }
    }
}

void TestData::npyHeader_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<QList<qint64>>("shape");
    QTest::addColumn<QString>("descr");
    QTest::addColumn<QString>("shapeText");

    QTest::newRow("float32 2-D") << int(NpyArray::Type::Float32) << QList<qint64>{3, 4} << "<f4" << "(3, 4)";
    QTest::newRow("float64 1-D") << int(NpyArray::Type::Float64) << QList<qint64>{7} << "<f8" << "(7,)";
    QTest::newRow("int32 3-D") << int(NpyArray::Type::Int32) << QList<qint64>{2, 3, 5} << "<i4" << "(2, 3, 5)";
    QTest::newRow("int64 1-D") << int(NpyArray::Type::Int64) << QList<qint64>{60000} << "<i8" << "(60000,)";
    QTest::newRow("float32 big dims") << int(NpyArray::Type::Float32) << QList<qint64>{123456, 0} << "<f4"
                                      << "(123456, 0)";
}

void TestData::npyHeader()
{
    QFETCH(int, type);
    QFETCH(QList<qint64>, shape);
    QFETCH(QString, descr);
    QFETCH(QString, shapeText);

    NpyArray a;
    a.type = NpyArray::Type(type);
    a.shape = toStd(shape);
    const std::string bytes = npyTestBytes(a.type, a.count());
    a.bytes.assign(bytes.begin(), bytes.end());

    TempDir dir;
    const std::string path = dir.file("array.npy");
    writeNpy(path, a);
    const std::string file = readBytes(path);
    QVERIFY(file.size() >= 10);
    QCOMPARE(file.substr(0, 6), std::string("\x93NUMPY"));
    QCOMPARE(int(uint8_t(file[6])), 1); // version 1.0
    QCOMPARE(int(uint8_t(file[7])), 0);
    const size_t headerLength = size_t(uint8_t(file[8])) | (size_t(uint8_t(file[9])) << 8);
    QCOMPARE((10 + headerLength) % 64, size_t(0));
    QCOMPARE(file.size(), 10 + headerLength + a.bytes.size());
    const std::string header = file.substr(10, headerLength);
    QCOMPARE(header.back(), '\n');
    QCOMPARE(header.front(), '{');
    QVERIFY2(header.find("'descr': '" + descr.toStdString() + "'") != std::string::npos, header.c_str());
    QVERIFY2(header.find("'fortran_order': False") != std::string::npos, header.c_str());
    QVERIFY2(header.find("'shape': " + shapeText.toStdString()) != std::string::npos, header.c_str());
    // Only spaces pad the dict up to the newline.
    const size_t close = header.rfind('}');
    QVERIFY(close != std::string::npos);
    for (size_t i = close + 1; i + 1 < header.size(); ++i)
        QCOMPARE(header[i], ' ');
    QVERIFY(a.bytes.empty() || std::memcmp(file.data() + 10 + headerLength, a.bytes.data(), a.bytes.size()) == 0);
}

void TestData::npyReadsNumpyFiles_data()
{
    QTest::addColumn<QByteArray>("file");
    QTest::addColumn<int>("type");
    QTest::addColumn<QList<qint64>>("shape");

    auto bytes = [](const std::string &s) { return QByteArray(s.data(), qsizetype(s.size())); };
    const std::vector<float> six{1.5f, -2.f, 0.f, 3.25f, 1e-3f, 7.f};
    const std::vector<int64_t> three{-1, 0, int64_t(1) << 50};
    // Headers exactly as numpy 1.x writes them (np.save).
    QTest::newRow("numpy float32 (2, 3)")
        << bytes(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", rawBytes(six)))
        << int(NpyArray::Type::Float32) << QList<qint64>{2, 3};
    QTest::newRow("numpy int64 (3,)")
        << bytes(npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", rawBytes(three)))
        << int(NpyArray::Type::Int64) << QList<qint64>{3};
    // Other writers may leave out numpy's trailing ", ".
    QTest::newRow("dict without trailing comma")
        << bytes(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", rawBytes(six)))
        << int(NpyArray::Type::Float32) << QList<qint64>{6};
    QTest::newRow("version 2.0 header")
        << bytes(npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", rawBytes(three), 2))
        << int(NpyArray::Type::Int64) << QList<qint64>{3};
}

void TestData::npyReadsNumpyFiles()
{
    QFETCH(QByteArray, file);
    QFETCH(int, type);
    QFETCH(QList<qint64>, shape);

    TempDir dir;
    const std::string path = dir.file("numpy.npy");
    writeBytes(path, std::string(file.constData(), size_t(file.size())));
    const NpyArray a = readNpy(path);
    QCOMPARE(int(a.type), type);
    QCOMPARE(a.shape, toStd(shape));
    const size_t dataBytes = size_t(a.count()) * a.itemSize();
    QCOMPARE(a.bytes.size(), dataBytes);
    QVERIFY(std::memcmp(a.bytes.data(), file.constData() + file.size() - qsizetype(dataBytes), dataBytes) == 0);
}

void TestData::npyRefuses_data()
{
    QTest::addColumn<QByteArray>("file");
    QTest::addColumn<bool>("create");
    QTest::addColumn<QString>("fragment");

    auto bytes = [](const std::string &s) { return QByteArray(s.data(), qsizetype(s.size())); };
    const std::string twelveFloats(48, '\x01');
    auto dict = [](const std::string &descr, const std::string &fortran, const std::string &shape) {
        return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
    };
    QTest::newRow("missing file") << QByteArray() << false << QString();
    QTest::newRow("empty file") << QByteArray() << true << "magic";
    QTest::newRow("big-endian float32")
        << bytes(npyBytes(dict(">f4", "False", "(3, 4)"), twelveFloats)) << true << ">f4";
    QTest::newRow("big-endian int64")
        << bytes(npyBytes(dict(">i8", "False", "(3, 2)"), twelveFloats)) << true << ">i8";
    QTest::newRow("uint8") << bytes(npyBytes(dict("<u1", "False", "(3, 4)"), twelveFloats)) << true << "<u1";
    QTest::newRow("float16") << bytes(npyBytes(dict("<f2", "False", "(3, 4)"), twelveFloats)) << true << "<f2";
    QTest::newRow("bool") << bytes(npyBytes(dict("|b1", "False", "(3, 4)"), twelveFloats)) << true << "|b1";
    QTest::newRow("fortran order")
        << bytes(npyBytes(dict("<f4", "True", "(3, 4)"), twelveFloats)) << true << "fortran";
    QTest::newRow("truncated data")
        << bytes(npyBytes(dict("<f4", "False", "(3, 4)"), twelveFloats.substr(0, 47))) << true << "truncated";
    QTest::newRow("no data") << bytes(npyBytes(dict("<f8", "False", "(3, 4)"), "")) << true << "truncated";
    QTest::newRow("truncated header")
        << bytes(npyBytes(dict("<f4", "False", "(3, 4)"), "").substr(0, 40)) << true << "truncated";
    QTest::newRow("wrong magic")
        << bytes(npyBytes(dict("<f4", "False", "(3, 4)"), twelveFloats, 1, "\x93NUMPZ")) << true << "magic";
    QTest::newRow("no magic byte")
        << bytes(npyBytes(dict("<f4", "False", "(3, 4)"), twelveFloats, 1, "ZNUMPY")) << true << "magic";
    QTest::newRow("unknown version")
        << bytes(npyBytes(dict("<f4", "False", "(3, 4)"), twelveFloats, 9)) << true << "version";
    QTest::newRow("text file") << QByteArray("1.0 2.0 3.0\n") << true << "magic";
}

void TestData::npyRefuses()
{
    QFETCH(QByteArray, file);
    QFETCH(bool, create);
    QFETCH(QString, fragment);

    TempDir dir;
    const std::string path = dir.file("bad.npy");
    if (create)
        writeBytes(path, std::string(file.constData(), size_t(file.size())));
    std::vector<std::string> fragments{path};
    if (!fragment.isEmpty())
        fragments.push_back(fragment.toStdString());
    VERIFY_ERROR(errorProblem([&] { readNpy(path); }, fragments));
}

// ----------------------------------------------------------- Sampling ----

void TestData::pkBatches_data()
{
    // unevenLabels(): class c holds c + 1 images, so the classes with at
    // least K images are K - 1 ... 9.
    QTest::addColumn<int>("p");
    QTest::addColumn<int>("k");
    QTest::addColumn<int>("eligible");
    QTest::newRow("P2 K2") << 2 << 2 << 9;
    QTest::newRow("P4 K3") << 4 << 3 << 8;
    QTest::newRow("P3 K6") << 3 << 6 << 5;
    QTest::newRow("P7 K4 all eligible every batch") << 7 << 4 << 7;
    QTest::newRow("P2 K9 only two classes hold 9") << 2 << 9 << 2;
}

void TestData::pkBatches()
{
    QFETCH(int, p);
    QFETCH(int, k);
    QFETCH(int, eligible);

    const std::vector<int64_t> labels = unevenLabels();
    std::map<int64_t, int64_t> classSize;
    for (int64_t l : labels)
        ++classSize[l];

    const PKSampler sampler(labels, p, k, 42);
    QCOMPARE(sampler.batchSize(), p * k);

    std::set<int64_t> classesSeen, indicesSeen;
    const int steps = 600;
    for (int64_t step = 0; step < steps; ++step) {
        const std::vector<int64_t> batch = sampler.batch(step);
        QCOMPARE(int(batch.size()), p * k);
        for (int64_t i : batch)
            QVERIFY(i >= 0 && i < int64_t(labels.size()));
        QCOMPARE(int(std::set<int64_t>(batch.begin(), batch.end()).size()), p * k); // no index twice
        const auto groups = groupByLabel(batch, labels);
        QCOMPARE(int(groups.size()), p);
        for (const auto &[label, members] : groups) {
            QCOMPARE(int(members.size()), k);
            QVERIFY(classSize[label] >= k);
            classesSeen.insert(label);
            indicesSeen.insert(members.begin(), members.end());
        }
    }
    // Every eligible class, and every image of it, is drawn eventually.
    QCOMPARE(int(classesSeen.size()), eligible);
    int64_t eligibleImages = 0;
    for (const auto &[label, size] : classSize)
        if (size >= k)
            eligibleImages += size;
    QCOMPARE(int64_t(indicesSeen.size()), eligibleImages);
}

void TestData::pkDeterminism()
{
    const std::vector<int64_t> labels = unevenLabels();
    const PKSampler a(labels, 4, 3, 7);
    const PKSampler sameSeed(labels, 4, 3, 7); // e.g. a resumed run
    const PKSampler otherSeed(labels, 4, 3, 8);

    int sameAsNextStep = 0, sameAsOtherSeed = 0;
    const int steps = 100;
    for (int64_t step = 0; step < steps; ++step) {
        const std::vector<int64_t> batch = a.batch(step);
        QCOMPARE(a.batch(step), batch);        // repeatable
        QCOMPARE(sameSeed.batch(step), batch); // no hidden state
        if (a.batch(step + 1) == batch)
            ++sameAsNextStep;
        if (otherSeed.batch(step) == batch)
            ++sameAsOtherSeed;
    }
    // 12 indices from 8 classes: identical batches are vanishingly rare.
    QVERIFY2(sameAsNextStep <= 1, qPrintable(QString::number(sameAsNextStep)));
    QVERIFY2(sameAsOtherSeed <= 1, qPrintable(QString::number(sameAsOtherSeed)));

    // The step generator itself: a function of (seed, step, stream).
    std::mt19937_64 g1 = stepGenerator(3, 10, 1), g2 = stepGenerator(3, 10, 1);
    std::mt19937_64 otherStep = stepGenerator(3, 11, 1), otherStream = stepGenerator(3, 10, 2),
                    otherSeedGen = stepGenerator(4, 10, 1);
    const uint64_t first = g1();
    QCOMPARE(g2(), first);
    QVERIFY(otherStep() != first);
    QVERIFY(otherStream() != first);
    QVERIFY(otherSeedGen() != first);
}

void TestData::pkRejects_data()
{
    QTest::addColumn<int>("p");
    QTest::addColumn<int>("k");
    QTest::newRow("P exceeds all classes") << 11 << 2;
    QTest::newRow("P exceeds classes with K images") << 8 << 4; // only 7 classes hold 4
    QTest::newRow("one class holds 10") << 2 << 10;
    QTest::newRow("no class holds 11") << 2 << 11;
    QTest::newRow("P 1") << 1 << 2;
    QTest::newRow("P 0") << 0 << 2;
    QTest::newRow("P negative") << -3 << 2;
    QTest::newRow("K 1") << 2 << 1;
    QTest::newRow("K 0") << 2 << 0;
}

void TestData::pkRejects()
{
    QFETCH(int, p);
    QFETCH(int, k);
    const std::vector<int64_t> labels = unevenLabels();
    VERIFY_ERROR(errorProblem([&] { (void)PKSampler(labels, p, k, 1); }, {}));
    // The boundary itself is accepted: 7 classes hold 4 images.
    const PKSampler boundary(labels, 7, 4, 1);
    QCOMPARE(boundary.batchSize(), 28);
}

void TestData::pairBatches()
{
    // unevenLabels(): class 0 holds one image and gives no pair.
    const std::vector<int64_t> labels = unevenLabels();
    const PairSampler sampler(labels, 6, 10, 3);
    QCOMPARE(sampler.batchSize(), 22);
    int pairsOfBigClasses = 0;
    for (int64_t step = 0; step < 200; ++step) {
        const std::vector<int64_t> batch = sampler.batch(step);
        QCOMPARE(int(batch.size()), 22);
        QCOMPARE(sampler.batch(step), batch); // a function of the step
        QCOMPARE(std::set<int64_t>(batch.begin(), batch.end()).size(), batch.size()); // distinct images
        for (int p = 0; p < 6; ++p) {
            const int64_t a = labels[size_t(batch[size_t(2 * p)])], b = labels[size_t(batch[size_t(2 * p + 1)])];
            QCOMPARE(a, b); // a positive pair
            QVERIFY(a != 0);
            pairsOfBigClasses += a >= 5;
        }
        for (int64_t i : batch)
            QVERIFY(i >= 0 && i < int64_t(labels.size()));
    }
    // Pairs are drawn image by image: the big classes (5-9, 45 of the 54
    // images with a classmate) give most of them.
    QVERIFY2(pairsOfBigClasses > 0.7 * 1200, qPrintable(QString::number(pairsOfBigClasses)));
    QVERIFY(sampler.batch(0) != sampler.batch(1));
    QVERIFY(PairSampler(labels, 6, 10, 4).batch(0) != sampler.batch(0));
}

void TestData::pairRejects()
{
    const std::vector<int64_t> labels = unevenLabels(); // 55 images
    VERIFY_ERROR(errorProblem([&] { (void)PairSampler(labels, 0, 10, 1); }, {"at least one positive pair"}));
    VERIFY_ERROR(errorProblem([&] { (void)PairSampler(labels, 2, -1, 1); }, {"at least one positive pair"}));
    VERIFY_ERROR(errorProblem([&] { (void)PairSampler(labels, 20, 20, 1); }, {"55 images"}));
    VERIFY_ERROR(errorProblem([&] { (void)PairSampler({0, 1, 2, 3}, 1, 1, 1); }, {"no class", "two images"}));
    // The boundary is accepted: all 55 images, in the 25 pairs that classes
    // of 2, 3, ..., 10 images can form, and 5 more.
    QCOMPARE(int(PairSampler(labels, 25, 5, 1).batch(0).size()), 55);
    // One more pair cannot be found: a clear error, not an endless search.
    VERIFY_ERROR(errorProblem([&] { (void)PairSampler(labels, 26, 3, 1).batch(0); }, {"26 distinct positive pairs"}));
}

void TestData::sampleDistinct_data()
{
    QTest::addColumn<qint64>("n");
    QTest::addColumn<int>("k");
    QTest::newRow("1 of 1") << qint64(1) << 1;
    QTest::newRow("all 10 of 10") << qint64(10) << 10;
    QTest::newRow("3 of 10") << qint64(10) << 3;
    QTest::newRow("0 of 10") << qint64(10) << 0;
    QTest::newRow("50 of 60") << qint64(60) << 50;
    QTest::newRow("5 of 10^12 (no O(n) work)") << qint64(1000000000000) << 5;
}

void TestData::sampleDistinct()
{
    QFETCH(qint64, n);
    QFETCH(int, k);
    std::mt19937_64 rng(11);
    for (int trial = 0; trial < 200; ++trial) {
        const std::vector<int64_t> s = liftlab::sampleDistinct(n, k, rng);
        QCOMPARE(int(s.size()), k);
        QCOMPARE(int(std::set<int64_t>(s.begin(), s.end()).size()), k);
        for (int64_t v : s)
            QVERIFY(v >= 0 && v < n);
    }
}

void TestData::sampleDistinctIsUniform()
{
    // Each of 10 values lands in a 3-subset with probability 3/10; over
    // 30000 draws the expected count is 9000 (sd ~ 80).
    std::mt19937_64 rng(2);
    std::vector<int> counts(10, 0);
    const int draws = 30000;
    for (int t = 0; t < draws; ++t)
        for (int64_t v : liftlab::sampleDistinct(10, 3, rng))
            ++counts[size_t(v)];
    for (int c : counts)
        QVERIFY2(std::abs(c - 9000) < 400, qPrintable(QString::number(c)));
    // And the order within a sample is not fixed (the first slot is not always the smallest).
    int firstIsSmallest = 0;
    for (int t = 0; t < 1000; ++t) {
        const std::vector<int64_t> s = liftlab::sampleDistinct(10, 3, rng);
        firstIsSmallest += s[0] == *std::min_element(s.begin(), s.end());
    }
    QVERIFY(firstIsSmallest < 1000);
}

// ------------------------------------------------------ Batch assembly ----

void TestData::makeBatchWithoutAugmentation_data()
{
    QTest::addColumn<bool>("enabled");
    QTest::addColumn<bool>("withRng");
    QTest::newRow("evaluation: no rng") << true << false;
    QTest::newRow("augmentation disabled, rng given") << false << true;
    QTest::newRow("augmentation disabled, no rng") << false << false;
}

void TestData::makeBatchWithoutAugmentation()
{
    QFETCH(bool, enabled);
    QFETCH(bool, withRng);

    const Dataset data = randomImages(4, 3, 5, 6, 9);
    const Normalization norm{{0.25f, 0.5f, 0.125f}, {0.5f, 2.0f, 0.3f}};
    const std::vector<int64_t> indices{2, 0, 3, 2};
    AugmentOptions options;
    options.enabled = enabled;
    std::mt19937_64 rng(1);

    const torch::Tensor batch = makeBatch(data, indices, norm, options, withRng ? &rng : nullptr);
    QCOMPARE(batch.sizes().vec(), (std::vector<int64_t>{4, 3, 5, 6}));
    QVERIFY(batch.scalar_type() == torch::kFloat32);
    for (size_t n = 0; n < indices.size(); ++n) {
        const torch::Tensor expected = referenceNormalised(data.images.image(indices[n]), norm);
        const double error = (batch[int64_t(n)] - expected).abs().max().item<double>();
        QVERIFY2(error < 1e-5, qPrintable(QString("image %1: max error %2").arg(n).arg(error)));
    }
    // Spot-check known pixels by hand: pixel 0 of image 0 is 0, pixel 1 is 255.
    QCOMPARE(int(data.images.image(0)[0][0][0].item<uint8_t>()), 0);
    QCOMPARE(int(data.images.image(0)[0][0][1].item<uint8_t>()), 255);
    QVERIFY(std::abs(batch[1][0][0][0].item<float>() - (0.0f - 0.25f) / 0.5f) < 1e-6f);
    QVERIFY(std::abs(batch[1][0][0][1].item<float>() - (1.0f - 0.25f) / 0.5f) < 1e-6f);
}

void TestData::makeBatchAugmentationIsDeterministic()
{
    const Dataset data = randomImages(8, 1, 12, 12, 3);
    const Normalization norm{{0.5f}, {0.25f}};
    std::vector<int64_t> indices;
    for (int i = 0; i < 32; ++i)
        indices.push_back(i % 8);
    const AugmentOptions options; // padding 2, flip on

    std::mt19937_64 rng1(77), rng2(77), rng3(78);
    const torch::Tensor a = makeBatch(data, indices, norm, options, &rng1);
    const torch::Tensor b = makeBatch(data, indices, norm, options, &rng2);
    const torch::Tensor c = makeBatch(data, indices, norm, options, &rng3);
    const torch::Tensor plain = makeBatch(data, indices, norm, options, nullptr);
    QVERIFY(torch::equal(a, b));
    QVERIFY(!torch::equal(a, c));
    QVERIFY(!torch::equal(a, plain)); // augmentation did something
    // The generator advanced identically too.
    QCOMPARE(rng1(), rng2());
}

void TestData::makeBatchAugmentationCandidates_data()
{
    QTest::addColumn<int>("padding");
    QTest::addColumn<bool>("flip");
    QTest::newRow("flip only") << 0 << true;
    QTest::newRow("crop only, padding 2") << 2 << false;
    QTest::newRow("crop 1 and flip") << 1 << true;
    QTest::newRow("crop 2 and flip") << 2 << true;
    QTest::newRow("nothing to do") << 0 << false;
}

// Every augmented image is the original, cropped from its zero-padded
// version at an offset within +-padding and mirrored or not; and the random
// choices actually vary across the batch.
void TestData::makeBatchAugmentationCandidates()
{
    QFETCH(int, padding);
    QFETCH(bool, flip);

    const Dataset data = randomImages(3, 2, 7, 9, 21); // asymmetric noise: all candidates differ
    const Normalization norm{{0.2f, 0.6f}, {0.4f, 1.5f}};
    std::vector<int64_t> indices;
    for (int i = 0; i < 96; ++i)
        indices.push_back(i % 3);
    AugmentOptions options;
    options.padding = padding;
    options.flip = flip;
    std::mt19937_64 rng(5);
    const torch::Tensor batch = makeBatch(data, indices, norm, options, &rng);
    QCOMPARE(batch.sizes().vec(), (std::vector<int64_t>{96, 2, 7, 9}));

    // The candidates, normalised once per source image.
    std::vector<std::vector<std::tuple<int, int, bool, torch::Tensor>>> candidates(3);
    for (int64_t i = 0; i < 3; ++i)
        for (int dy = -padding; dy <= padding; ++dy)
            for (int dx = -padding; dx <= padding; ++dx)
                for (bool mirrored : {false, true}) {
                    if (mirrored && !flip)
                        continue;
                    candidates[size_t(i)].emplace_back(dy, dx, mirrored,
                                                       referenceNormalised(shifted(data.images.image(i), dy, dx, mirrored), norm));
                }
    // Sanity of the reference: a mirror differs from the original.
    QVERIFY(!torch::equal(data.images.image(0), data.images.image(0).flip({2})));

    std::set<std::tuple<int, int, bool>> used;
    for (int64_t n = 0; n < 96; ++n) {
        bool matched = false;
        for (const auto &[dy, dx, mirrored, expected] : candidates[size_t(indices[size_t(n)])]) {
            if ((batch[n] - expected).abs().max().item<double>() < 1e-5) {
                used.insert({dy, dx, mirrored});
                matched = true;
                break;
            }
        }
        QVERIFY2(matched, qPrintable(QString("image %1 is no crop/flip of its source").arg(n)));
    }
    std::set<bool> mirrorsUsed;
    std::set<std::pair<int, int>> offsetsUsed;
    for (const auto &[dy, dx, mirrored] : used) {
        mirrorsUsed.insert(mirrored);
        offsetsUsed.insert({dy, dx});
    }
    QCOMPARE(int(mirrorsUsed.size()), flip ? 2 : 1);
    // With 96 draws of (2p+1)^2 offsets, most offsets appear.
    const int offsets = (2 * padding + 1) * (2 * padding + 1);
    QVERIFY2(int(offsetsUsed.size()) >= std::min(offsets, 1 + offsets * 3 / 4),
             qPrintable(QString("%1 of %2 offsets used").arg(offsetsUsed.size()).arg(offsets)));
}

QTEST_GUILESS_MAIN(TestData)
#include "test_data.moc"
