#pragma once

#include <string>

namespace liftlab {

// Checks a MATLAB level-5 MAT-file's structure before matio reads it: every
// array holds the data its dimensions promise (matio allocates by the
// dimensions first), arrays are cells, structs, text or numbers nested at
// most 16 deep, compressed parts inflate to at most 256 MB. Throws
// liftlab::Error naming the file otherwise, and for version 4 and 7.3 (HDF5)
// files, which LiftLab does not read.
void checkMatFile(const std::string &path);

} // namespace liftlab
