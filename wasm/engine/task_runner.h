// How the training products spread over threads. A caller cuts its work into tasks by a fixed rule
// (a function of the shapes only, never of the thread count), each task writes outputs no other task
// touches and computes them in the same order as a serial run would, so a product is bit-for-bit
// the same on 1, 2 or 16 threads. TrainWorkspace carries the runner to matmul() and the layers.
//
// ThreadPoolRunner is std::thread based: natively (the tests that link LibTorch cannot link
// pthreadpool, which Debian's LibTorch also exports) and in a -pthread wasm build. The engine's
// XNNPACK operators run on a pthreadpool of their own sizing (xnn_support.h).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace digitlab {

class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  virtual int threads() const = 0;  // the caller's thread included
  // Runs task(i) for every i in [0, n), in any order and on any of the threads; returns when all are
  // done. The first exception a task throws is rethrown here (the others still run).
  virtual void run(size_t n, const std::function<void(size_t)>& task) = 0;
};

// threads - 1 workers that sleep between runs; the calling thread takes tasks too.
class ThreadPoolRunner : public TaskRunner {
 public:
  explicit ThreadPoolRunner(int threads);  // clamped to [1, 64]; 1 runs everything on the caller
  ~ThreadPoolRunner() override;
  ThreadPoolRunner(const ThreadPoolRunner&) = delete;
  ThreadPoolRunner& operator=(const ThreadPoolRunner&) = delete;

  int threads() const override { return int(workers_.size()) + 1; }
  void run(size_t n, const std::function<void(size_t)>& task) override;

 private:
  void work_loop();
  bool take_and_run();  // one task of the current run; false when none is left

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(size_t)>* task_ = nullptr;
  size_t next_ = 0, count_ = 0, finished_ = 0;
  uint64_t generation_ = 0;  // counts runs, so a worker never joins one twice
  std::atomic<uint64_t> published_{0};  // generation_, readable without the mutex (the spin)
  static constexpr int kSpinChecks = 2000;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace digitlab
