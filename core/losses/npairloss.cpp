// Multi-class N-pair loss (Sohn 2016). A batch holds N pairs, an anchor f_i
// and a positive f_i+ from each of N classes (its batch construction: P x K
// with K = 2), and every other pair's positive is a negative:
//   L = 1/N sum_i log(1 + sum_{j != i} exp(f_i.f_j+ - f_i.f_i+))
//     + l2/N sum_i (|f_i|^2 + |f_i+|^2)
// i.e. a softmax cross-entropy over the N positives. Inner products of raw
// embeddings, so their norm is kept small by the l2 term.
#include "losses/loss.h"

#include "error.h"

#include <map>

namespace liftlab {

namespace {

class NPairLoss : public Loss
{
public:
    explicit NPairLoss(const LossParams &p)
        : m_l2(p.real("l2"))
    {
    }

    LossOutput compute(const torch::Tensor &embeddings, const torch::Tensor &labelsIn) override
    {
        const torch::Tensor labels = labelsIn.to(torch::kCPU, torch::kInt64).contiguous();
        std::map<int64_t, std::vector<int64_t>> members; // class -> its rows, in batch order
        for (int64_t i = 0; i < labels.numel(); ++i)
            members[labels.data_ptr<int64_t>()[i]].push_back(i);
        std::vector<int64_t> anchors, positives;
        for (const auto &[label, rows] : members) {
            if (rows.size() != 2)
                throw Error("n-pair loss: every class of a batch needs exactly 2 images, an anchor and its positive "
                            "(use K = 2 images per class); class " + std::to_string(label) + " has "
                            + std::to_string(rows.size()));
            anchors.push_back(rows[0]);
            positives.push_back(rows[1]);
        }
        const int64_t n = int64_t(anchors.size());
        const torch::Tensor f = embeddings.index_select(0, torch::tensor(anchors, torch::kInt64).to(embeddings.device()));
        const torch::Tensor fPlus = embeddings.index_select(0, torch::tensor(positives, torch::kInt64).to(embeddings.device()));
        const torch::Tensor logits = torch::mm(f, fPlus.t()); // [i, j] = f_i . f_j+
        const torch::Tensor targets = torch::arange(n, logits.options().dtype(torch::kInt64));
        LossOutput out;
        out.loss = torch::cross_entropy_loss(logits, targets)
            + m_l2 * (f.pow(2).sum() + fPlus.pow(2).sum()) / double(n);
        // Active: negatives at least as similar to the anchor as its positive.
        const torch::Tensor l = logits.detach();
        const torch::Tensor violating = (l >= l.diagonal().unsqueeze(1)) & torch::eye(n, l.options().dtype(torch::kBool)).logical_not();
        out.activeFraction = n > 1 ? violating.sum().item<double>() / double(n * (n - 1)) : 0.0;
        return out;
    }

private:
    double m_l2;
};

} // namespace

LossInfo nPairLossInfo()
{
    LossInfo info;
    info.name = "n-pair";
    info.title = "N-pair";
    info.description = "Sohn 2016: one anchor and one positive per class (K = 2); each anchor's positive against "
                       "the other classes' positives, a softmax over inner products.";
    info.params = {{"l2", ParamSpec::Kind::Real, 0.002, 0.0, 1.0, {}, "weight of the embeddings' squared norm", 1e-4, 0.1}};
    info.perClass = 2; // its batch construction: N pairs
    info.create = [](const LossParams &p, const LossContext &) { return std::make_unique<NPairLoss>(p); };
    return info;
}

} // namespace liftlab
