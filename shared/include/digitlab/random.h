// splitmix64: a tiny generator whose stream is identical under g++, clang and emcc (std::
// distributions are not), so initialisation, dropout masks and shuffles match natively and in wasm.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace digitlab {

inline uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Fisher-Yates with splitmix64 (the same order on every platform for the same state).
template <typename T>
void shuffle(std::vector<T>& v, uint64_t& state) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[splitmix64_next(state) % i]);
}

}  // namespace digitlab
