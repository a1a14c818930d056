// The libFuzzer entry point of one target, chosen at build time
// (LIFTLAB_FUZZ_TARGET, see tests/CMakeLists.txt).

#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const liftlab::fuzz::Target &target = liftlab::fuzz::target(LIFTLAB_FUZZ_TARGET);
    return target.run(data, size);
}
