#include "data/glyphs.h"

#include "error.h"

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_OUTLINE_H

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>

namespace fs = std::filesystem;

namespace liftlab {

namespace {

constexpr int kSide = 32;
constexpr int kMinFaces = 4; // a character must be drawn by this many faces

// The blocks the characters come from, in order.
const std::pair<char32_t, char32_t> kBlocks[] = {
    {0x0030, 0x0039}, {0x0041, 0x005A}, {0x0061, 0x007A}, // digits, Latin letters
    {0x00C0, 0x00FF}, {0x0100, 0x017F},                   // Latin-1 and Extended-A letters
    {0x0391, 0x03C9},                                     // Greek
    {0x0400, 0x045F},                                     // Cyrillic
    {0x0531, 0x0556}, {0x0561, 0x0586},                   // Armenian
    {0x10D0, 0x10F0},                                     // Georgian
    {0x2190, 0x21FF}, {0x2200, 0x22FF},                   // arrows, mathematical operators
    {0x2500, 0x257F}, {0x25A0, 0x25FF}, {0x2600, 0x26FF}, // box drawing, shapes, symbols
};

std::string utf8(char32_t c)
{
    std::string s;
    if (c < 0x80) {
        s += char(c);
    } else if (c < 0x800) {
        s += char(0xC0 | (c >> 6));
        s += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        s += char(0xE0 | (c >> 12));
        s += char(0x80 | ((c >> 6) & 0x3F));
        s += char(0x80 | (c & 0x3F));
    } else {
        s += char(0xF0 | (c >> 18));
        s += char(0x80 | ((c >> 12) & 0x3F));
        s += char(0x80 | ((c >> 6) & 0x3F));
        s += char(0x80 | (c & 0x3F));
    }
    return s;
}

class FreeType
{
public:
    FreeType()
    {
        if (FT_Init_FreeType(&m_library))
            throw Error("FreeType could not be initialised");
    }
    ~FreeType()
    {
        for (FT_Face f : m_faces)
            FT_Done_Face(f);
        FT_Done_FreeType(m_library);
    }
    FreeType(const FreeType &) = delete;
    FreeType &operator=(const FreeType &) = delete;

    void open(const std::string &path)
    {
        FT_Face face = nullptr;
        if (FT_New_Face(m_library, path.c_str(), 0, &face) == 0)
            m_faces.push_back(face);
    }
    const std::vector<FT_Face> &faces() const { return m_faces; }

private:
    FT_Library m_library = nullptr;
    std::vector<FT_Face> m_faces;
};

// Renders `c` with `face` into a 32 x 32 canvas (added, saturating).
void render(FT_Face face, char32_t c, std::mt19937_64 &rng, uint8_t *canvas)
{
    std::uniform_int_distribution<int> size(16, 25);
    std::uniform_real_distribution<double> angle(-0.3, 0.3), stroke(0.0, 1.2);
    std::uniform_int_distribution<int> shift(-2, 2);
    FT_Set_Pixel_Sizes(face, 0, FT_UInt(size(rng)));
    const double a = angle(rng);
    FT_Matrix m{FT_Fixed(std::cos(a) * 0x10000), FT_Fixed(-std::sin(a) * 0x10000), FT_Fixed(std::sin(a) * 0x10000),
                FT_Fixed(std::cos(a) * 0x10000)};
    FT_Set_Transform(face, &m, nullptr);
    const double bold = stroke(rng);
    const int dx = shift(rng), dy = shift(rng);
    if (FT_Load_Char(face, c, FT_LOAD_NO_BITMAP) || face->glyph->format != FT_GLYPH_FORMAT_OUTLINE)
        return;
    if (bold > 0.05)
        FT_Outline_Embolden(&face->glyph->outline, FT_Pos(bold * 64));
    if (FT_Render_Glyph(face->glyph, FT_RENDER_MODE_NORMAL))
        return;
    const FT_Bitmap &b = face->glyph->bitmap;
    // Centred, then shifted a little.
    const int x0 = (kSide - int(b.width)) / 2 + dx, y0 = (kSide - int(b.rows)) / 2 + dy;
    for (int y = 0; y < int(b.rows); ++y)
        for (int x = 0; x < int(b.width); ++x) {
            const int cx = x0 + x, cy = y0 + y;
            if (cx < 0 || cy < 0 || cx >= kSide || cy >= kSide)
                continue;
            const int v = canvas[cy * kSide + cx] + b.buffer[y * b.pitch + x];
            canvas[cy * kSide + cx] = uint8_t(std::min(v, 255));
        }
}

} // namespace

std::string glyphFontFolder()
{
    return "/usr/share/fonts/truetype/dejavu";
}

ExperimentData makeGlyphs(SplitKind split, const GlyphOptions &o)
{
    if (o.classes < 2 || o.perClass < 3)
        throw Error("glyphs need at least 2 classes and 3 images per class");
    FreeType ft;
    std::vector<std::string> files;
    std::error_code ec;
    for (const fs::directory_entry &f : fs::directory_iterator(glyphFontFolder(), ec))
        if (f.path().extension() == ".ttf" && f.path().filename().string().find("Math") == std::string::npos)
            files.push_back(f.path().string());
    std::sort(files.begin(), files.end()); // the same faces in the same order everywhere
    for (const std::string &f : files)
        ft.open(f);

    // The characters, and for each the faces that draw it.
    std::vector<char32_t> chars;
    std::vector<std::vector<FT_Face>> facesOf;
    for (const auto &[first, last] : kBlocks)
        for (char32_t c = first; c <= last && int(chars.size()) < o.classes; ++c) {
            std::vector<FT_Face> faces;
            for (FT_Face f : ft.faces())
                if (FT_Get_Char_Index(f, c) != 0)
                    faces.push_back(f);
            if (int(faces.size()) < kMinFaces)
                continue;
            chars.push_back(c);
            facesOf.push_back(std::move(faces));
        }
    if (int(chars.size()) < o.classes)
        throw fileError(glyphFontFolder(), "its fonts draw " + std::to_string(chars.size()) + " characters, fewer than the "
                                               + std::to_string(o.classes)
                                               + " classes asked for (apt-get install fonts-dejavu-core fonts-dejavu-extra)");

    const int64_t n = int64_t(o.classes) * o.perClass;
    torch::Tensor images = torch::zeros({n, 1, kSide, kSide}, torch::kUInt8);
    std::vector<int64_t> labels(static_cast<size_t>(n));
    uint8_t *pixels = images.data_ptr<uint8_t>();
    std::normal_distribution<double> noise(0.0, 12.0);
    for (int c = 0; c < o.classes; ++c)
        for (int k = 0; k < o.perClass; ++k) {
            const int64_t i = int64_t(c) * o.perClass + k;
            // A stream per image: the same image whatever the class count.
            std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull ^ (uint64_t(c) << 20) ^ uint64_t(k));
            const std::vector<FT_Face> &faces = facesOf[size_t(c)];
            FT_Face face = faces[std::uniform_int_distribution<size_t>(0, faces.size() - 1)(rng)];
            uint8_t *canvas = pixels + i * kSide * kSide;
            render(face, chars[size_t(c)], rng, canvas);
            for (int p = 0; p < kSide * kSide; ++p)
                canvas[p] = uint8_t(std::clamp(canvas[p] + noise(rng), 0.0, 255.0));
            labels[size_t(i)] = c;
        }
    Dataset all;
    all.images = ImageStore(images);
    all.labels = torch::tensor(labels, torch::kInt64);
    for (const char32_t c : chars) {
        char code[16];
        std::snprintf(code, sizeof code, "U+%04X", unsigned(c));
        all.classNames.push_back(utf8(c) + " " + code);
    }

    std::vector<int64_t> train, test;
    const int trainPerClass = (2 * o.perClass + 2) / 3;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = i / o.perClass, k = i % o.perClass;
        const bool isTrain = split == SplitKind::ZeroShot ? c < o.classes / 2 : k < trainPerClass;
        (isTrain ? train : test).push_back(i);
    }
    ExperimentData s;
    s.name = "glyphs";
    s.layout = "glyphs";
    s.train = all.subset(torch::tensor(train, torch::kInt64));
    s.test = all.subset(torch::tensor(test, torch::kInt64));
    const torch::Tensor x = s.train.images.all().to(torch::kFloat32).div_(255.0);
    s.normalization = {{x.mean().item<float>()}, {std::max(x.std().item<float>(), 1e-3f)}};
    return s;
}

} // namespace liftlab
