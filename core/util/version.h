#pragma once

namespace liftlab {

// LiftLab's version: the project's, plus the commit when built from git
// (packaging/version.cmake). The binaries, each run's config.json and the
// package carry it.
const char *version();

} // namespace liftlab
