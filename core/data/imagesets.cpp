#include "data/imagesets.h"

#include "data/matcheck.h"
#include "error.h"

#include <matio.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <locale>
#include <map>
#include <limits>
#include <memory>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace liftlab {

namespace {

bool isImageFile(const fs::path &p)
{
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    static const std::set<std::string> known = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"};
    return known.count(ext) > 0;
}

// The lines of an annotation file split on whitespace (or on `separator`),
// empty lines dropped; each with its line number for messages.
struct Line
{
    int number = 0;
    std::vector<std::string> fields;
};

std::vector<Line> readLines(const fs::path &path, char separator = 0)
{
    std::ifstream in(path);
    if (!in)
        throw fileError(path.string(), "cannot be read");
    std::vector<Line> lines;
    std::string text;
    for (int number = 1; std::getline(in, text); ++number) {
        if (!text.empty() && text.back() == '\r')
            text.pop_back();
        Line line{number, {}};
        if (separator) {
            std::stringstream s(text);
            for (std::string field; std::getline(s, field, separator);)
                line.fields.push_back(field);
        } else {
            std::istringstream s(text);
            for (std::string field; s >> field;)
                line.fields.push_back(field);
        }
        if (!line.fields.empty() && !(line.fields.size() == 1 && line.fields[0].empty()))
            lines.push_back(std::move(line));
    }
    return lines;
}

int64_t toInt(const std::string &text, const fs::path &file, int line)
{
    size_t used = 0;
    int64_t value = 0;
    try {
        value = std::stoll(text, &used);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used == 0 || used != text.size())
        throw fileError(file.string(), "line " + std::to_string(line) + ": '" + text + "' is not an integer");
    return value;
}

// In the C locale whatever the user's, all of the field, finite.
float toFloat(const std::string &text, const fs::path &file, int line)
{
    std::istringstream s(text);
    s.imbue(std::locale::classic());
    double value = 0;
    s >> value;
    if (!s || s.peek() != std::char_traits<char>::eof() || !std::isfinite(value) || std::abs(value) > 1e7)
        throw fileError(file.string(), "line " + std::to_string(line) + ": '" + text + "' is not a coordinate");
    return float(value);
}

void requireFields(const Line &line, size_t count, const fs::path &file, const std::string &format)
{
    if (line.fields.size() < count)
        throw fileError(file.string(), "line " + std::to_string(line.number) + ": expected " + format);
}

std::string humanName(std::string name)
{
    std::replace(name.begin(), name.end(), '_', ' ');
    return name;
}

// Zero-shot on classes numbered 1..C in the files: the first `trainClasses`
// train. Labels are those numbers minus one.
void splitByClassNumber(ImageListing &l, int64_t trainClasses)
{
    for (ImageEntry &e : l.images)
        e.train = e.label < trainClasses;
}

// ---- CUB-200-2011 ----------------------------------------------------------

fs::path cubRoot(const fs::path &folder)
{
    for (const fs::path &p : {folder, folder / "CUB_200_2011"})
        if (fs::exists(p / "images.txt") && fs::exists(p / "image_class_labels.txt"))
            return p;
    return {};
}

ImageListing listCub(const fs::path &root, SplitKind split)
{
    ImageListing l;
    l.layout = "cub-200-2011";
    l.folder = root.string();
    const fs::path classesFile = root / "classes.txt";
    std::map<int64_t, std::string> names;
    for (const Line &line : readLines(classesFile)) {
        requireFields(line, 2, classesFile, "'class_id class_name'");
        std::string name = line.fields[1];
        const size_t dot = name.find('.');
        if (dot != std::string::npos && dot + 1 < name.size())
            name = name.substr(dot + 1); // "001.Black_footed_Albatross"
        names[toInt(line.fields[0], classesFile, line.number)] = humanName(name);
    }
    if (names.empty() || names.begin()->first != 1 || names.rbegin()->first != int64_t(names.size()))
        throw fileError(classesFile.string(), "class ids must run from 1 to the number of classes");
    for (const auto &[id, name] : names)
        l.classNames.push_back(name);

    const fs::path imagesFile = root / "images.txt", labelsFile = root / "image_class_labels.txt";
    std::map<int64_t, int64_t> labelOf;
    for (const Line &line : readLines(labelsFile)) {
        requireFields(line, 2, labelsFile, "'image_id class_id'");
        const int64_t c = toInt(line.fields[1], labelsFile, line.number);
        if (c < 1 || c > int64_t(names.size()))
            throw fileError(labelsFile.string(), "line " + std::to_string(line.number) + ": class "
                                                     + std::to_string(c) + " is not in classes.txt");
        labelOf[toInt(line.fields[0], labelsFile, line.number)] = c - 1;
    }
    std::map<int64_t, std::array<float, 4>> boxes;
    const fs::path boxFile = root / "bounding_boxes.txt";
    if (fs::exists(boxFile))
        for (const Line &line : readLines(boxFile)) {
            requireFields(line, 5, boxFile, "'image_id x y width height'");
            const float x = toFloat(line.fields[1], boxFile, line.number), y = toFloat(line.fields[2], boxFile, line.number);
            const float w = toFloat(line.fields[3], boxFile, line.number), h = toFloat(line.fields[4], boxFile, line.number);
            // CUB's boxes are 0-based (x, y, width, height); ImageEntry's 1-based corners.
            boxes[toInt(line.fields[0], boxFile, line.number)] = {x + 1, y + 1, x + w, y + h};
        }
    std::map<int64_t, bool> isTraining;
    if (split == SplitKind::Seen) {
        const fs::path splitFile = root / "train_test_split.txt";
        if (!fs::exists(splitFile))
            throw fileError(splitFile.string(), "missing: the seen split of CUB-200-2011 needs it");
        for (const Line &line : readLines(splitFile)) {
            requireFields(line, 2, splitFile, "'image_id is_training_image'");
            isTraining[toInt(line.fields[0], splitFile, line.number)] = toInt(line.fields[1], splitFile, line.number) != 0;
        }
    }
    for (const Line &line : readLines(imagesFile)) {
        requireFields(line, 2, imagesFile, "'image_id path'");
        const int64_t id = toInt(line.fields[0], imagesFile, line.number);
        const auto label = labelOf.find(id);
        if (label == labelOf.end())
            throw fileError(labelsFile.string(), "has no class for image " + std::to_string(id) + " of images.txt");
        ImageEntry e;
        e.path = (root / "images" / line.fields[1]).string();
        e.label = label->second;
        if (const auto box = boxes.find(id); box != boxes.end())
            e.box = box->second;
        if (split == SplitKind::Seen) {
            const auto t = isTraining.find(id);
            if (t == isTraining.end())
                throw fileError((root / "train_test_split.txt").string(),
                                "has no entry for image " + std::to_string(id));
            e.train = t->second;
        }
        l.images.push_back(std::move(e));
    }
    if (split == SplitKind::ZeroShot)
        splitByClassNumber(l, int64_t(l.classNames.size()) / 2); // 1-100 / 101-200
    return l;
}

// ---- Cars196 ---------------------------------------------------------------

struct MatFile
{
    explicit MatFile(const fs::path &path)
        : path(path.string())
        , mat((checkMatFile(this->path), Mat_Open(this->path.c_str(), MAT_ACC_RDONLY)))
    {
        if (!mat)
            throw fileError(this->path, "is not a readable MATLAB file");
    }
    ~MatFile() { Mat_Close(mat); }
    std::unique_ptr<matvar_t, void (*)(matvar_t *)> read(const char *name) const
    {
        matvar_t *v = Mat_VarRead(mat, name);
        if (!v)
            throw fileError(path, std::string("has no variable '") + name + "' (expected the Cars196 annotations)");
        return {v, Mat_VarFree};
    }
    std::string path;
    mat_t *mat;
};

size_t matCount(const matvar_t *v)
{
    size_t count = 1;
    for (int d = 0; d < v->rank; ++d)
        if (__builtin_mul_overflow(count, v->dims[d], &count))
            return std::numeric_limits<size_t>::max();
    return count;
}

// matio indexes a cell or struct array's data by its dimensions without
// checking that the data is there: a damaged file can have less.
void requireElements(const matvar_t *v, size_t perElement, const std::string &file, const std::string &what)
{
    const size_t count = matCount(v);
    size_t bytes = 0;
    if (!v->data || __builtin_mul_overflow(count, perElement * sizeof(matvar_t *), &bytes) || v->nbytes < bytes)
        throw fileError(file, what + " is damaged (it holds less than its size says)");
}

std::string matString(const matvar_t *v, const std::string &file, const std::string &what)
{
    if (!v || v->class_type != MAT_C_CHAR || !v->data)
        throw fileError(file, what + " is not a text field");
    const size_t width = v->data_size == 1 || v->data_size == 2 ? size_t(v->data_size) : 4;
    const size_t n = v->nbytes / width;
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        unsigned c = 0;
        if (width == 1)
            c = static_cast<const uint8_t *>(v->data)[i];
        else if (width == 2)
            c = static_cast<const uint16_t *>(v->data)[i];
        else
            c = static_cast<const uint32_t *>(v->data)[i];
        s.push_back(c < 128 ? char(c) : '?');
    }
    return s;
}

double matNumber(const matvar_t *v, const std::string &file, const std::string &what)
{
    if (!v || !v->data || v->isComplex)
        throw fileError(file, what + " is not a number");
    auto first = [&](auto type) -> double {
        using T = decltype(type);
        if (v->nbytes < sizeof(T))
            throw fileError(file, what + " is empty");
        T value;
        std::memcpy(&value, v->data, sizeof value);
        return double(value);
    };
    switch (v->class_type) {
    case MAT_C_DOUBLE: return first(double());
    case MAT_C_SINGLE: return first(float());
    case MAT_C_INT8: return first(int8_t());
    case MAT_C_UINT8: return first(uint8_t());
    case MAT_C_INT16: return first(int16_t());
    case MAT_C_UINT16: return first(uint16_t());
    case MAT_C_INT32: return first(int32_t());
    case MAT_C_UINT32: return first(uint32_t());
    case MAT_C_INT64: return first(int64_t());
    case MAT_C_UINT64: return first(uint64_t());
    default: throw fileError(file, what + " is not a number");
    }
}

ImageListing listCarsMat(const fs::path &root, SplitKind split)
{
    const fs::path file = root / "cars_annos.mat";
    const MatFile mat(file);
    ImageListing l;
    l.layout = "cars196";
    l.folder = root.string();
    const auto names = mat.read("class_names");
    if (names->class_type != MAT_C_CELL)
        throw fileError(file.string(), "class_names is not a cell array of names");
    requireElements(names.get(), 1, file.string(), "class_names");
    const size_t classCount = matCount(names.get());
    for (size_t i = 0; i < classCount; ++i)
        l.classNames.push_back(
            matString(Mat_VarGetCell(names.get(), int(i)), file.string(), "class_names{" + std::to_string(i + 1) + "}"));
    const auto annos = mat.read("annotations");
    if (annos->class_type != MAT_C_STRUCT)
        throw fileError(file.string(), "annotations is not a struct array");
    const unsigned fieldCount = Mat_VarGetNumberOfFields(annos.get());
    const char *const *fieldNames = Mat_VarGetStructFieldnames(annos.get());
    if (fieldCount == 0 || !fieldNames || std::find(fieldNames, fieldNames + fieldCount, nullptr) != fieldNames + fieldCount)
        throw fileError(file.string(), "annotations has no fields (expected the Cars196 annotations)");
    requireElements(annos.get(), fieldCount, file.string(), "annotations");
    for (size_t i = 0, count = matCount(annos.get()); i < count; ++i) {
        const std::string at = "annotations(" + std::to_string(i + 1) + ").";
        auto field = [&](const char *name) {
            matvar_t *v = Mat_VarGetStructFieldByName(annos.get(), name, i);
            if (!v)
                throw fileError(file.string(), at + name + " is missing (expected the Cars196 annotations)");
            return v;
        };
        ImageEntry e;
        e.path = (root / matString(field("relative_im_path"), file.string(), at + "relative_im_path")).string();
        const double c = matNumber(field("class"), file.string(), at + "class");
        if (!(c >= 1 && c <= double(classCount)))
            throw fileError(file.string(), at + "class is " + std::to_string(c) + ", outside 1.."
                                               + std::to_string(classCount));
        e.label = int64_t(c) - 1;
        auto coordinate = [&](const char *name) {
            const double v = matNumber(field(name), file.string(), at + name);
            if (!(std::abs(v) <= 1e7))
                throw fileError(file.string(), at + name + " is " + std::to_string(v) + ", not a coordinate");
            return float(v);
        };
        e.box = {coordinate("bbox_x1"), coordinate("bbox_y1"), coordinate("bbox_x2"), coordinate("bbox_y2")};
        e.train = matNumber(field("test"), file.string(), at + "test") == 0;
        l.images.push_back(std::move(e));
    }
    if (split == SplitKind::ZeroShot)
        splitByClassNumber(l, int64_t(l.classNames.size()) / 2); // 1-98 / 99-196
    return l;
}

// The CSV variant: anno_train.csv / anno_test.csv rows "file,x1,y1,x2,y2,class"
// and names.csv (a class name a line). The images are looked for in the
// devkit's cars_train/ and cars_test/, then in car_data/car_data/{train,test}/<class>/.
ImageListing listCarsCsv(const fs::path &root, SplitKind split)
{
    ImageListing l;
    l.layout = "cars196";
    l.folder = root.string();
    const fs::path namesFile = root / "names.csv";
    if (!fs::exists(namesFile))
        throw fileError(namesFile.string(), "missing: the CSV annotations of Cars196 need it");
    for (const Line &line : readLines(namesFile, '\n'))
        l.classNames.push_back(line.fields[0]);
    for (const bool train : {true, false}) {
        const fs::path file = root / (train ? "anno_train.csv" : "anno_test.csv");
        if (!fs::exists(file))
            throw fileError(file.string(), "missing: the CSV annotations of Cars196 need it");
        for (const Line &line : readLines(file, ',')) {
            if (line.number == 1 && !line.fields.empty() && line.fields.back().find_first_not_of("0123456789") != std::string::npos)
                continue; // a header
            requireFields(line, 6, file, "'file,x1,y1,x2,y2,class'");
            const int64_t c = toInt(line.fields[5], file, line.number);
            if (c < 1 || c > int64_t(l.classNames.size()))
                throw fileError(file.string(), "line " + std::to_string(line.number) + ": class " + std::to_string(c)
                                                   + " is not in names.csv");
            ImageEntry e;
            e.label = c - 1;
            e.train = train;
            e.box = {toFloat(line.fields[1], file, line.number), toFloat(line.fields[2], file, line.number),
                     toFloat(line.fields[3], file, line.number), toFloat(line.fields[4], file, line.number)};
            const std::string &name = line.fields[0];
            const std::vector<fs::path> candidates = {
                root / (train ? "cars_train" : "cars_test") / name,
                root / "car_data" / "car_data" / (train ? "train" : "test") / l.classNames[size_t(c - 1)] / name,
                root / name};
            e.path = candidates.front().string();
            for (const fs::path &p : candidates)
                if (fs::exists(p)) {
                    e.path = p.string();
                    break;
                }
            l.images.push_back(std::move(e));
        }
    }
    if (split == SplitKind::ZeroShot)
        splitByClassNumber(l, int64_t(l.classNames.size()) / 2);
    return l;
}

// ---- Stanford Online Products ----------------------------------------------

ImageListing listSop(const fs::path &root, SplitKind split)
{
    if (split == SplitKind::Seen)
        throw fileError(root.string(), "Stanford Online Products has only its class-disjoint split (zero-shot)");
    ImageListing l;
    l.layout = "stanford-online-products";
    l.folder = root.string();
    // Class ids as the files give them; renumbered densely below, so that a
    // subset of the lists (ids kept from the full dataset) loads too.
    std::map<int64_t, std::string> names; // class id -> "bicycle 111085122871"
    std::vector<int64_t> ids;             // per image
    for (const bool train : {true, false}) {
        const fs::path file = root / (train ? "Ebay_train.txt" : "Ebay_test.txt");
        if (!fs::exists(file))
            throw fileError(file.string(), "missing: Stanford Online Products needs Ebay_train.txt and Ebay_test.txt");
        for (const Line &line : readLines(file)) {
            if (line.number == 1 && line.fields[0] == "image_id")
                continue;
            requireFields(line, 4, file, "'image_id class_id super_class_id path'");
            const int64_t c = toInt(line.fields[1], file, line.number);
            if (c < 1)
                throw fileError(file.string(), "line " + std::to_string(line.number) + ": class ids start at 1");
            const std::string &path = line.fields[3];
            if (!names.count(c)) {
                // "bicycle_final/111085122871_0.JPG": the category and the product.
                const fs::path p(path);
                std::string category = p.parent_path().filename().string();
                category = category.substr(0, category.find("_final"));
                const std::string stem = p.stem().string();
                names[c] = category + " " + stem.substr(0, stem.rfind('_'));
            }
            ImageEntry e;
            e.path = (root / path).string();
            e.train = train;
            l.images.push_back(std::move(e));
            ids.push_back(c);
        }
    }
    if (names.empty())
        throw fileError(root.string(), "Ebay_train.txt and Ebay_test.txt list no images");
    std::map<int64_t, int64_t> labelOf; // class id -> label, in the order of the ids
    for (const auto &[id, name] : names) {
        labelOf[id] = int64_t(l.classNames.size());
        l.classNames.push_back(name);
    }
    for (size_t i = 0; i < l.images.size(); ++i)
        l.images[i].label = labelOf[ids[i]];
    return l;
}

// ---- A folder per class ----------------------------------------------------

std::vector<fs::path> classFolders(const fs::path &root)
{
    std::vector<fs::path> classes;
    std::error_code ec;
    for (const fs::directory_entry &d : fs::directory_iterator(root, ec)) {
        if (!d.is_directory())
            continue;
        for (const fs::directory_entry &f : fs::directory_iterator(d.path(), ec))
            if (f.is_regular_file() && isImageFile(f.path())) {
                classes.push_back(d.path());
                break;
            }
    }
    std::sort(classes.begin(), classes.end());
    return classes;
}

ImageListing listFolder(const fs::path &root, SplitKind split)
{
    ImageListing l;
    l.layout = "image-folder";
    l.folder = root.string();
    const std::vector<fs::path> classes = classFolders(root);
    std::set<std::string> testClasses;
    const fs::path listFile = root / "test_classes.txt";
    if (split == SplitKind::ZeroShot && fs::exists(listFile)) {
        for (const Line &line : readLines(listFile, '\n'))
            testClasses.insert(line.fields[0]);
        for (const std::string &name : testClasses)
            if (!fs::is_directory(root / name))
                throw fileError(listFile.string(), "names '" + name + "', which is not a class folder");
    }
    for (size_t c = 0; c < classes.size(); ++c) {
        const std::string name = classes[c].filename().string();
        l.classNames.push_back(name);
        std::vector<fs::path> files;
        for (const fs::directory_entry &f : fs::directory_iterator(classes[c]))
            if (f.is_regular_file() && isImageFile(f.path()))
                files.push_back(f.path());
        std::sort(files.begin(), files.end());
        for (size_t i = 0; i < files.size(); ++i) {
            ImageEntry e;
            e.path = files[i].string();
            e.label = int64_t(c);
            if (split == SplitKind::Seen)
                e.train = i < (files.size() + 1) / 2;
            else if (!testClasses.empty())
                e.train = !testClasses.count(name);
            else
                e.train = c < classes.size() / 2;
            l.images.push_back(std::move(e));
        }
    }
    return l;
}

ImageListing listImagesIn(const std::string &folderName, SplitKind split)
{
    const fs::path folder(folderName);
    if (!fs::is_directory(folder))
        throw fileError(folderName, fs::exists(folder) ? "is not a folder" : "dataset folder does not exist");
    ImageListing l;
    if (const fs::path cub = cubRoot(folder); !cub.empty())
        l = listCub(cub, split);
    else if (fs::exists(folder / "cars_annos.mat"))
        l = listCarsMat(folder, split);
    else if (fs::exists(folder / "anno_train.csv"))
        l = listCarsCsv(folder, split);
    else if (fs::exists(folder / "Ebay_train.txt"))
        l = listSop(folder, split);
    else if (classFolders(folder).size() >= 2)
        l = listFolder(folder, split);
    else
        throw fileError(folderName, "matches no known dataset layout: expected CUB-200-2011 (images.txt), Cars196 "
                                    "(cars_annos.mat or anno_train.csv), Stanford Online Products (Ebay_train.txt), "
                                    "IDX files (train-images-idx3-ubyte, ...), or one subfolder of images per "
                                    "class (at least two)");
    const bool anyTrain = std::any_of(l.images.begin(), l.images.end(), [](const ImageEntry &e) { return e.train; });
    const bool anyTest = std::any_of(l.images.begin(), l.images.end(), [](const ImageEntry &e) { return !e.train; });
    if (!anyTrain || !anyTest)
        throw fileError(folderName, "the " + splitToString(split) + " split of this " + l.layout
                                        + " leaves no training or no test images");
    return l;
}

} // namespace

bool isImageDataset(const std::string &folderName)
{
    const fs::path folder(folderName);
    try {
        return !cubRoot(folder).empty() || fs::exists(folder / "cars_annos.mat") || fs::exists(folder / "anno_train.csv")
            || fs::exists(folder / "Ebay_train.txt") || classFolders(folder).size() >= 2;
    } catch (const fs::filesystem_error &) {
        return false;
    }
}

ImageListing listImages(const std::string &folderName, SplitKind split)
{
    try {
        return listImagesIn(folderName, split);
    } catch (const fs::filesystem_error &e) { // a folder that cannot be read, a link loop
        throw fileError(e.path1().empty() ? folderName : e.path1().string(), e.code().message());
    }
}

} // namespace liftlab
