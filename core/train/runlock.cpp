#include "train/runlock.h"

#include "error.h"
#include "train/rundirectory.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace liftlab {

namespace {

flock wholeFile(short type)
{
    flock lock{};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 0; // to the end, however long
    return lock;
}

std::string contents(int fd)
{
    std::string text;
    char buffer[256];
    ssize_t n;
    for (off_t at = 0; (n = pread(fd, buffer, sizeof buffer, at)) > 0; at += n)
        text.append(buffer, size_t(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text.empty() ? "another process" : text;
}

std::string thisProcess()
{
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return "process " + std::to_string(getpid()) + " on " + host;
}

} // namespace

RunLock::RunLock(const std::string &dir)
{
    const std::string path = RunFiles(dir).lock();
    m_fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0)
        throw fileError(path, std::string("cannot open the run's lock file (") + std::strerror(errno) + ")");
    flock lock = wholeFile(F_WRLCK);
    if (fcntl(m_fd, F_OFD_SETLK, &lock) != 0) {
        const int error = errno;
        const std::string holder = contents(m_fd);
        close(m_fd);
        if (error == EAGAIN || error == EACCES)
            throw Error("run " + dir + " is being trained by " + holder
                        + "; only one process may train a run at a time (wait for it to end, or stop it)");
        throw fileError(path, std::string("cannot lock the run (") + std::strerror(error) + ")");
    }
    // The holder's name is for messages only: the lock holds even where it cannot be written.
    const std::string me = thisProcess() + "\n";
    if (ftruncate(m_fd, 0) == 0)
        (void)!pwrite(m_fd, me.data(), me.size(), 0);
}

RunLock::~RunLock()
{
    if (m_fd >= 0) {
        // Emptied before it is released: a reader never names a holder that left.
        (void)!ftruncate(m_fd, 0);
        close(m_fd);
    }
}

std::optional<std::string> RunLock::holder(const std::string &dir)
{
    const int fd = open(RunFiles(dir).lock().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    flock probe = wholeFile(F_RDLCK); // conflicts with the holder's write lock only
    const bool held = fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    std::optional<std::string> who;
    if (held)
        who = contents(fd);
    close(fd);
    return who;
}

} // namespace liftlab
