#include "launch.h"

#include "dist/rankenv.h"
#include "error.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char **environ;

namespace liftlab::cli {

namespace {

constexpr int kMaxRanks = 1024;
// The ranks' process ids, for the signal handler (lock-free atomics only).
std::array<std::atomic<pid_t>, kMaxRanks> g_ranks{};

void passOn(int signal)
{
    const int saved = errno;
    for (std::atomic<pid_t> &pid : g_ranks)
        if (const pid_t p = pid.load(); p > 0)
            kill(p, signal);
    errno = saved;
}

// The environment of rank `rank`: this process's, with the launcher's
// variables set, and torchrun's agent ones left out (the ranks meet in a
// store of their own, not in the agent's of a torchrun around this launcher).
std::vector<std::string> rankEnvironment(int rank, int ranks, const std::string &port)
{
    const std::vector<std::pair<std::string, std::string>> set{
        {"RANK", std::to_string(rank)},  {"LOCAL_RANK", std::to_string(rank)}, {"WORLD_SIZE", std::to_string(ranks)},
        {"LOCAL_WORLD_SIZE", std::to_string(ranks)}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}};
    std::vector<std::string> env;
    for (char **e = environ; *e; ++e) {
        const std::string entry = *e;
        bool replaced = entry.rfind("TORCHELASTIC_", 0) == 0;
        for (const auto &[name, value] : set)
            replaced = replaced || entry.rfind(name + "=", 0) == 0;
        if (!replaced)
            env.push_back(entry);
    }
    for (const auto &[name, value] : set)
        env.push_back(name + "=" + value);
    return env;
}

std::vector<char *> pointers(std::vector<std::string> &strings)
{
    std::vector<char *> p;
    for (std::string &s : strings)
        p.push_back(s.data());
    p.push_back(nullptr);
    return p;
}

} // namespace

int launchLocalRanks(int ranks, const std::vector<std::string> &args)
{
    if (ranks < 1 || ranks > kMaxRanks)
        throw Error("--nproc must be between 1 and " + std::to_string(kMaxRanks));
    if (liftlab::rankEnvironment().distributed())
        throw Error("--nproc starts its ranks itself: leave it out under a launcher (WORLD_SIZE or srun's "
                    "SLURM_NTASKS is set)");
    const std::string port = std::to_string(freeLoopbackPort());
    // Everything the children need, made before forking: between fork and
    // exec a child only calls what is safe there.
    std::vector<std::string> argStrings = args;
    std::vector<char *> argv = pointers(argStrings);
    std::vector<std::vector<std::string>> envStrings;
    std::vector<std::vector<char *>> envs;
    for (int r = 0; r < ranks; ++r)
        envStrings.push_back(rankEnvironment(r, ranks, port));
    for (std::vector<std::string> &e : envStrings)
        envs.push_back(pointers(e));

    std::fflush(nullptr);
    const pid_t launcher = getpid();
    struct sigaction action{}, previousInt{}, previousTerm{};
    action.sa_handler = passOn;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previousInt);
    sigaction(SIGTERM, &action, &previousTerm);
    // A signal arriving while a rank is forked waits until its pid is known.
    sigset_t block{}, old{};
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    auto restoreSignals = [&] {
        sigaction(SIGINT, &previousInt, nullptr);
        sigaction(SIGTERM, &previousTerm, nullptr);
    };
    for (int r = 0; r < ranks; ++r) {
        sigprocmask(SIG_BLOCK, &block, &old);
        const pid_t pid = fork();
        const int forkError = errno;
        if (pid == 0) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGTERM); // the ranks end with their launcher
            if (getppid() != launcher)
                _exit(1);
            sigprocmask(SIG_SETMASK, &old, nullptr);
            execve("/proc/self/exe", argv.data(), envs[size_t(r)].data());
            _exit(127);
        }
        if (pid > 0)
            g_ranks[size_t(r)].store(pid);
        sigprocmask(SIG_SETMASK, &old, nullptr);
        if (pid < 0) {
            passOn(SIGTERM);
            for (int started = 0; started < r; ++started)
                waitpid(g_ranks[size_t(started)].exchange(0), nullptr, 0);
            restoreSignals();
            throw Error("cannot start rank " + std::to_string(r) + ": " + std::strerror(forkError));
        }
    }

    // The first rank that fails ends the others, as torchrun does: they
    // would notice, but not while they wait for each other on the store.
    int result = 0;
    bool ending = false;
    std::chrono::steady_clock::time_point killAt{};
    for (int left = ranks; left > 0;) {
        // A rank that ended is seen first and reaped once its slot is
        // cleared: until then its pid cannot be reused by another process
        // that a signal passed on would reach.
        siginfo_t info{};
        if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT | (ending ? WNOHANG : 0)) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        const pid_t pid = info.si_pid;
        if (pid == 0) { // ending: the others get 30 s to stop by themselves
            if (std::chrono::steady_clock::now() > killAt)
                passOn(SIGKILL);
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        int rank = -1;
        for (int r = 0; r < ranks; ++r)
            if (g_ranks[size_t(r)].load() == pid) {
                rank = r;
                g_ranks[size_t(r)].store(0);
            }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (rank < 0)
            continue;
        --left;
        int code = 0;
        if (WIFSIGNALED(status)) {
            code = 128 + WTERMSIG(status);
            if (!ending)
                std::fprintf(stderr, "liftlab-cli: rank %d was killed by signal %d (%s)\n", rank, WTERMSIG(status),
                             strsignal(WTERMSIG(status)));
        } else if (WIFEXITED(status)) {
            code = WEXITSTATUS(status);
        }
        if (result == 0)
            result = code;
        if (code != 0 && code != 130 && !ending && left > 0) {
            ending = true;
            killAt = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            passOn(SIGTERM);
        }
    }
    restoreSignals();
    return result;
}

} // namespace liftlab::cli
