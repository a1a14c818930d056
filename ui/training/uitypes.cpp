#include "training/uitypes.h"

#include "explorer/explorercontext.h"
#include "train/trainer.h"

namespace liftlab {

QString SnapshotFrame::className(int64_t label) const
{
    if (label >= 0 && label < classNames.size())
        return classNames.at(int(label));
    return QStringLiteral("class %1").arg(label);
}

SnapshotFrame packSnapshot(const Trainer &trainer, const DistanceSnapshot &snapshot, const QStringList &classNames)
{
    SnapshotFrame frame;
    frame.snapshot = snapshot;
    frame.classNames = classNames;
    frame.images.reserve(int(snapshot.indices.size()));
    for (const int64_t index : snapshot.indices) {
        const Trainer::Image image = trainer.trainImage(index);
        frame.images.append(toQImage(image.width, image.height, image.channels, image.pixels.data()));
    }
    return frame;
}

QStringList skippedImageLines(const Trainer &trainer, int limit)
{
    QStringList lines;
    for (const SkippedImage &s : trainer.skippedImages()) {
        if (lines.size() == limit)
            break;
        lines.append(QStringLiteral("%1: %2").arg(QString::fromStdString(s.path), QString::fromStdString(s.reason)));
    }
    return lines;
}

void registerUiMetaTypes()
{
    qRegisterMetaType<liftlab::TrainingStep>();
    qRegisterMetaType<QVector<liftlab::TrainingStep>>();
    qRegisterMetaType<liftlab::EvalReport>();
    qRegisterMetaType<liftlab::ExperimentConfig>();
    qRegisterMetaType<liftlab::SnapshotFrame>();
    qRegisterMetaType<liftlab::TrialResult>();
}

} // namespace liftlab
