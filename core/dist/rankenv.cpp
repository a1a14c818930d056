#include "dist/rankenv.h"

#include "error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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
    // torchrun's variables win over Slurm's: a torchrun started inside a
    // Slurm allocation sets its own. Slurm's count only inside a job step
    // started by srun; a batch script has SLURM_NTASKS and SLURM_PROCID=0
    // too, and is one process.
    const bool torchrun = getenv("WORLD_SIZE") != nullptr;
    const bool slurm = !torchrun && getenv("SLURM_STEP_NUM_TASKS") != nullptr && getenv("SLURM_NTASKS") != nullptr
                       && getenv("SLURM_PROCID") != nullptr;
    RankEnvironment env;
    if (torchrun) {
        env.worldSize = integerVariable(getenv, "WORLD_SIZE", 1, kMaxRanks, 1);
        env.rank = integerVariable(getenv, "RANK", 0, env.worldSize - 1, -1);
        if (env.rank < 0)
            throw Error("WORLD_SIZE is set but RANK is not: every process of a distributed run needs its RANK");
        env.localWorldSize = integerVariable(getenv, "LOCAL_WORLD_SIZE", 1, env.worldSize, 1);
        env.localRank = integerVariable(getenv, "LOCAL_RANK", 0, env.worldSize - 1, 0);
        const char *agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
        env.agentStore = agent && std::string(agent) == "True";
        env.restartCount = integerVariable(getenv, "TORCHELASTIC_RESTART_COUNT", 0, 1 << 30, 0);
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

int freeLoopbackPort()
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        throw Error(std::string("cannot open a socket: ") + std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    const bool ok = bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0
                    && getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0;
    close(fd);
    if (!ok)
        throw Error(std::string("cannot find a free port on 127.0.0.1: ") + std::strerror(errno));
    return ntohs(address.sin_port);
}

} // namespace liftlab
