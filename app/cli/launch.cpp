#include "launch.h"

#include "dist/rankenv.h"
#include "error.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace liftlab::cli {

namespace {

std::vector<pid_t> g_ranks; // for the signal handler

void passOn(int signal)
{
    for (pid_t pid : g_ranks)
        if (pid > 0)
            kill(pid, signal);
}

} // namespace

int launchLocalRanks(int ranks, const std::vector<std::string> &args)
{
    if (ranks < 1 || ranks > 1024)
        throw Error("--nproc must be between 1 and 1024");
    if (std::getenv("WORLD_SIZE") || std::getenv("SLURM_NTASKS"))
        throw Error("--nproc starts its ranks itself: leave it out under a launcher (WORLD_SIZE or SLURM_NTASKS is set)");
    const std::string port = std::to_string(freeLoopbackPort());
    std::vector<char *> argv;
    for (const std::string &a : args)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);

    std::fflush(nullptr);
    g_ranks.assign(size_t(ranks), 0);
    struct sigaction action{};
    action.sa_handler = passOn;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    for (int r = 0; r < ranks; ++r) {
        const pid_t pid = fork();
        if (pid < 0) {
            passOn(SIGTERM);
            throw Error(std::string("cannot start rank ") + std::to_string(r) + ": " + std::strerror(errno));
        }
        if (pid == 0) {
            setenv("RANK", std::to_string(r).c_str(), 1);
            setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
            setenv("WORLD_SIZE", std::to_string(ranks).c_str(), 1);
            setenv("LOCAL_WORLD_SIZE", std::to_string(ranks).c_str(), 1);
            setenv("MASTER_ADDR", "127.0.0.1", 1);
            setenv("MASTER_PORT", port.c_str(), 1);
            execv("/proc/self/exe", argv.data());
            std::fprintf(stderr, "liftlab-cli: cannot start rank %d: %s\n", r, std::strerror(errno));
            _exit(127);
        }
        g_ranks[size_t(r)] = pid;
    }

    int result = 0;
    for (int left = ranks; left > 0;) {
        int status = 0;
        const pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        int rank = -1;
        for (size_t r = 0; r < g_ranks.size(); ++r)
            if (g_ranks[r] == pid) {
                rank = int(r);
                g_ranks[r] = 0;
            }
        if (rank < 0)
            continue;
        --left;
        int code = 0;
        if (WIFSIGNALED(status)) {
            std::fprintf(stderr, "liftlab-cli: rank %d was killed by signal %d (%s)\n", rank, WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
            code = 128 + WTERMSIG(status);
        } else if (WIFEXITED(status)) {
            code = WEXITSTATUS(status);
        }
        if (result == 0)
            result = code;
    }
    action.sa_handler = SIG_DFL;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    g_ranks.clear();
    return result;
}

} // namespace liftlab::cli
