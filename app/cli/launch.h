#pragma once

#include <string>
#include <vector>

namespace liftlab::cli {

// `liftlab-cli train --nproc N`: starts N ranks of this program on this
// machine, as torchrun --standalone does: each with `args` (the command
// line without --nproc) and RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT set.
// Ctrl-C and SIGTERM are passed on to them. Returns once all have ended:
// 0 when all succeeded, else the exit status of the first that failed.
int launchLocalRanks(int ranks, const std::vector<std::string> &args);

} // namespace liftlab::cli
