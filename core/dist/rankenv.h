#pragma once

#include <functional>
#include <string>

namespace liftlab {

// Where this process stands among the processes of one distributed run, as
// the launchers describe it: torchrun (and anything that sets the same
// variables) with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT; Slurm's srun with SLURM_PROCID,
// SLURM_NTASKS and SLURM_LOCALID in a job step (SLURM_STEP_NUM_TASKS set:
// a batch script or salloc shell alone is one process). Under Slurm the
// address and port still come from MASTER_ADDR and MASTER_PORT, which the
// batch script exports.
struct RankEnvironment
{
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    int localWorldSize = 1;
    std::string masterAddr;
    int masterPort = 0;
    // torchrun's agent already hosts the store at MASTER_ADDR:MASTER_PORT
    // (TORCHELASTIC_USE_AGENT_STORE): every rank connects to it, and keys
    // go under a prefix per restart (TORCHELASTIC_RESTART_COUNT).
    bool agentStore = false;
    int restartCount = 0;

    bool distributed() const { return worldSize > 1; }
};

// The environment of this process: one process (world size 1) when neither
// launcher's variables are set. Throws liftlab::Error naming the variable
// that is malformed, out of range or missing.
RankEnvironment rankEnvironment(const std::function<const char *(const char *)> &getenv);
RankEnvironment rankEnvironment();

// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice
// for port 0), for a rendezvous of ranks on this machine. Throws
// liftlab::Error when there is none.
int freeLoopbackPort();

} // namespace liftlab
