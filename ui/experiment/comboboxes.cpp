#include "experiment/comboboxes.h"

#include <QComboBox>

namespace liftlab {

void selectValue(QComboBox *box, const QString &value)
{
    int index = box->findData(value);
    if (index < 0)
        index = box->findText(value);
    if (index < 0) {
        box->addItem(value, value);
        index = box->count() - 1;
    }
    box->setCurrentIndex(index);
}

QString currentValue(const QComboBox *box)
{
    const QVariant data = box->currentData();
    return data.isValid() ? data.toString() : box->currentText();
}

} // namespace liftlab
