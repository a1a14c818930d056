#pragma once

// The loss registry as the GUI and CLI see it: names, parameters, ranges and
// defaults, without torch (see loss.h for the losses themselves).

#include <map>
#include <string>
#include <vector>

namespace liftlab {

// Describes one loss parameter, so the CLI and the GUI can build help text and
// forms (ranges, defaults, tooltips) from the registry alone.
struct ParamSpec
{
    enum class Kind { Real, Choice };

    std::string name;
    Kind kind = Kind::Real;
    double defaultValue = 0.0;
    double minimum = 0.0;
    double maximum = 0.0;
    std::vector<std::string> choices; // Kind::Choice: the first is the default
    std::string help;
    // The range a tuning draws this parameter from (train/tuning.h), inside
    // [minimum, maximum]; tuneLow < tuneHigh marks it tunable. Margins and
    // scales are; mining details and learning-rate ratios are not.
    double tuneLow = 0, tuneHigh = 0;

    bool tunable() const { return kind == Kind::Real && tuneLow < tuneHigh; }

    std::string defaultText() const;
};

// Parameter values as given by a user: name -> text ("1.5", "semi-hard").
using ParamValues = std::map<std::string, std::string>;

// Parameter values checked against their specs, with defaults filled in.
class LossParams
{
public:
    double real(const std::string &name) const;
    const std::string &choice(const std::string &name) const;
    const ParamValues &values() const { return m_values; }

private:
    friend LossParams resolveParams(const struct LossDescription &info, const ParamValues &given);
    ParamValues m_values;
};

struct LossDescription
{
    std::string name;
    std::string title;
    std::string description;
    std::vector<ParamSpec> params;
    int perClass = 0; // images per class a batch must hold (0: any K)
};

// Every registered loss, in registry order.
std::vector<LossDescription> lossDescriptions();

// The registered loss of that name; throws liftlab::Error naming the unknown
// loss and the known ones.
const LossDescription &describeLoss(const std::string &name);
// The registered loss of that name, or null.
const LossDescription *lookUpLoss(const std::string &name);

// Throws liftlab::Error for an unknown parameter or a value out of range.
LossParams resolveParams(const LossDescription &info, const ParamValues &given);

} // namespace liftlab
