#pragma once

// What the embedding explorer shows of a run: the test set's embedding at
// each evaluation, the images behind the points, and the run's model to
// embed an image from disk. Torch-free, so the GUI can hold one.

#include "projection/projection.h"
#include "train/trainer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace liftlab {

// The run directory holds, besides config.json and the rest:
//   embeddings/labels.npy        int64 [N]     test-set labels
//   embeddings/step-<n>.npy      float32 [N, d] test-set embedding at evaluation step n
//   projections/<method>-<n>.npy float32 [N, 2] a projection of step n (tsne or pca)
// The trainer writes the embeddings at each evaluation; projections are
// written by whoever computes them (the explorer, `liftlab-cli project`).
class RunData
{
public:
    using Image = Trainer::Image;

    // Loads the run's config and dataset (images and labels, both sets).
    // Throws liftlab::Error naming the folder and the problem.
    static std::shared_ptr<const RunData> open(const std::string &runDir);
    ~RunData();

    const std::string &path() const;
    const std::vector<std::string> &classNames() const; // indexed by label

    // Steps that have a saved test embedding, ascending (re-reads the folder,
    // so a run being written shows new evaluations).
    std::vector<int64_t> embeddingSteps() const;
    Matrix testEmbedding(int64_t step) const; // throws Error if missing or corrupt

    // Test set (the points of the explorer) and training set.
    int64_t testSize() const;
    const std::vector<int64_t> &testLabels() const;
    Image testImage(int64_t index) const;
    int64_t trainSize() const;
    const std::vector<int64_t> &trainLabels() const;
    Image trainImage(int64_t index) const;

    // Embeds an image file (PNG, JPEG, ... via OpenCV) with the run's last
    // checkpoint, after converting it to the dataset's format (grayscale
    // 28 x 28 for Fashion-MNIST; letterboxed as the dataset images are, so a
    // wide image is not stretched) and normalisation. Throws Error if the file
    // cannot be read or the run has no checkpoint. Safe from any thread.
    std::vector<float> embedImageFile(const std::string &path) const;
    // Embeds every test image with the last checkpoint (the same values the
    // trainer saved at its last evaluation, when the run has finished).
    Matrix embedTestSet() const;
    // Writes the network of the last checkpoint (read now) as TorchScript (nn/torchscript.h)
    // and returns what it takes and gives: "input: float [B, C, S, S], ...".
    // Throws Error naming the file. Safe from any thread.
    std::string exportTorchScript(const std::string &path) const;

    // A saved projection of an evaluation's embedding ("tsne" or "pca").
    std::optional<Matrix> projection(const std::string &method, int64_t step) const;
    void saveProjection(const std::string &method, int64_t step, const Matrix &coordinates) const;

private:
    struct Private;
    explicit RunData(std::unique_ptr<Private> d);
    std::unique_ptr<Private> d;
};

// Rows scaled to unit length (cosine distance ranks as Euclidean on these).
Matrix normalizedRows(const Matrix &m);

} // namespace liftlab
