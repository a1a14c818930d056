#include "nn/torchscript.h"

#include "error.h"
#include "nn/batchnorm.h"
#include "util/atomicfile.h"

#include <torch/nn.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace liftlab {

namespace {

namespace nn = torch::nn;

// A double as a TorchScript float literal (never an int literal).
std::string floatLiteral(double v)
{
    std::ostringstream s;
    s << std::setprecision(17) << v;
    std::string text = s.str();
    if (text.find_first_of(".e") == std::string::npos)
        text += ".0";
    return text;
}

std::string intList(const torch::ExpandingArray<2> &a)
{
    return "[" + std::to_string((*a)[0]) + ", " + std::to_string((*a)[1]) + "]";
}

std::string join(const std::string &path, const std::string &name)
{
    return path.empty() ? name : path + "." + name;
}

std::string conv(ScriptWriter &w, const nn::Conv2dImpl &c, const std::string &path, const std::string &x)
{
    const auto &o = c.options;
    if (!c10::holds_alternative<torch::ExpandingArray<2>>(o.padding()))
        throw Error("cannot write a Conv2d with named padding as TorchScript");
    const std::string bias = o.bias() ? w.tensor(join(path, "bias"), c.bias, true) : "None";
    return w.assign("torch.conv2d(" + x + ", " + w.tensor(join(path, "weight"), c.weight, true) + ", " + bias + ", "
                    + intList(o.stride()) + ", " + intList(c10::get<torch::ExpandingArray<2>>(o.padding())) + ", "
                    + intList(o.dilation()) + ", " + std::to_string(o.groups()) + ")");
}

std::string batchNorm(ScriptWriter &w, const BatchNorm2dImpl &b, const std::string &path, const std::string &x)
{
    const auto &o = b.options;
    if (!o.affine() || !o.track_running_stats())
        throw Error("cannot write a BatchNorm2d without affine weights or running statistics as TorchScript");
    return w.assign("torch.batch_norm(" + x + ", " + w.tensor(join(path, "weight"), b.weight, true) + ", "
                    + w.tensor(join(path, "bias"), b.bias, true) + ", "
                    + w.tensor(join(path, "running_mean"), b.running_mean, false) + ", "
                    + w.tensor(join(path, "running_var"), b.running_var, false) + ", False, 0.0, "
                    + floatLiteral(o.eps()) + ", True)");
}

std::string linear(ScriptWriter &w, const nn::LinearImpl &l, const std::string &path, const std::string &x)
{
    const std::string bias = l.options.bias() ? w.tensor(join(path, "bias"), l.bias, true) : "None";
    return w.assign("torch.linear(" + x + ", " + w.tensor(join(path, "weight"), l.weight, true) + ", " + bias + ")");
}

std::string maxPool(ScriptWriter &w, const nn::MaxPool2dImpl &p, const std::string &x)
{
    const auto &o = p.options;
    return w.assign("torch.max_pool2d(" + x + ", " + intList(o.kernel_size()) + ", " + intList(o.stride()) + ", "
                    + intList(o.padding()) + ", " + intList(o.dilation()) + ", " + (o.ceil_mode() ? "True" : "False")
                    + ")");
}

} // namespace

ScriptWriter::ScriptWriter()
    : m_module("__torch__.liftlab.EmbeddingNet")
{
}

std::string ScriptWriter::apply(const nn::Module &layer, const std::string &path, const std::string &x)
{
    if (const auto *s = dynamic_cast<const Scriptable *>(&layer))
        return s->script(*this, path, x);
    if (const auto *c = layer.as<nn::Conv2d>())
        return conv(*this, *c, path, x);
    if (const auto *b = layer.as<BatchNorm2d>())
        return batchNorm(*this, *b, path, x);
    if (const auto *l = layer.as<nn::Linear>())
        return linear(*this, *l, path, x);
    if (const auto *p = layer.as<nn::MaxPool2d>())
        return maxPool(*this, *p, x);
    if (layer.as<nn::ReLU>())
        return assign("torch.relu(" + x + ")");
    if (const auto *s = layer.as<nn::Sequential>()) {
        std::string y = x;
        for (const auto &child : s->named_children())
            y = apply(*child.value(), join(path, child.key()), y);
        return y;
    }
    throw Error("cannot write the layer " + layer.name() + " (" + path + ") as TorchScript");
}

std::string ScriptWriter::assign(const std::string &expression)
{
    const std::string name = "x" + std::to_string(++m_values);
    line(name + " = " + expression);
    return name;
}

void ScriptWriter::line(const std::string &code)
{
    m_source += "    " + code + "\n";
}

std::string ScriptWriter::tensor(const std::string &path, const torch::Tensor &t, bool parameter)
{
    std::string name = path;
    std::replace(name.begin(), name.end(), '.', '_');
    if (m_module.hasattr(name))
        throw Error("cannot write the weight " + path + " as TorchScript: its name is taken");
    m_module.register_parameter(name, t.detach().clone().contiguous(), /*is_buffer=*/!parameter);
    return "self." + name;
}

void ScriptWriter::submodule(const std::string &name, const torch::jit::Module &m)
{
    m_module.register_module(name, m);
}

std::string ScriptWriter::embeddingHead(const nn::Module &head, const std::string &features, bool normalize)
{
    const std::string e = apply(head, "head", features);
    if (!normalize)
        return e;
    return assign(e + " / torch.clamp_min(torch.linalg_vector_norm(" + e + ", 2.0, [1], True), 1e-12)");
}

torch::jit::Module ScriptWriter::finish(const std::string &result)
{
    const std::string source = "def forward(self, x):\n" + m_source + "    return " + result + "\n";
    try {
        m_module.define(source);
    } catch (const std::exception &e) {
        throw Error(std::string("cannot write the network as TorchScript: ") + e.what());
    }
    return m_module;
}

void saveTorchScript(const nn::Module &model, const Normalization &normalization, int64_t inputSide,
                     const std::string &path)
{
    ScriptWriter w;
    const std::string result = w.apply(model, "", "x");
    torch::jit::Module script = w.finish(result);
    script.register_buffer("input_mean", torch::tensor(normalization.mean, torch::kFloat32));
    script.register_buffer("input_std", torch::tensor(normalization.std, torch::kFloat32));
    script.register_attribute("input_side", c10::IntType::get(), inputSide);
    script.eval();
    std::ostringstream bytes;
    try {
        script.save(bytes);
    } catch (const std::exception &e) {
        throw fileError(path, std::string("cannot write the TorchScript model: ") + e.what());
    }
    writeFileAtomically(path, bytes.str());
}

} // namespace liftlab
