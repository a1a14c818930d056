#pragma once

#include <QString>

namespace liftlab {

// Where the GUI keeps its runs: $LIFTLAB_WORKSPACE if set (tests, several
// workspaces), else ~/.local/share/LiftLab/runs (the generic data location).
QString defaultWorkspace();

// A fresh run folder in `workspace`: <loss>-<yyyyMMdd-hhmmss>, with a
// numeric suffix if that exists already. Does not create it.
QString newRunPath(const QString &workspace, const QString &loss);

} // namespace liftlab
