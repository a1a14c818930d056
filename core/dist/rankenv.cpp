#include "dist/rankenv.h"

#include "error.h"

#include <cstdlib>
#include <limits>

namespace liftlab {

namespace {

// A whole number in [low, high], or `fallback` when the variable is unset.
int integerVariable(const std::function<const char *(const char *)> &getenv, const char *name, int low, int high,
                    int fallback)
{
    const char *text = getenv(name);
    if (!text || !*text)
        return fallback;
    char *end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*end != '\0' || value < low || value > high)
        throw Error(std::string(name) + "=" + text + " is not a whole number from " + std::to_string(low) + " to "
                    + std::to_string(high));
    return int(value);
}

} // namespace

RankEnvironment rankEnvironment(const std::function<const char *(const char *)> &getenv)
{
    constexpr int kMaxRanks = 1 << 16;
    // torchrun's variables win over Slurm's, as in torch.distributed: a
    // torchrun started inside a Slurm allocation sets its own.
    const bool torchrun = getenv("WORLD_SIZE") != nullptr;
    const bool slurm = !torchrun && getenv("SLURM_NTASKS") != nullptr && getenv("SLURM_PROCID") != nullptr;
    RankEnvironment env;
    if (torchrun) {
        env.worldSize = integerVariable(getenv, "WORLD_SIZE", 1, kMaxRanks, 1);
        env.rank = integerVariable(getenv, "RANK", 0, env.worldSize - 1, -1);
        if (env.rank < 0)
            throw Error("WORLD_SIZE is set but RANK is not: every process of a distributed run needs its RANK");
        env.localWorldSize = integerVariable(getenv, "LOCAL_WORLD_SIZE", 1, env.worldSize, 1);
        env.localRank = integerVariable(getenv, "LOCAL_RANK", 0, env.worldSize - 1, 0);
    } else if (slurm) {
        env.worldSize = integerVariable(getenv, "SLURM_NTASKS", 1, kMaxRanks, 1);
        env.rank = integerVariable(getenv, "SLURM_PROCID", 0, env.worldSize - 1, 0);
        env.localRank = integerVariable(getenv, "SLURM_LOCALID", 0, env.worldSize - 1, 0);
    }
    if (!env.distributed())
        return env;
    const char *addr = getenv("MASTER_ADDR");
    env.masterAddr = addr ? addr : "";
    env.masterPort = integerVariable(getenv, "MASTER_PORT", 1, 65535, 0);
    if (env.masterAddr.empty() || env.masterPort == 0)
        throw Error(std::string(torchrun ? "WORLD_SIZE" : "SLURM_NTASKS") + " is " + std::to_string(env.worldSize)
                    + " but MASTER_ADDR and MASTER_PORT are not both set: they name the host of rank 0 and a free "
                      "port on it, where the processes meet");
    return env;
}

RankEnvironment rankEnvironment()
{
    return rankEnvironment([](const char *name) { return std::getenv(name); });
}

} // namespace liftlab
