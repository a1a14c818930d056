// Image datasets: the rendered glyphs; miniature CUB-200-2011, Cars196 (.mat and CSV), Stanford
// Online Products and image-folder trees written here with OpenCV (and
// matio), each with a corrupt file, a missing file, a grayscale, an RGBA
// and a 16-bit image; their class counts, class-disjoint splits, skip
// reports, a short training run on each, and the messages for folders and
// annotations that are wrong. The backbones, in C++ and from TorchScript,
// and the networks written as TorchScript.
#include "data/augment.h"
#include "data/dataset.h"
#include "data/glyphs.h"
#include "data/imagesets.h"
#include "data/imagedecode.h"
#include "data/npy.h"
#include "error.h"
#include "nn/models.h"
#include "nn/torchscript.h"
#include "train/checkpoint.h"
#include "train/rundirectory.h"
#include "train/trainer.h"

#include "testdata.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <matio.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <QTest>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

using namespace liftlab;
using liftlab::testing::python;
using liftlab::testing::TempDir;

namespace fs = std::filesystem;

namespace {

constexpr int kClasses = 4;
constexpr int kPerClass = 4;

// The special images every tree has, by their index within the dataset.
enum Special { Corrupt = 1, Missing = 6, Gray = 9, Rgba = 12, Deep = 14 };

void writeText(const fs::path &path, const std::string &text)
{
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

// Image `index` of class `label` (0-based) at `path`: a class colour with a
// bright square whose place depends on the class, in the form `index` asks for.
void writeImage(const fs::path &path, int label, int index)
{
    fs::create_directories(path.parent_path());
    if (index == Missing)
        return;
    if (index == Corrupt) {
        writeText(path, "this is not a JPEG");
        return;
    }
    const int w = 40 + 4 * (index % 3), h = 30 + 2 * (index % 4); // not square, sizes vary
    cv::Mat bgr(h, w, CV_8UC3, cv::Scalar(40 * label, 255 - 50 * label, 90));
    bgr(cv::Rect(4 + 6 * label, 4 + 3 * label, 10, 10)).setTo(cv::Scalar(255, 255, 255));
    cv::Mat out = bgr;
    if (index == Gray)
        cv::cvtColor(bgr, out, cv::COLOR_BGR2GRAY);
    else if (index == Rgba)
        cv::cvtColor(bgr, out, cv::COLOR_BGR2BGRA);
    else if (index == Deep)
        bgr.convertTo(out, CV_16UC3, 257.0);
    QVERIFY(cv::imwrite(path.string(), out));
}

// Image paths: PNG where the form needs it (gray, alpha, 16 bits), JPEG otherwise.
std::string imageName(int label, int index)
{
    const bool png = index == Gray || index == Rgba || index == Deep;
    return "img_" + std::to_string(label) + "_" + std::to_string(index) + (png ? ".png" : ".jpg");
}

void writeCub(const fs::path &root)
{
    std::string classes, images, labels, split, boxes;
    int id = 1;
    for (int c = 0; c < kClasses; ++c) {
        char folder[64];
        std::snprintf(folder, sizeof folder, "%03d.Bird_%c", c + 1, 'A' + c);
        classes += std::to_string(c + 1) + " " + folder + "\n";
        for (int k = 0; k < kPerClass; ++k, ++id) {
            const int index = c * kPerClass + k;
            const std::string rel = std::string(folder) + "/" + imageName(c, index);
            writeImage(root / "images" / rel, c, index);
            images += std::to_string(id) + " " + rel + "\n";
            labels += std::to_string(id) + " " + std::to_string(c + 1) + "\n";
            split += std::to_string(id) + " " + (k < 2 ? "1" : "0") + "\n";
            boxes += std::to_string(id) + " 2.0 3.0 20.0 15.0\n";
        }
    }
    writeText(root / "classes.txt", classes);
    writeText(root / "images.txt", images);
    writeText(root / "image_class_labels.txt", labels);
    writeText(root / "train_test_split.txt", split);
    writeText(root / "bounding_boxes.txt", boxes);
}

matvar_t *matText(const std::string &text)
{
    size_t dims[2] = {1, text.size()};
    return Mat_VarCreate(nullptr, MAT_C_CHAR, MAT_T_UTF8, 2, dims, const_cast<char *>(text.data()), 0);
}

template <typename T>
matvar_t *matScalar(matio_classes cls, matio_types type, T value)
{
    size_t dims[2] = {1, 1};
    return Mat_VarCreate(nullptr, cls, type, 2, dims, &value, 0);
}

void writeCarsMat(const fs::path &root)
{
    fs::create_directories(root);
    mat_t *mat = Mat_CreateVer((root / "cars_annos.mat").string().c_str(), nullptr, MAT_FT_MAT5);
    QVERIFY(mat);
    size_t dims[2] = {1, size_t(kClasses * kPerClass)};
    const char *fields[] = {"relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"};
    matvar_t *annos = Mat_VarCreateStruct("annotations", 2, dims, fields, 7);
    for (int c = 0; c < kClasses; ++c)
        for (int k = 0; k < kPerClass; ++k) {
            const int index = c * kPerClass + k;
            const std::string rel = "car_ims/" + imageName(c, index);
            writeImage(root / rel, c, index);
            const size_t i = size_t(index);
            Mat_VarSetStructFieldByName(annos, "relative_im_path", i, matText(rel));
            Mat_VarSetStructFieldByName(annos, "bbox_x1", i, matScalar(MAT_C_DOUBLE, MAT_T_DOUBLE, 2.0));
            Mat_VarSetStructFieldByName(annos, "bbox_y1", i, matScalar(MAT_C_DOUBLE, MAT_T_DOUBLE, 3.0));
            Mat_VarSetStructFieldByName(annos, "bbox_x2", i, matScalar(MAT_C_DOUBLE, MAT_T_DOUBLE, 30.0));
            Mat_VarSetStructFieldByName(annos, "bbox_y2", i, matScalar(MAT_C_DOUBLE, MAT_T_DOUBLE, 25.0));
            Mat_VarSetStructFieldByName(annos, "class", i, matScalar(MAT_C_UINT8, MAT_T_UINT8, uint8_t(c + 1)));
            Mat_VarSetStructFieldByName(annos, "test", i, matScalar(MAT_C_UINT8, MAT_T_UINT8, uint8_t(k >= 2)));
        }
    size_t cellDims[2] = {1, size_t(kClasses)};
    matvar_t *names = Mat_VarCreate("class_names", MAT_C_CELL, MAT_T_CELL, 2, cellDims, nullptr, 0);
    for (int c = 0; c < kClasses; ++c)
        Mat_VarSetCell(names, c, matText("Car model " + std::to_string(c + 1)));
    // Compressed as MATLAB saves by default (and as Cars196's file is), and not.
    QCOMPARE(Mat_VarWrite(mat, annos, MAT_COMPRESSION_ZLIB), 0);
    QCOMPARE(Mat_VarWrite(mat, names, MAT_COMPRESSION_NONE), 0);
    Mat_VarFree(annos);
    Mat_VarFree(names);
    Mat_Close(mat);
}

void writeCarsCsv(const fs::path &root)
{
    std::string train, test, names;
    for (int c = 0; c < kClasses; ++c) {
        names += "Car model " + std::to_string(c + 1) + "\n";
        for (int k = 0; k < kPerClass; ++k) {
            const int index = c * kPerClass + k;
            const bool isTest = k >= 2;
            const std::string name = imageName(c, index);
            writeImage(root / (isTest ? "cars_test" : "cars_train") / name, c, index);
            (isTest ? test : train) += name + ",2,3,30,25," + std::to_string(c + 1) + "\n";
        }
    }
    writeText(root / "names.csv", names);
    writeText(root / "anno_train.csv", train);
    writeText(root / "anno_test.csv", test);
}

void writeSop(const fs::path &root)
{
    std::string train = "image_id class_id super_class_id path\n", test = train;
    int id = 1;
    for (int c = 0; c < kClasses; ++c)
        for (int k = 0; k < kPerClass; ++k, ++id) {
            const int index = c * kPerClass + k;
            const std::string name = imageName(c, index), extension = name.substr(name.rfind('.'));
            const std::string rel = std::string(c % 2 ? "chair_final/" : "bicycle_final/") + std::to_string(1000 + c)
                                    + "_" + std::to_string(index) + extension;
            writeImage(root / rel, c, index);
            (c < kClasses / 2 ? train : test) += std::to_string(id) + " " + std::to_string(c + 1) + " "
                                                 + std::to_string(c % 2 + 1) + " " + rel + "\n";
        }
    writeText(root / "Ebay_train.txt", train);
    writeText(root / "Ebay_test.txt", test);
}

void writeFolder(const fs::path &root)
{
    for (int c = 0; c < kClasses; ++c)
        for (int k = 0; k < kPerClass; ++k) {
            const int index = c * kPerClass + k;
            if (index != Missing) // a folder has no list to name a missing file
                writeImage(root / ("class_" + std::string(1, char('a' + c))) / imageName(c, index), c, index);
        }
}

std::set<int64_t> labelSet(const torch::Tensor &labels)
{
    std::set<int64_t> s;
    for (int64_t i = 0; i < labels.size(0); ++i)
        s.insert(labels[i].item<int64_t>());
    return s;
}

std::string messageOf(const std::function<void()> &f)
{
    try {
        f();
    } catch (const Error &e) {
        return e.what();
    }
    return {};
}

} // namespace

class TestImageSets : public QObject
{
    Q_OBJECT

    TempDir m_dir;

    std::string tree(const std::string &kind)
    {
        const fs::path root = m_dir.file(kind);
        if (fs::exists(root))
            return root.string();
        if (kind == "cub")
            writeCub(root);
        else if (kind == "cars-mat")
            writeCarsMat(root);
        else if (kind == "cars-csv")
            writeCarsCsv(root);
        else if (kind == "sop")
            writeSop(root);
        else
            writeFolder(root);
        return root.string();
    }

    // A few steps of 2 x 2 batches on a miniature tree, zero-shot, small images.
    ExperimentConfig smallRun(const std::string &kind, int64_t iterations, int imageSize = 16)
    {
        ExperimentConfig c;
        c.dataset = tree(kind);
        c.split = "zero-shot";
        c.imageSize = imageSize;
        c.classesPerBatch = 2;
        c.perClass = 2;
        c.iterations = iterations;
        c.checkpointEvery = 0;
        c.threads = 2;
        return c;
    }

    // A TorchScript ResNet-18 (random weights) written by models/export_backbone.py; empty on failure.
    std::string exportedResNet18()
    {
        const std::string file = m_dir.file("resnet18.pt");
        if (fs::exists(file))
            return file;
        const QString failure = python({QStringLiteral(LIFTLAB_SOURCE_DIR "/models/export_backbone.py"),
                                        QStringLiteral("--arch"), QStringLiteral("resnet18"), QStringLiteral("--out"),
                                        QString::fromStdString(file)});
        if (!failure.isEmpty()) {
            qWarning("%s", qPrintable(failure));
            return {};
        }
        return file;
    }

private Q_SLOTS:
    void zeroShotSplitIsClassDisjoint_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("layout");
        QTest::addColumn<QString>("firstClass");
        QTest::addColumn<int>("skipped"); // the corrupt and the missing file
        for (const auto &[kind, layout, name] :
             std::vector<std::array<const char *, 3>>{{"cub", "cub-200-2011", "Bird A"},
                                                      {"cars-mat", "cars196", "Car model 1"},
                                                      {"cars-csv", "cars196", "Car model 1"},
                                                      {"sop", "stanford-online-products", "bicycle 1000"},
                                                      {"folder", "image-folder", "class_a"}})
            QTest::newRow(kind) << kind << layout << name << (std::string(kind) == "folder" ? 1 : 2);
    }

    void zeroShotSplitIsClassDisjoint()
    {
        QFETCH(QString, kind);
        QFETCH(QString, layout);
        QFETCH(QString, firstClass);
        QFETCH(int, skipped);
        const std::string root = tree(kind.toStdString());
        QVERIFY(isImageDataset(root));
        LoadOptions o;
        o.imageSize = 24;
        std::vector<std::pair<int64_t, int64_t>> progress;
        o.monitor.progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
        const ExperimentData s = loadDataset(root, SplitKind::ZeroShot, o);
        QCOMPARE(QString::fromStdString(s.layout), layout);
        QCOMPARE(int(s.train.classNames.size()), kClasses);
        QCOMPARE(QString::fromStdString(s.train.classNames[0]), firstClass);
        // Classes 1-2 train, 3-4 test; every usable image is in one of them.
        QCOMPARE(labelSet(s.train.labels), (std::set<int64_t>{0, 1}));
        QCOMPARE(labelSet(s.test.labels), (std::set<int64_t>{2, 3}));
        QCOMPARE(int(s.train.size() + s.test.size()), kClasses * kPerClass - 2); // less the corrupt and missing
        QCOMPARE(s.train.images.all().sizes(), (torch::IntArrayRef{s.train.size(), 3, 24, 24}));
        QCOMPARE(s.train.images.all().scalar_type(), torch::kUInt8);
        QVERIFY(!progress.empty());
        QCOMPARE(progress.back().first, progress.back().second);
        // The skip report: the corrupt file, and the missing one where a list names it.
        QCOMPARE(int(s.skipped.size()), skipped);
        QVERIFY2(s.skipped[0].path.find("_1.") != std::string::npos, s.skipped[0].path.c_str()); // image 1
        QVERIFY(s.skipped[0].reason.find("decoded") != std::string::npos);
        if (skipped == 2)
            QCOMPARE(QString::fromStdString(s.skipped[1].reason), QStringLiteral("missing"));
    }

    void oddImagesBecomeRgb()
    {
        // The folder tree: gray, RGBA and 16-bit PNGs of class c look like
        // its JPEGs (the same colour), letterboxed into the square.
        LoadOptions o;
        o.imageSize = 32;
        const ExperimentData s = loadDataset(tree("folder"), SplitKind::Seen, o);
        const torch::Tensor all = torch::cat({s.train.images.all(), s.test.images.all()});
        QVERIFY(all.size(0) == kClasses * kPerClass - 2);
        // Class 3 (RGBA, 16-bit and JPEG images): its colour survives every conversion.
        const torch::Tensor labels = torch::cat({s.train.labels, s.test.labels});
        int seen = 0;
        for (int64_t i = 0; i < all.size(0); ++i) {
            if (labels[i].item<int64_t>() != 3)
                continue;
            // The centre pixel: class 3's colour (B 120, G 105, R 90) as RGB.
            const torch::Tensor centre = all[i].index({torch::indexing::Slice(), 16, 28});
            QVERIFY2(std::abs(centre[0].item<int>() - 90) <= 6 && std::abs(centre[1].item<int>() - 105) <= 6
                         && std::abs(centre[2].item<int>() - 120) <= 6,
                     qPrintable(QStringLiteral("%1 %2 %3").arg(centre[0].item<int>()).arg(centre[1].item<int>())
                                    .arg(centre[2].item<int>())));
            ++seen;
        }
        QCOMPARE(seen, kPerClass);
        // Wider than high: black bands above and below.
        QCOMPARE(all[0].index({torch::indexing::Slice(), 0, torch::indexing::Slice()}).sum().item<int64_t>(), int64_t(0));
        // Gray stays gray: its three channels are equal.
        for (int64_t i = 0; i < all.size(0); ++i)
            if (labels[i].item<int64_t>() == 2) {
                const torch::Tensor img = all[i];
                if ((img[0] == img[1]).all().item<bool>() && (img[1] == img[2]).all().item<bool>())
                    return; // the gray one (image 9)
            }
        QFAIL("no gray image among class 2's");
    }

    void seenSplitFollowsTheAnnotations_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::newRow("cub") << "cub";
        QTest::newRow("cars-mat") << "cars-mat";
        QTest::newRow("cars-csv") << "cars-csv";
        QTest::newRow("folder") << "folder";
    }

    void seenSplitFollowsTheAnnotations()
    {
        QFETCH(QString, kind);
        const ImageListing l = listImages(tree(kind.toStdString()), SplitKind::Seen);
        int train = 0;
        for (const ImageEntry &e : l.images)
            train += e.train;
        const int listed = int(l.images.size());
        QCOMPARE(listed, kind == "folder" ? kClasses * kPerClass - 1 : kClasses * kPerClass);
        // Two of each class's four train (the folder: the first half of its files).
        QCOMPARE(train, kind == "folder" ? 8 : kClasses * 2);
        std::set<int64_t> trainClasses, testClasses;
        for (const ImageEntry &e : l.images)
            (e.train ? trainClasses : testClasses).insert(e.label);
        QCOMPARE(int(trainClasses.size()), kClasses);
        QCOMPARE(int(testClasses.size()), kClasses);
    }

    void cubBoxesCrop()
    {
        const std::string root = tree("cub");
        const ImageListing l = listImages(root, SplitKind::ZeroShot);
        QCOMPARE(l.images[0].box, (std::array<float, 4>{3, 4, 22, 18})); // x 2, y 3, 20 x 15, made 1-based
        LoadOptions o;
        o.imageSize = 18;
        o.cropToBox = true;
        const ExperimentData s = loadDataset(root, SplitKind::ZeroShot, o);
        // The box (20 x 15) scaled by 0.9 to 18 x 14: 2 black rows above it.
        const torch::Tensor first = s.train.images.image(0);
        QCOMPARE(first.index({torch::indexing::Slice(), torch::indexing::Slice(0, 2)}).sum().item<int64_t>(), int64_t(0));
        QVERIFY(first.index({torch::indexing::Slice(), 2}).sum().item<int64_t>() > 0);
    }

    void folderTestClassesList()
    {
        const fs::path root = m_dir.file("folder-listed");
        writeFolder(root);
        writeText(root / "test_classes.txt", "class_a\nclass_c\n");
        LoadOptions small;
        small.imageSize = 16;
        const ExperimentData s = loadDataset(root.string(), SplitKind::ZeroShot, small);
        QCOMPARE(labelSet(s.train.labels), (std::set<int64_t>{1, 3}));
        QCOMPARE(labelSet(s.test.labels), (std::set<int64_t>{0, 2}));
        writeText(root / "test_classes.txt", "class_a\nno_such_class\n");
        const std::string message = messageOf([&] { listImages(root.string(), SplitKind::ZeroShot); });
        QVERIFY2(message.find("no_such_class") != std::string::npos, message.c_str());
        QVERIFY2(message.find("test_classes.txt") != std::string::npos, message.c_str());
    }

    void trainsOnEachLayout_data()
    {
        QTest::addColumn<QString>("kind");
        for (const char *kind : {"cub", "cars-mat", "cars-csv", "sop", "folder"})
            QTest::newRow(kind) << kind;
    }

    void trainsOnEachLayout()
    {
        QFETCH(QString, kind);
        ExperimentConfig c = smallRun(kind.toStdString(), 4);
        c.embeddingDim = 8;
        c.augmentation = kind == "cub" ? "paper" : kind == "cars-mat" ? "resized-crop" : "pad-crop";
        const std::string run = m_dir.file("run-" + kind.toStdString());
        std::unique_ptr<Trainer> t = Trainer::start(c, run);
        std::vector<std::string> log;
        Trainer::Callbacks cb;
        cb.onLog = [&](const std::string &text) { log.push_back(text); };
        const std::atomic<bool> cancel{false};
        QCOMPARE(t->run(cb, cancel), Trainer::Outcome::Finished);
        QCOMPARE(t->step(), int64_t(4));
        // The skipped images are in the log and, all of them, in the run.
        const fs::path report = fs::path(run) / "skipped_images.txt";
        QVERIFY(fs::exists(report));
        std::ifstream in(report);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        QVERIFY2(text.find("cannot be decoded") != std::string::npos, text.c_str());
        QVERIFY(std::any_of(log.begin(), log.end(),
                            [](const std::string &l) { return l.find("skipped") != std::string::npos; }));
        // Resuming reads the images the same way (the run keeps the size).
        t.reset(); // one writer at a time
        QCOMPARE(Trainer::resume(run)->step(), int64_t(4));
    }

    void badFoldersAndAnnotationsAreNamed()
    {
        // A folder that matches no layout.
        const fs::path odd = m_dir.file("odd");
        writeText(odd / "readme.txt", "nothing here");
        std::string message = messageOf([&] { loadDataset(odd.string(), SplitKind::ZeroShot); });
        QVERIFY2(message.find(odd.string()) != std::string::npos && message.find("no known dataset layout") != std::string::npos,
                 message.c_str());

        // A .mat of the wrong structure.
        const fs::path wrongMat = m_dir.file("wrong-mat");
        fs::create_directories(wrongMat);
        mat_t *mat = Mat_CreateVer((wrongMat / "cars_annos.mat").string().c_str(), nullptr, MAT_FT_MAT5);
        size_t dims[2] = {1, 1};
        double one = 1;
        matvar_t *foo = Mat_VarCreate("foo", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, &one, 0);
        Mat_VarWrite(mat, foo, MAT_COMPRESSION_NONE);
        Mat_VarFree(foo);
        Mat_Close(mat);
        message = messageOf([&] { loadDataset(wrongMat.string(), SplitKind::ZeroShot); });
        QVERIFY2(message.find("cars_annos.mat") != std::string::npos && message.find("class_names") != std::string::npos,
                 message.c_str());
        // Not a MATLAB file at all.
        writeText(wrongMat / "cars_annos.mat", "garbage");
        message = messageOf([&] { loadDataset(wrongMat.string(), SplitKind::ZeroShot); });
        QVERIFY2(message.find("cars_annos.mat") != std::string::npos, message.c_str());
        // A version 7.3 file (HDF5 inside; the header says so).
        std::string header = "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan 1 00:00:00 2024 HDF5 schema 1.00 .";
        header.resize(124, ' ');
        writeText(wrongMat / "cars_annos.mat", header + std::string("\x00\x02IM", 4) + std::string(512, '\0'));
        message = messageOf([&] { loadDataset(wrongMat.string(), SplitKind::ZeroShot); });
        QVERIFY2(message.find("cars_annos.mat") != std::string::npos && message.find("7.3") != std::string::npos,
                 message.c_str());

        // A malformed line of images.txt: the file and the line.
        const fs::path cub = m_dir.file("cub-broken");
        writeCub(cub);
        writeText(cub / "images.txt", "1 a.jpg\nsecond-line-without-path\n");
        message = messageOf([&] { listImages(cub.string(), SplitKind::ZeroShot); });
        QVERIFY2(message.find("images.txt") != std::string::npos && message.find("line 2") != std::string::npos,
                 message.c_str());

        // Annotations naming only missing images: a message, not an empty run.
        const fs::path ghosts = m_dir.file("cub-ghosts");
        writeCub(ghosts);
        fs::remove_all(ghosts / "images");
        LoadOptions small;
        small.imageSize = 16;
        message = messageOf([&] { loadDataset(ghosts.string(), SplitKind::ZeroShot, small); });
        QVERIFY2(message.find(ghosts.string()) != std::string::npos && message.find("missing") != std::string::npos,
                 message.c_str());

        // SOP has no seen split.
        message = messageOf([&] { listImages(tree("sop"), SplitKind::Seen); });
        QVERIFY2(message.find("zero-shot") != std::string::npos, message.c_str());
    }

    void sopSubsetKeepsItsClassIds()
    {
        // Lists cut down from the full dataset keep its class ids (here 7, 12
        // and 22634): labels are renumbered densely, in the order of the ids.
        const fs::path root = m_dir.file("sop-subset");
        writeText(root / "Ebay_train.txt", "image_id class_id super_class_id path\n"
                                           "1 12 1 bicycle_final/222_0.JPG\n"
                                           "2 7 1 bicycle_final/111_0.JPG\n"
                                           "3 12 1 bicycle_final/222_1.JPG\n");
        writeText(root / "Ebay_test.txt", "image_id class_id super_class_id path\n"
                                          "4 22634 2 chair_final/333_0.JPG\n");
        const ImageListing l = listImages(root.string(), SplitKind::ZeroShot);
        QCOMPARE(l.classNames, (std::vector<std::string>{"bicycle 111", "bicycle 222", "chair 333"}));
        std::vector<int64_t> labels;
        for (const ImageEntry &e : l.images)
            labels.push_back(e.label);
        QCOMPARE(labels, (std::vector<int64_t>{1, 0, 1, 2}));
        QVERIFY(l.images[0].train && !l.images[3].train);
    }

    void augmentationCropsToTheInputSide()
    {
        // Two 8 x 8 images of distinct pixel values, so a crop is recognisable.
        Dataset d;
        d.images = ImageStore(torch::arange(2 * 3 * 64, torch::kInt64).remainder(251).to(torch::kUInt8).view({2, 3, 8, 8}));
        d.labels = torch::tensor({0, 1}, torch::kInt64);
        Normalization norm{{0, 0, 0}, {1.f / 255, 1.f / 255, 1.f / 255}, 6}; // pixels as they are, input 6 x 6
        const torch::Tensor source = d.images.all().to(torch::kFloat32);
        // Evaluation: the centre.
        const torch::Tensor centre = makeBatch(d, {0, 1}, norm, AugmentOptions{}, nullptr);
        QCOMPARE(centre.sizes(), (torch::IntArrayRef{2, 3, 6, 6}));
        QVERIFY(torch::equal(centre, source.narrow(2, 1, 6).narrow(3, 1, 6)));
        // An odd margin (8 - 5): whole pixels still, not a blur between two.
        Normalization odd = norm;
        odd.cropSide = 5;
        QVERIFY(torch::equal(makeBatch(d, {0, 1}, odd, AugmentOptions{}, nullptr), source.narrow(2, 1, 5).narrow(3, 1, 5)));
        // The paper's: some 6 x 6 window of the image, mirrored or not.
        AugmentOptions paper{true, Augmentation::Paper, 0, true};
        std::mt19937_64 rng(3);
        std::set<std::pair<int, int>> windows;
        for (int trial = 0; trial < 40; ++trial) {
            const torch::Tensor x = makeBatch(d, {1}, norm, paper, &rng)[0];
            bool found = false;
            for (int y0 = 0; y0 <= 2 && !found; ++y0)
                for (int x0 = 0; x0 <= 2 && !found; ++x0) {
                    const torch::Tensor window = source[1].narrow(1, y0, 6).narrow(2, x0, 6);
                    if (torch::equal(x, window) || torch::equal(x, window.flip({2}))) {
                        windows.insert({y0, x0});
                        found = true;
                    }
                }
            QVERIFY(found);
        }
        QVERIFY(windows.size() > 4); // the offsets vary
        // Resized crop: the input side, values of the image's range, and a
        // function of the generator's state.
        AugmentOptions resized{true, Augmentation::ResizedCrop, 0, true};
        std::mt19937_64 a(7), b(7), c(8);
        const torch::Tensor ra = makeBatch(d, {0, 1}, norm, resized, &a);
        QCOMPARE(ra.sizes(), (torch::IntArrayRef{2, 3, 6, 6}));
        QVERIFY(torch::equal(ra, makeBatch(d, {0, 1}, norm, resized, &b)));
        QVERIFY(!torch::equal(ra, makeBatch(d, {0, 1}, norm, resized, &c)));
        QVERIFY(ra.min().item<float>() >= 0 && ra.max().item<float>() <= 250);
        // The sides: 227 and 224 of 256.
        QCOMPARE(inputSide(Augmentation::Paper, 256), int64_t(227));
        QCOMPARE(inputSide(Augmentation::ResizedCrop, 256), int64_t(224));
        QCOMPARE(inputSide(Augmentation::PadCrop, 28), int64_t(28));
        QVERIFY_THROWS_EXCEPTION(Error, augmentationFromString("zoom"));
    }

    void backbonesEmbedImages_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("parameters"); // millions, without the head: torchvision's counts
        QTest::newRow("resnet18") << "resnet18" << 11;
        QTest::newRow("resnet50") << "resnet50" << 23;
        QTest::newRow("googlenet") << "googlenet" << 5;
    }

    void backbonesEmbedImages()
    {
        QFETCH(QString, name);
        QFETCH(int, parameters);
        ModelOptions o;
        o.name = name.toStdString();
        o.embeddingDim = 16;
        o.inChannels = 3;
        const EmbeddingNet net = createModel(o);
        int64_t count = 0;
        for (const auto &p : net->named_parameters())
            if (p.key().rfind("head", 0) != 0)
                count += p.value().numel();
        QCOMPARE(int(count / 1000000), parameters);
        net->eval();
        const torch::Tensor x = torch::randn({2, 3, 64, 64});
        const torch::Tensor e = net->forward(x);
        QCOMPARE(e.sizes(), (torch::IntArrayRef{2, 16}));
        QVERIFY(torch::isfinite(e).all().item<bool>());
        QVERIFY(!torch::allclose(e[0], e[1])); // the images differ, so do their embeddings
    }

    void trainsResNet18()
    {
        ExperimentConfig c = smallRun("folder", 2, 32);
        c.model = "resnet18";
        c.augmentation = "paper";
        const std::string run = m_dir.file("run-resnet18");
        std::unique_ptr<Trainer> t = Trainer::start(c, run);
        const std::atomic<bool> cancel{false};
        QCOMPARE(t->run({}, cancel), Trainer::Outcome::Finished);
        t.reset(); // one writer at a time
        QCOMPARE(Trainer::resume(run)->step(), int64_t(2)); // the checkpoint holds a ResNet
    }

    void torchScriptBackboneTrains_data()
    {
        QTest::addColumn<bool>("freeze");
        QTest::newRow("batch norm trains") << false;
        QTest::newRow("batch norm frozen") << true;
    }

    void torchScriptBackboneTrains()
    {
        QFETCH(bool, freeze);
        const std::string file = exportedResNet18();
        QVERIFY(!file.empty());
        ExperimentConfig c = smallRun("folder", 2, 32);
        c.model = file;
        c.freezeBatchNorm = freeze;
        const std::string run = m_dir.file(freeze ? "run-script-frozen" : "run-script");
        std::unique_ptr<Trainer> t = Trainer::start(c, run);
        const std::atomic<bool> cancel{false};
        QCOMPARE(t->run({}, cancel), Trainer::Outcome::Finished);
        // The checkpoint holds the backbone's weights and statistics.
        const EmbeddingNet trained = loadRunModel(RunDirectory::open(run), 3);
        ModelOptions o;
        o.name = file;
        o.embeddingDim = c.embeddingDim;
        o.inChannels = 3;
        const EmbeddingNet fresh = createModel(o);
        QCOMPARE(fresh->named_parameters()["head.weight"].size(1), int64_t(512)); // ResNet-18's features
        const auto before = fresh->named_buffers(), after = trained->named_buffers();
        const torch::Tensor &mean0 = before["backbone_bn1_running_mean"], &mean1 = after["backbone_bn1_running_mean"];
        QCOMPARE(torch::equal(mean0, mean1), freeze); // frozen statistics stay as they came
        QVERIFY(!torch::equal(fresh->named_parameters()["backbone_conv1_weight"],
                              trained->named_parameters()["backbone_conv1_weight"])); // the backbone trained
    }

    void torchScriptExportEmbedsAsTheNetwork_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("channels");
        QTest::addColumn<bool>("normalize");
        QTest::newRow("convnet-small") << "convnet-small" << 1 << true;
        QTest::newRow("resnet18") << "resnet18" << 3 << false;
        QTest::newRow("resnet50") << "resnet50" << 3 << true;
        QTest::newRow("googlenet") << "googlenet" << 3 << false;
        QTest::newRow("TorchScript backbone") << "resnet18.pt" << 3 << true;
        QTest::newRow("TorchScript backbone, gray") << "resnet18.pt" << 1 << false;
    }

    // A network written by saveTorchScript gives the network's embeddings,
    // loaded back in C++ and in Python.
    void torchScriptExportEmbedsAsTheNetwork()
    {
        QFETCH(QString, name);
        QFETCH(int, channels);
        QFETCH(bool, normalize);
        ModelOptions o;
        o.name = name == "resnet18.pt" ? exportedResNet18() : name.toStdString();
        QVERIFY(!o.name.empty());
        o.embeddingDim = 24;
        o.inChannels = channels;
        o.normalize = normalize;
        torch::manual_seed(3);
        const EmbeddingNet net = createModel(o);
        {
            // Batch-norm statistics of their own, and weights that differ from the initialisation.
            torch::NoGradGuard noGrad;
            net->train();
            for (int i = 0; i < 3; ++i)
                net->forward(torch::randn({4, channels, 64, 64}) * 2 + 1);
            for (torch::Tensor &p : net->parameters())
                p.add_(torch::randn_like(p) * 0.01);
        }
        net->eval();
        const torch::Tensor x = torch::randn({3, channels, 64, 64});
        const torch::Tensor expected = net->forward(x).detach();

        Normalization norm;
        norm.mean.assign(channels, 0.5f);
        norm.std.assign(channels, 0.25f);
        const std::string file = m_dir.file("export-" + name.toStdString() + std::to_string(channels) + ".pt");
        saveTorchScript(*net, norm, 64, file);

        torch::jit::Module loaded = torch::jit::load(file);
        const torch::Tensor inCpp = loaded.forward({x}).toTensor();
        QVERIFY2(torch::allclose(inCpp, expected, 1e-4, 1e-5),
                 qPrintable(QString::number((inCpp - expected).abs().max().item<double>())));
        QCOMPARE(loaded.attr("input_side").toInt(), int64_t(64));
        QVERIFY(torch::equal(loaded.attr("input_std").toTensor(), torch::full({channels}, 0.25f)));

        const std::string xPath = m_dir.file("export-x.npy"), ePath = m_dir.file("export-e.npy");
        const torch::Tensor xc = x.contiguous();
        writeNpy(xPath, npyFromFloats({xc.size(0), xc.size(1), xc.size(2), xc.size(3)}, xc.data_ptr<float>()));
        const QString failure = python({QStringLiteral("-c"),
                                        QStringLiteral("import sys, numpy, torch\n"
                                                       "m = torch.jit.load(sys.argv[1])\n"
                                                       "with torch.no_grad():\n"
                                                       "    e = m(torch.from_numpy(numpy.load(sys.argv[2])))\n"
                                                       "numpy.save(sys.argv[3], e.numpy())\n"),
                                        QString::fromStdString(file), QString::fromStdString(xPath),
                                        QString::fromStdString(ePath)});
        QVERIFY2(failure.isEmpty(), qPrintable(failure));
        const NpyArray e = readNpy(ePath);
        QCOMPARE(e.shape, (std::vector<int64_t>{3, 24}));
        const torch::Tensor inPython = torch::tensor(e.toFloats()).view({3, 24});
        QVERIFY2(torch::allclose(inPython, expected, 1e-4, 1e-5),
                 qPrintable(QString::number((inPython - expected).abs().max().item<double>())));
    }

    void badTorchScriptFilesAreNamed()
    {
        ModelOptions o;
        o.inChannels = 3;
        o.name = m_dir.file("notes.pt");
        writeText(o.name, "not a model");
        std::string message = messageOf([&] { createModel(o); });
        QVERIFY2(message.find(o.name) != std::string::npos && message.find("not a TorchScript file, or truncated") != std::string::npos,
                 message.c_str());
        // A TorchScript module that is no image model: it sums its input.
        o.name = m_dir.file("sum.pt");
        const QString failure = python(
            {QStringLiteral("-c"),
             QStringLiteral("import torch\n"
                            "class Sum(torch.nn.Module):\n"
                            "    def forward(self, x):\n"
                            "        return x.sum()\n"
                            "torch.jit.trace(Sum(), torch.zeros(1, 3, 8, 8)).save('%1')\n")
                 .arg(QString::fromStdString(o.name))});
        QVERIFY2(failure.isEmpty(), qPrintable(failure));
        message = messageOf([&] { createModel(o); });
        QVERIFY2(message.find(o.name) != std::string::npos && message.find("not an image model") != std::string::npos,
                 message.c_str());
        o.name = m_dir.file("absent.pt");
        message = messageOf([&] { createModel(o); });
        QVERIFY2(message.find(o.name) != std::string::npos, message.c_str());
    }

    void glyphsAreManyClassesAndDeterministic()
    {
        const ExperimentData s = loadDataset("glyphs", SplitKind::ZeroShot);
        QCOMPARE(QString::fromStdString(s.layout), QStringLiteral("glyphs"));
        QVERIFY(s.train.classNames.size() >= 500);
        const std::set<std::string> names(s.train.classNames.begin(), s.train.classNames.end());
        QCOMPARE(names.size(), s.train.classNames.size());
        QCOMPARE(QString::fromStdString(s.train.classNames[0]), QStringLiteral("0 U+0030"));
        const int64_t classes = int64_t(s.train.classNames.size());
        QCOMPARE(int64_t(labelSet(s.train.labels).size()), classes / 2);
        QCOMPARE(*labelSet(s.test.labels).begin(), classes / 2); // class-disjoint
        QCOMPARE(s.train.images.all().sizes(), (torch::IntArrayRef{classes / 2 * 12, 1, 32, 32}));
        // The same images every time; the instances of a class differ.
        const ExperimentData again = makeGlyphs(SplitKind::ZeroShot);
        QVERIFY(torch::equal(again.train.images.all(), s.train.images.all()));
        QVERIFY(!torch::equal(s.train.images.image(0), s.train.images.image(1)));
        // A glyph is drawn: bright pixels near the centre, darker corners.
        const torch::Tensor mean = s.train.images.all().to(torch::kFloat32).mean(0)[0];
        QVERIFY(mean[16][16].item<float>() > 2 * mean[0][0].item<float>());
        // The seen split keeps every class on both sides.
        const ExperimentData seen = makeGlyphs(SplitKind::Seen, GlyphOptions{20, 6, 0});
        QCOMPARE(labelSet(seen.train.labels), labelSet(seen.test.labels));
        QCOMPARE(seen.train.size(), int64_t(20 * 4));
    }

    void trainsOnGlyphs()
    {
        ExperimentConfig c;
        c.dataset = "glyphs";
        c.split = "zero-shot";
        c.classesPerBatch = 8;
        c.perClass = 4;
        c.iterations = 5;
        c.checkpointEvery = 0;
        c.threads = 2;
        std::unique_ptr<Trainer> t = Trainer::start(c, m_dir.file("run-glyphs"));
        const std::atomic<bool> cancel{false};
        QCOMPARE(t->run({}, cancel), Trainer::Outcome::Finished);
        QVERIFY(t->evaluate().metrics.recallAt1 > 0);
    }

    // Beyond half the memory budget the decoded images are read from a file
    // (the cache's, or an unnamed one): the same pixels, and the same
    // batches image for image, whatever the number of workers.
    void boundedStoreMakesTheSameBatches()
    {
        const std::string data = tree("cub"); // with a corrupt and a missing image: the kept rows have gaps
        LoadOptions memory;
        memory.imageSize = 24;
        LoadOptions unnamed = memory;
        unnamed.memoryBudget = 2 * 3 * 24 * 24 - 1; // less than two images' worth
        LoadOptions cached = unnamed;
        cached.cacheFolder = m_dir.file("bounded-cache");
        // A killed decode's temporary file goes; one another process is writing (locked) stays.
        fs::create_directories(cached.cacheFolder);
        const fs::path abandoned = fs::path(cached.cacheFolder) / "0123456789abcdef.images.tmp-1-0";
        const fs::path writing = fs::path(cached.cacheFolder) / "fedcba9876543210.images.tmp-2-0";
        std::ofstream(abandoned) << "partial";
        std::ofstream(writing) << "partial";
        const int writer = ::open(writing.c_str(), O_RDONLY);
        QVERIFY(writer >= 0 && ::flock(writer, LOCK_EX) == 0);

        const ExperimentData inMemory = loadDataset(data, SplitKind::ZeroShot, memory);
        const ExperimentData fromTemporary = loadDataset(data, SplitKind::ZeroShot, unnamed);
        const ExperimentData written = loadDataset(data, SplitKind::ZeroShot, cached);
        const ExperimentData readBack = loadDataset(data, SplitKind::ZeroShot, cached);
        QVERIFY(inMemory.train.images.inMemory());
        QVERIFY(!fs::exists(abandoned));
        QVERIFY(fs::exists(writing));
        ::close(writer);
        fs::remove(writing);
        QCOMPARE(int(std::distance(fs::directory_iterator(cached.cacheFolder), fs::directory_iterator())), 1);

        Normalization norm = inMemory.normalization;
        norm.cropSide = inputSide(Augmentation::Paper, 24);
        AugmentOptions augment;
        augment.kind = Augmentation::Paper;
        std::vector<int64_t> indices(40);
        std::mt19937_64 pick(7);
        for (int64_t &i : indices)
            i = int64_t(pick() % uint64_t(inMemory.train.size()));
        auto batch = [&](const Dataset &d, int workers, int64_t first = 0, int64_t stride = 1) {
            std::mt19937_64 rng(11);
            return makeBatch(d, indices, norm, augment, &rng, first, stride, workers);
        };
        const torch::Tensor expected = batch(inMemory.train, 1);
        for (const ExperimentData *other : {&fromTemporary, &written, &readBack}) {
            QVERIFY(!other->train.images.inMemory() && !other->test.images.inMemory());
            QCOMPARE(other->train.size(), inMemory.train.size());
            QVERIFY(torch::equal(other->train.images.all(), inMemory.train.images.all()));
            QVERIFY(torch::equal(other->test.images.all(), inMemory.test.images.all()));
            QCOMPARE(other->skipped.size(), inMemory.skipped.size());
            for (const int workers : {1, 3})
                QVERIFY(torch::equal(batch(other->train, workers), expected));
            // A rank's share of a distributed batch: its rows of the whole.
            QVERIFY(torch::equal(batch(other->train, 2, 1, 2), expected.index({torch::indexing::Slice(1, {}, 2)})));
        }
        QVERIFY(torch::equal(batch(inMemory.train, 2), expected));
    }

    // A run on the bounded store trains exactly as one in memory.
    void runOnTheBoundedStoreIsTheSame()
    {
        ExperimentConfig c = smallRun("cub", 3);
        c.embeddingDim = 8;
        c.augmentation = "paper";
        auto losses = [&](const std::string &name) {
            const std::atomic<bool> cancel{false};
            const std::string run = m_dir.file(name);
            std::vector<std::string> values;
            if (Trainer::start(c, run)->run({}, cancel) != Trainer::Outcome::Finished)
                return values;
            std::ifstream in(fs::path(run) / "metrics.jsonl");
            for (std::string line; std::getline(in, line);) {
                const size_t at = line.find("\"loss\":");
                if (at != std::string::npos)
                    values.push_back(line.substr(at, line.find(',', at) - at));
            }
            return values;
        };
        const std::vector<std::string> inMemory = losses("run-in-memory");
        qputenv("LIFTLAB_MEMORY_BUDGET", "1K");
        std::vector<std::string> bounded;
        try {
            bounded = losses("run-bounded");
        } catch (...) {
            qunsetenv("LIFTLAB_MEMORY_BUDGET"); // not for the tests after this one
            throw;
        }
        qunsetenv("LIFTLAB_MEMORY_BUDGET");
        QCOMPARE(inMemory.size(), size_t(3));
        QCOMPARE(bounded, inMemory);
    }

    void memoryBudgetsParse()
    {
        QCOMPARE(parseByteSize("4G", "budget"), int64_t(4) << 30);
        QCOMPARE(parseByteSize("512M", "budget"), int64_t(512) << 20);
        QCOMPARE(parseByteSize("1.5GiB", "budget"), int64_t(3) << 29);
        QCOMPARE(parseByteSize("300k", "budget"), int64_t(300) << 10);
        QCOMPARE(parseByteSize("1000", "budget"), int64_t(1000));
        for (const char *bad : {"", "G", "-1G", "4X", "4GG", "0"}) {
            const std::string message = messageOf([&] { parseByteSize(bad, "--memory-budget"); });
            QVERIFY2(message.find("--memory-budget '") != std::string::npos, bad);
        }
    }

    void cancelStopsDecoding()
    {
        std::atomic<bool> cancel{true};
        LoadOptions o;
        o.imageSize = 16;
        o.monitor.cancel = &cancel;
        const std::string message = messageOf([&] { loadDataset(tree("cub"), SplitKind::ZeroShot, o); });
        QVERIFY2(message.find("stopped while decoding") != std::string::npos, message.c_str());
    }

    // A second load of the same images reads them from the cache; a changed
    // image, another size or a damaged cache file means decoding again.
    void decodedImagesAreCached()
    {
        const std::string data = m_dir.file("cached-folder");
        writeFolder(data);
        LoadOptions o;
        o.imageSize = 16;
        o.cacheFolder = m_dir.file("cache");
        auto cacheFiles = [&] {
            std::vector<fs::path> files;
            for (const auto &e : fs::directory_iterator(o.cacheFolder))
                files.push_back(e.path());
            return files;
        };
        const ExperimentData first = loadDataset(data, SplitKind::ZeroShot, o);
        QCOMPARE(cacheFiles().size(), size_t(1));
        const fs::path file = cacheFiles().front();

        // Read back: the same images, labels and skip report.
        const ExperimentData second = loadDataset(data, SplitKind::ZeroShot, o);
        QVERIFY(torch::equal(first.train.images.all(), second.train.images.all()));
        QVERIFY(torch::equal(first.test.images.all(), second.test.images.all()));
        QVERIFY(torch::equal(first.test.labels, second.test.labels));
        QCOMPARE(second.skipped.size(), first.skipped.size());
        QVERIFY(!second.skipped.empty());
        QCOMPARE(second.skipped.front().reason, first.skipped.front().reason);
        // ... from the file, not decoded again: a byte changed in the file shows.
        {   // every image's place (after the 4 KiB preamble) set to 0x55
            const int64_t listed = int64_t(listImages(data, SplitKind::ZeroShot).images.size());
            std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(4096);
            const std::string pattern(size_t(listed * 3 * 16 * 16), char(0x55));
            f.write(pattern.data(), std::streamsize(pattern.size()));
        }
        const ExperimentData edited = loadDataset(data, SplitKind::ZeroShot, o);
        QVERIFY(edited.test.images.all().eq(0x55).all().item<bool>());

        // Another size is another cache file.
        o.imageSize = 20;
        loadDataset(data, SplitKind::ZeroShot, o);
        QCOMPARE(cacheFiles().size(), size_t(2));
        o.imageSize = 16;

        // A truncated cache file is dropped, the images decoded again and the file written whole.
        const uintmax_t whole = fs::file_size(file);
        fs::resize_file(file, whole - 7);
        const ExperimentData afterDamage = loadDataset(data, SplitKind::ZeroShot, o);
        QVERIFY(torch::equal(first.test.images.all(), afterDamage.test.images.all()));
        QCOMPARE(fs::file_size(file), whole);
        QVERIFY(torch::equal(loadDataset(data, SplitKind::ZeroShot, o).test.images.all(), first.test.images.all()));

        // A changed image is decoded again.
        std::string changed;
        for (const auto &e : fs::recursive_directory_iterator(data))
            if (e.path().extension() == ".png" || e.path().extension() == ".jpg")
                changed = e.path().string();
        QVERIFY(!changed.empty());
        const cv::Mat white(24, 24, CV_8UC3, cv::Scalar(255, 255, 255));
        QVERIFY(cv::imwrite(changed, white));
        const ExperimentData afterChange = loadDataset(data, SplitKind::ZeroShot, o);
        QCOMPARE(cacheFiles().size(), size_t(3));
        QVERIFY(!torch::equal(torch::cat({first.train.images.all(), first.test.images.all()}),
                              torch::cat({afterChange.train.images.all(), afterChange.test.images.all()})));
    }

    void trainerWatchesTheDecode()
    {
        const ExperimentConfig c = smallRun("cub", 1);
        std::vector<std::pair<int64_t, int64_t>> seen;
        LoadMonitor monitor;
        monitor.progress = [&](int64_t done, int64_t total) { seen.emplace_back(done, total); };
        Trainer::start(c, m_dir.file("run-watched"), monitor);
        QVERIFY(!seen.empty());
        QCOMPARE(seen.back(), (std::pair<int64_t, int64_t>{kClasses * kPerClass, kClasses * kPerClass}));
        // Stopped while decoding: a message, and no run directory.
        std::atomic<bool> stop{true};
        monitor.cancel = &stop;
        const std::string run = m_dir.file("run-stopped");
        const std::string message = messageOf([&] { Trainer::start(c, run, monitor); });
        QVERIFY2(message.find("stopped while decoding") != std::string::npos, message.c_str());
        QVERIFY(!fs::exists(run));
    }
};

QTEST_GUILESS_MAIN(TestImageSets)
#include "test_imagesets.moc"
