#pragma once

#include <QDoubleSpinBox>

namespace liftlab {

// A spin box for rates and decays, which span orders of magnitude: it reads
// and shows scientific notation ("1e-4", "5e-3", "0.001"), keeps the value
// as typed (no rounding to a number of decimals) and steps along 1, 2, 5,
// 10, 20, ... (from 0, up to the smallest positive value it allows).
class ScientificSpinBox : public QDoubleSpinBox
{
    Q_OBJECT

public:
    explicit ScientificSpinBox(QWidget *parent = nullptr);

    // The smallest positive value the arrows step to from 0.
    void setSmallestStep(double value) { m_smallestStep = value; }

    QString textFromValue(double value) const override;
    double valueFromText(const QString &text) const override;
    QValidator::State validate(QString &text, int &position) const override;
    void stepBy(int steps) override;

private:
    double m_smallestStep = 1e-6;
};

} // namespace liftlab
