#include "experiment/lossform.h"

#include "experiment/comboboxes.h"
#include "losses/params.h"
#include "widgets/wheelguard.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QVBoxLayout>

namespace liftlab {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

LossForm::LossForm(QWidget *parent)
    : QWidget(parent)
{
    m_loss = new QComboBox;
    m_loss->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_loss->setMinimumContentsLength(12);
    m_loss->setObjectName(QStringLiteral("lossBox"));
    for (const LossDescription &d : lossDescriptions()) {
        m_loss->addItem(q(d.title), q(d.name));
        m_loss->setItemData(m_loss->count() - 1, q(d.description), Qt::ToolTipRole);
    }
    m_paramsGroup = new QGroupBox(tr("Loss parameters"));
    m_paramsForm = new QFormLayout(m_paramsGroup);
    connect(m_loss, &QComboBox::currentIndexChanged, this, [this] {
        if (m_updating)
            return;
        buildParams({});
        Q_EMIT changed();
    });
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_loss);
    layout->addWidget(m_paramsGroup);
    guardWheel(m_loss);
    buildParams({});
}

std::string LossForm::loss() const
{
    return currentValue(m_loss).toStdString();
}

void LossForm::setLoss(const std::string &loss, const std::map<std::string, std::string> &params)
{
    m_updating = true;
    selectValue(m_loss, q(loss));
    m_updating = false;
    buildParams(params);
    Q_EMIT changed();
}

void LossForm::buildParams(const std::map<std::string, std::string> &values)
{
    while (m_paramsForm->rowCount() > 0)
        m_paramsForm->removeRow(0);
    m_paramWidgets.clear();
    const LossDescription *description = lookUpLoss(loss());
    if (!description || description->params.empty()) {
        m_paramsGroup->hide();
        return;
    }
    m_paramsGroup->show();
    for (const ParamSpec &spec : description->params) {
        const auto given = values.find(spec.name);
        const QString text = q(given == values.end() ? spec.defaultText() : given->second);
        QWidget *editor = nullptr;
        if (spec.kind == ParamSpec::Kind::Choice) {
            auto *box = new QComboBox;
            for (const std::string &c : spec.choices)
                box->addItem(q(c), q(c));
            selectValue(box, text);
            connect(box, &QComboBox::currentTextChanged, this, &LossForm::changed);
            editor = box;
        } else {
            auto *box = new QDoubleSpinBox;
            box->setDecimals(4);
            box->setRange(spec.minimum, spec.maximum);
            box->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
            bool ok = false;
            const double value = text.toDouble(&ok);
            box->setValue(ok ? value : spec.defaultValue);
            connect(box, &QDoubleSpinBox::valueChanged, this, &LossForm::changed);
            editor = box;
        }
        editor->setObjectName(QStringLiteral("param_") + q(spec.name));
        editor->setToolTip(tr("%1\nDefault %2").arg(q(spec.help), q(spec.defaultText()))
                           + (spec.kind == ParamSpec::Kind::Real
                                  ? tr(", range %1 to %2").arg(spec.minimum).arg(spec.maximum)
                                  : QString()));
        m_paramsForm->addRow(q(spec.name), editor);
        m_paramWidgets[spec.name] = editor;
    }
    guardWheel(m_paramsGroup);
}

std::map<std::string, std::string> LossForm::params() const
{
    std::map<std::string, std::string> values;
    const LossDescription *description = lookUpLoss(loss());
    for (const auto &[name, editor] : m_paramWidgets) {
        const ParamSpec *spec = nullptr;
        if (description)
            for (const ParamSpec &p : description->params)
                if (p.name == name)
                    spec = &p;
        if (auto *box = qobject_cast<QComboBox *>(editor)) {
            const std::string value = currentValue(box).toStdString();
            if (!spec || value != spec->defaultText())
                values[name] = value;
        } else if (auto *spin = qobject_cast<QDoubleSpinBox *>(editor)) {
            if (!spec || spin->value() != spec->defaultValue)
                values[name] = QString::number(spin->value(), 'g', 10).toStdString();
        }
    }
    return values;
}

} // namespace liftlab
