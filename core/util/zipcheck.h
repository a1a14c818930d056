#pragma once

#include <cstddef>
#include <string>

namespace liftlab {

// Checks a zip archive as torch writes it (checkpoints) before torch reads
// it: its records are where they say, and every entry, stored or deflated,
// lies inside the file and matches the CRC-32 the directory records for it.
// torch's reader skips those checksums and parses the archive's TorchScript
// text and pickles as they come, so a damaged file could load as changed
// weights or crash it; this turns any damaged byte of an entry into
// liftlab::Error naming `path` and the `kind` of file it is ("checkpoint").
void checkZipArchive(const char *data, size_t size, const std::string &path, const std::string &kind);

// The bytes of the zip archive at `path`, checked as above; throws
// liftlab::Error when it cannot be read or the check fails.
std::string readZipArchive(const std::string &path, const std::string &kind);

} // namespace liftlab
