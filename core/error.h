#pragma once

#include <atomic>
#include <stdexcept>
#include <string>

namespace liftlab {

// A problem the user can cause and fix: a missing folder, a corrupt file, a bad
// option. The message names the file or option and what is wrong with it; the
// CLI prints it on one line and exits with code 2, the GUI shows it in a dialog.
class Error : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

// Training stopped because the loss stopped being finite: a setting the
// user chose (a learning rate too high), not a broken file.
class Diverged : public Error
{
public:
    using Error::Error;
};

// Thrown from inside a long computation (an evaluation) once the cancel flag
// it was given is set; whoever set the flag catches it. Not an Error: nothing
// went wrong.
class Cancelled : public std::exception
{
public:
    const char *what() const noexcept override { return "cancelled"; }
};

inline void throwIfCancelled(const std::atomic<bool> *cancel)
{
    if (cancel && cancel->load())
        throw Cancelled();
}

// Prefixes a message with the file it is about: "path: problem".
inline Error fileError(const std::string &path, const std::string &problem)
{
    return Error(path + ": " + problem);
}

} // namespace liftlab
