#pragma once

#include <string>

namespace liftlab {

// Writes `contents` to `path` through a temporary file in the same folder and
// a rename, so readers see either the old file or the complete new one, never
// a torn write. Throws liftlab::Error naming the path on failure and removes
// the temporary file.
void writeFileAtomically(const std::string &path, const std::string &contents);

// Renames an already written temporary file into place (same guarantees).
void commitTemporaryFile(const std::string &temporaryPath, const std::string &path);

// A fresh temporary name for `path`, in its folder (each call another).
std::string temporaryPathFor(const std::string &path);

// Whether a file or folder name is one that temporaryPathFor made: a write
// or a run creation still in progress, or one a killed process left behind.
bool isTemporaryName(const std::string &fileName);

// Removes the temporary files that writers killed mid-write left in `folder`
// (not its subfolders). Only for a folder no other process is writing.
void removeTemporaryFiles(const std::string &folder);

} // namespace liftlab
