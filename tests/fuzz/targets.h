#pragma once

// The parsers LiftLab runs on files it did not write, each as a fuzz target:
// bytes in, the parser run on them, 0 out. A parser may refuse its input only
// with liftlab::Error; anything else (another exception, a crash, a sanitizer
// report, an allocation beyond libFuzzer's limit) is a finding.
//
// Targets that read several files (a dataset's annotations, a run
// directory) take them as one input, the files separated by a line "%%".

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace liftlab::fuzz {

struct Target
{
    const char *name;
    int (*run)(const uint8_t *data, size_t size);
};

const std::vector<Target> &targets();
const Target &target(const std::string &name);

} // namespace liftlab::fuzz
