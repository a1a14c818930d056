#include "shell/workspace.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

namespace liftlab {

QString defaultWorkspace()
{
    const QString fromEnvironment = qEnvironmentVariable("LIFTLAB_WORKSPACE");
    if (!fromEnvironment.isEmpty())
        return QDir(fromEnvironment).absolutePath();
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) + QStringLiteral("/LiftLab/runs");
}

QString newRunPath(const QString &workspace, const QString &loss)
{
    const QString base = QDir(workspace).filePath(
        loss + QLatin1Char('-') + QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-hhmmss")));
    QString path = base;
    for (int n = 2; QFileInfo::exists(path); ++n)
        path = base + QLatin1Char('-') + QString::number(n);
    return path;
}

} // namespace liftlab
