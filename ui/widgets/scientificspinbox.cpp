#include "widgets/scientificspinbox.h"

#include <QLocale>
#include <QRegularExpression>

#include <algorithm>
#include <cmath>

namespace liftlab {

ScientificSpinBox::ScientificSpinBox(QWidget *parent)
    : QDoubleSpinBox(parent)
{
    setDecimals(323); // QDoubleSpinBox rounds to its decimals: keep every digit
}

QString ScientificSpinBox::textFromValue(double value) const
{
    return QLocale::c().toString(value, 'g', 6); // 0.001, 5e-05, 1e+30
}

double ScientificSpinBox::valueFromText(const QString &text) const
{
    bool ok = false;
    const double value = QLocale::c().toDouble(text.trimmed(), &ok);
    return ok ? value : this->value();
}

QValidator::State ScientificSpinBox::validate(QString &text, int &) const
{
    const QString t = text.trimmed();
    bool ok = false;
    const double value = QLocale::c().toDouble(t, &ok);
    if (ok)
        return value >= minimum() && value <= maximum() ? QValidator::Acceptable : QValidator::Intermediate;
    // A number being typed: "", "1e", "1e-", "-", ".".
    static const QRegularExpression partial(QStringLiteral("^[+-]?\\d*\\.?\\d*([eE][+-]?\\d*)?$"));
    return partial.match(t).hasMatch() ? QValidator::Intermediate : QValidator::Invalid;
}

void ScientificSpinBox::stepBy(int steps)
{
    // The 1-2-5 series: three steps a decade.
    double v = value();
    for (; steps > 0; --steps) {
        if (v <= 0) {
            v = m_smallestStep;
            continue;
        }
        const double decade = std::pow(10.0, std::floor(std::log10(v) + 1e-9));
        const double m = v / decade;
        v = (m < 1.999 ? 2 : m < 4.999 ? 5 : 10) * decade;
    }
    for (; steps < 0; ++steps) {
        if (v <= m_smallestStep) {
            v = minimum() <= 0 ? 0 : m_smallestStep;
            continue;
        }
        const double decade = std::pow(10.0, std::floor(std::log10(v) - 1e-9));
        const double m = v / decade;
        v = (m > 5.001 ? 5 : m > 2.001 ? 2 : 1) * decade;
    }
    setValue(std::clamp(v, minimum(), maximum()));
    selectAll();
}

} // namespace liftlab
