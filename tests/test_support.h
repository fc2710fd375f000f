// Helpers shared by the test suites: where MNIST is, deterministic random data, comparisons.
#pragma once
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "digitlab/error.h"
#include "digitlab/file_io.h"
#include "digitlab/idx.h"

namespace digitlab::testing {

// Whether this build can start threads: natively, and in a -pthread wasm build (not in the
// single-threaded one, where the threaded tests skip).
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
constexpr bool kThreadsAvailable = false;
#else
constexpr bool kThreadsAvailable = true;
#endif

inline std::string mnist_dir() { return find_mnist_dir(DIGITLAB_SOURCE_DIR); }

#define DIGITLAB_REQUIRE_MNIST(dir)                                                                  \
  const std::string dir = ::digitlab::testing::mnist_dir();                                         \
  if (dir.empty())                                                                                  \
    GTEST_SKIP() << "MNIST files not found in ../shared/data/mnist or data/mnist; run `./run data`";

// A program run as a shell user runs it: its exit code and everything it printed (stdout + stderr).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
inline CommandResult run_command(const std::string& command_line) {
  CommandResult r;
  FILE* p = popen((command_line + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

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

// Layout conversions for tests that feed XNNPACK operators (NHWC) from NCHW references.
inline std::vector<float> convert_layout(const std::vector<float>& x, int B, int C, int H, int W, bool to_nhwc) {
  std::vector<float> out(x.size());
  for (int b = 0; b < B; ++b)
    for (int c = 0; c < C; ++c)
      for (int p = 0; p < H * W; ++p) {
        const size_t nchw = (size_t(b) * C + c) * H * W + p, nhwc = (size_t(b) * H * W + p) * C + c;
        out[to_nhwc ? nhwc : nchw] = x[to_nhwc ? nchw : nhwc];
      }
  return out;
}
inline std::vector<float> nchw_to_nhwc(const std::vector<float>& x, int B, int C, int H, int W) {
  return convert_layout(x, B, C, H, W, true);
}
inline std::vector<float> nhwc_to_nchw(const std::vector<float>& x, int B, int C, int H, int W) {
  return convert_layout(x, B, C, H, W, false);
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
