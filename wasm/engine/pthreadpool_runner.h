// A TaskRunner on a pthreadpool: the pool XNNPACK's operators run on, so that in the -pthread worker
// module the training products (task_runner.h) and the engine's inference share one set of threads.
// Each wasm pool thread is a Web Worker with its own instance; two pools would need twice as many,
// and on a busy machine their spinning would compete for the same cores.
#pragma once
#include <cstddef>
#include <functional>

#include "task_runner.h"
#include "xnn_support.h"

namespace digitlab {

class PthreadpoolRunner : public TaskRunner {
 public:
  // threads - 1 pool threads (the caller takes tasks too). Throws std::system_error where they cannot
  // start (a wasm build without -pthread, or a pthread pool with no worker left).
  explicit PthreadpoolRunner(int threads);
  ~PthreadpoolRunner() override;
  PthreadpoolRunner(const PthreadpoolRunner&) = delete;
  PthreadpoolRunner& operator=(const PthreadpoolRunner&) = delete;

  int threads() const override { return threads_; }
  void run(size_t n, const std::function<void(size_t)>& task) override;
  pthreadpool_t pool() const { return pool_; }  // for set_xnn_threadpool()
  // Puts the pool's threads to sleep now. After each run they spin a while (up to 1e6 checks) in
  // case another run follows, which is right within a session but takes the cores from anything
  // else that runs next: engine_bench calls this between the pools it times in turns.
  void rest();

 private:
  pthreadpool_t pool_ = nullptr;
  int threads_ = 1;
};

// Sets the XNNPACK pool for as long as it lives, then puts the previous one back.
class ScopedXnnThreadpool {
 public:
  explicit ScopedXnnThreadpool(pthreadpool_t pool) : previous_(xnn_threadpool()) { set_xnn_threadpool(pool); }
  ~ScopedXnnThreadpool() { set_xnn_threadpool(previous_); }
  ScopedXnnThreadpool(const ScopedXnnThreadpool&) = delete;
  ScopedXnnThreadpool& operator=(const ScopedXnnThreadpool&) = delete;

 private:
  pthreadpool_t previous_;
};

}  // namespace digitlab
