#pragma once

#include <string>

namespace liftlab {

// The bytes of the zip archive at `path` (a checkpoint, a TorchScript file),
// checked before torch reads them: its records are where they say, and every
// entry, stored or deflated, lies inside the file and matches the CRC-32 the
// directory records for it. torch's reader skips those checksums and parses
// the archive's TorchScript text and pickles as they come, so a damaged file
// could load as changed weights or crash it. Any damaged byte of an entry,
// or a file that cannot be read, throws liftlab::Error naming `path` and the
// `kind` of file it is ("checkpoint").
std::string readZipArchive(const std::string &path, const std::string &kind);

} // namespace liftlab
