// The worker's one pool (pthreadpool_runner.h): the training products' TaskRunner on the pthreadpool
// that XNNPACK's operators run on. Every task runs once and a task's error reaches the caller; the
// engine's batch inference on the pool gives the same logits, bit for bit, as on the calling thread
// (XNNPACK splits an operator's outputs among threads, never a sum). Natively and in the -pthread
// wasm build; the single-threaded wasm build cannot start threads and says so.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "digitlab/presets.h"
#include "pthreadpool_runner.h"
#include "test_support.h"
#include "xnn_engine.h"

namespace digitlab {
namespace {

constexpr bool kSingleThreadedBuild =
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
    true;
#else
    false;
#endif

TEST(PthreadpoolRunner, RunsEveryTaskOnceAndReturnsATasksError) {
  if (kSingleThreadedBuild) {
    EXPECT_THROW(PthreadpoolRunner(2), std::system_error);
    EXPECT_EQ(PthreadpoolRunner(1).threads(), 1);
    GTEST_SKIP() << "this wasm build is single-threaded";
  }
  for (int threads : {1, 2, 4}) {
    PthreadpoolRunner pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    EXPECT_EQ(pool.pool() == nullptr, threads == 1);
    std::vector<std::atomic<int>> runs(1000);
    pool.run(runs.size(), [&](size_t i) { ++runs[i]; });
    for (size_t i = 0; i < runs.size(); ++i) ASSERT_EQ(runs[i].load(), 1) << "task " << i << " on " << threads << " threads";
    std::atomic<int> ran{0};
    EXPECT_THROW(pool.run(50, [&](size_t i) {
      ++ran;
      if (i == 17) throw std::runtime_error("task 17 failed");
    }), std::runtime_error);
    EXPECT_EQ(ran.load(), 50) << "the other tasks still run";
    pool.run(0, [](size_t) { FAIL() << "no task to run"; });
  }
}

TEST(PthreadpoolRunner, EngineInferenceOnThePoolIsBitForBitTheSame) {
  if (kSingleThreadedBuild) GTEST_SKIP() << "this wasm build is single-threaded";
  for (const char* name : {"seed-cnn", "digitlab-cnn"}) {
    const Model m = init_model(preset(name), 7);
    XnnEngine engine(m);
    const int batch = 64;
    const std::vector<float> pixels = testing::random_vector(size_t(batch) * 784, 11, 0.f, 1.f);
    const std::vector<float> alone = engine.forward(pixels.data(), batch);
    for (int threads : {2, 4}) {
      PthreadpoolRunner pool(threads);
      const ScopedXnnThreadpool scope(pool.pool());
      EXPECT_EQ(xnn_threadpool(), pool.pool());
      const std::vector<float> shared = engine.forward(pixels.data(), batch);
      ASSERT_EQ(shared.size(), alone.size());
      EXPECT_EQ(0, std::memcmp(shared.data(), alone.data(), alone.size() * sizeof(float))) << name << " on " << threads << " threads";
    }
    EXPECT_EQ(xnn_threadpool(), nullptr) << "the scope puts the previous pool back";
  }
}

}  // namespace
}  // namespace digitlab
