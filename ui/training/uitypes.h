#pragma once

// Value types that travel from the training worker to the widgets. Each is a
// plain copy: the GUI never reaches into the trainer or its tensors.

#include "train/config.h"
#include "train/events.h"
#include "train/tuning.h"

#include <QImage>
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QVector>

namespace liftlab {

class Trainer;

// One batch distance matrix with what the heatmap needs to explain it: the
// batch's images (empty for runs opened from disk, which keep no pixels) and
// the dataset's class names (indexed by label; may be shorter than the labels).
struct SnapshotFrame
{
    DistanceSnapshot snapshot;
    QVector<QImage> images; // one per snapshot index, or empty
    QStringList classNames;

    QString className(int64_t label) const;
};

// A trainer's snapshot with the images of its batch (on the worker thread:
// the frame leaves it as a copy).
SnapshotFrame packSnapshot(const Trainer &trainer, const DistanceSnapshot &snapshot, const QStringList &classNames);

// The images of a trainer's dataset that could not be used, as
// "path: reason" lines, the first `limit` of them.
QStringList skippedImageLines(const Trainer &trainer, int limit = 1000);

// Registers the types above and the core events for queued connections.
void registerUiMetaTypes();

} // namespace liftlab

Q_DECLARE_METATYPE(liftlab::TrainingStep)
Q_DECLARE_METATYPE(liftlab::EvalReport)
Q_DECLARE_METATYPE(liftlab::ExperimentConfig)
Q_DECLARE_METATYPE(liftlab::SnapshotFrame)
Q_DECLARE_METATYPE(liftlab::TrialResult)
