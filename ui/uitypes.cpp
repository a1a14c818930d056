#include "uitypes.h"

namespace liftlab {

QString SnapshotFrame::className(int64_t label) const
{
    if (label >= 0 && label < classNames.size())
        return classNames.at(int(label));
    return QStringLiteral("class %1").arg(label);
}

void registerUiMetaTypes()
{
    qRegisterMetaType<liftlab::TrainingStep>();
    qRegisterMetaType<QVector<liftlab::TrainingStep>>();
    qRegisterMetaType<liftlab::EvalReport>();
    qRegisterMetaType<liftlab::ExperimentConfig>();
    qRegisterMetaType<liftlab::SnapshotFrame>();
}

} // namespace liftlab
