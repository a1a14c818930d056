#pragma once

#include <QString>

class QComboBox;

namespace liftlab {

// Combo boxes whose items carry their value as item data (the text may be a
// translated title): select by value, adding it if absent; read the value.
void selectValue(QComboBox *box, const QString &value);
QString currentValue(const QComboBox *box);

} // namespace liftlab
