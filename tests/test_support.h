// Helpers shared by the test suites: where MNIST is, deterministic random data, comparisons.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "digitlab/error.h"
#include "digitlab/file_io.h"

namespace digitlab::testing {

// ../shared/data/mnist beside the repository (CI and developers), else data/mnist (./run data).
inline std::string mnist_dir() {
  const std::string candidates[] = {std::string(DIGITLAB_SOURCE_DIR) + "/../shared/data/mnist",
                                    std::string(DIGITLAB_SOURCE_DIR) + "/data/mnist"};
  for (const std::string& dir : candidates)
    if (file_exists(dir + "/t10k-images-idx3-ubyte.gz") || file_exists(dir + "/t10k-images-idx3-ubyte")) return dir;
  return "";
}

#define DIGITLAB_REQUIRE_MNIST(dir)                                                                  \
  const std::string dir = ::digitlab::testing::mnist_dir();                                         \
  if (dir.empty())                                                                                  \
    GTEST_SKIP() << "MNIST files not found in ../shared/data/mnist or data/mnist; run `./run data`";

inline std::string output_path(const std::string& name) { return std::string(DIGITLAB_TEST_OUTPUT_DIR) + "/" + name; }

struct TestRng {
  uint64_t state;
  explicit TestRng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
  float uniform(float lo = -1.f, float hi = 1.f) { return lo + (hi - lo) * float(next() >> 40) / float(1ull << 24); }
};

inline std::vector<float> random_vector(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  TestRng rng(seed | 1);
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(lo, hi);
  return v;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0.f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// max |a - b| over max |b|: a whole tensor compared "within x relative", robust to entries near 0.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 1e-12;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return diff / scale;
}

// Error messages must say what was wrong: check for a distinctive fragment.
#define EXPECT_ERROR_CONTAINS(statement, fragment)                                              \
  do {                                                                                         \
    try {                                                                                      \
      statement;                                                                               \
      ADD_FAILURE() << "expected an Error containing '" << (fragment) << "'";                  \
    } catch (const ::digitlab::Error& e) {                                                     \
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what(); \
    }                                                                                          \
  } while (0)

}  // namespace digitlab::testing
