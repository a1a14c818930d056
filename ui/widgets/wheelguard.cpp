#include "widgets/wheelguard.h"

#include <QAbstractSlider>
#include <QAbstractSpinBox>
#include <QComboBox>
#include <QEvent>
#include <QWidget>

namespace liftlab {

namespace {

class WheelGuard : public QObject
{
public:
    using QObject::QObject;

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() == QEvent::Wheel && !static_cast<QWidget *>(watched)->hasFocus()) {
            // Not for this field: ignored, the event goes on to its parents.
            event->ignore();
            return true;
        }
        return false;
    }
};

void guard(QWidget *field)
{
    if (field->property("liftlabWheelGuard").toBool())
        return;
    field->setProperty("liftlabWheelGuard", true);
    field->setFocusPolicy(Qt::StrongFocus); // the wheel alone no longer focuses it
    field->installEventFilter(new WheelGuard(field));
}

bool takesWheel(QWidget *widget)
{
    return qobject_cast<QComboBox *>(widget) || qobject_cast<QAbstractSpinBox *>(widget)
           || qobject_cast<QAbstractSlider *>(widget);
}

} // namespace

void guardWheel(QWidget *root)
{
    if (takesWheel(root))
        guard(root);
    for (QWidget *child : root->findChildren<QWidget *>())
        if (takesWheel(child))
            guard(child);
}

} // namespace liftlab
