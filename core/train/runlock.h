#pragma once

#include <optional>
#include <string>

namespace liftlab {

// One writer at a time: a process that trains into a run directory holds its
// lock file (RunFiles::lock) for as long as it does; a second writer is
// refused with a message naming the holder. The lock is an open-file-
// description lock on that file (fcntl F_OFD_SETLK), so the kernel releases
// it when its holder exits, however it exits: the lock of a killed process
// is taken over by the next writer. The file also says who holds it
// ("process 1234 on host"), for the messages. Readers (the Runs list,
// `eval`) never take it.
class RunLock
{
public:
    // Takes the lock of the run directory `dir`, or throws liftlab::Error
    // naming the process that holds it.
    explicit RunLock(const std::string &dir);
    ~RunLock();
    RunLock(const RunLock &) = delete;
    RunLock &operator=(const RunLock &) = delete;

    // Who holds the lock of `dir` ("process 1234 on host"), or nothing when
    // no process does.
    static std::optional<std::string> holder(const std::string &dir);

private:
    int m_fd = -1;
};

} // namespace liftlab
