#pragma once

#include <cstdint>

namespace liftlab {

// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijection of 64-bit
// words whose every output bit depends on every input bit. LiftLab's
// counter-based random streams hash (seed, step, index, ...) with it, so
// that what a thread draws does not depend on which thread draws it first;
// adding 0x9E3779B97F4A7C15 before each call steps SplitMix64's own stream.
inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

} // namespace liftlab
