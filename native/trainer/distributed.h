// Data-parallel training on LibTorch's c10d, the engine under PyTorch's DistributedDataParallel:
// a TCPStore rendezvous (hosted by rank 0, or by torchrun's agent), a Gloo process group on CPU or
// NCCL on CUDA, and gradients all-reduced in buckets while the backward pass still runs
// (GradientAllReduce). A one-process run has a world of one: every collective is then a no-op, so
// the trainer has one code path. Only trainer sources include this header (LibTorch is slow to
// compile); c10d's own headers stay inside distributed.cpp.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "digitlab/error.h"
#include "distributed_env.h"

namespace digitlab {

class Distributed {
 public:
  Distributed();  // a world of one
  // Joins the job described by env: connects to the store and builds the process group, waiting at
  // most timeout for every rank. backend: auto (nccl on a CUDA device when this LibTorch has it, else
  // gloo), gloo or nccl. Throws Error saying who did not join, or why the backend cannot run.
  Distributed(const DistributedEnv& env, const std::string& backend, std::chrono::seconds timeout, torch::Device device);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }
  const DistributedEnv& env() const { return env_; }
  const std::string& backend() const { return backend_; }
  std::chrono::seconds timeout() const { return timeout_; }

  // Rank 0's bytes on every rank (through the store): the model to start from, an optimizer state.
  // Other ranks pass anything (ignored).
  std::vector<uint8_t> share_from_main(const std::string& key, std::vector<uint8_t> bytes);
  // The same for something only rank 0 can produce (it reads the files): rank 0 runs produce; if it
  // throws Error, every rank throws it, so a bad file stops the whole job at once with its reason.
  template <typename Produce>
  std::vector<uint8_t> share_what_main_reads(const std::string& key, Produce&& produce);
  // Sum over ranks, in place, blocking. The tensor must live on the process group's device.
  void all_reduce_sum(torch::Tensor tensor);
  // Starts a sum over ranks and returns at once; wait() (or the destructor) finishes it.
  class PendingSum {
   public:
    PendingSum() = default;
    PendingSum(PendingSum&&) noexcept;
    PendingSum& operator=(PendingSum&&) noexcept;
    ~PendingSum();
    void wait();  // throws Error if a rank was lost
    bool started() const { return work_ != nullptr; }

   private:
    friend class Distributed;
    struct Work;
    std::unique_ptr<Work> work_;
  };
  PendingSum all_reduce_sum_async(torch::Tensor tensor);
  void broadcast_from_main(const std::vector<torch::Tensor>& tensors);  // blocking, one after the other

 private:
  struct Group;
  DistributedEnv env_;
  std::string backend_ = "none";
  std::chrono::seconds timeout_{30};
  std::unique_ptr<Group> group_;
};

// Every rank's shard of one epoch's order (a permutation of the training set, the same on every
// rank): padded by wrapping around to a multiple of the world size, then every world_size-th index
// from rank on, as PyTorch's DistributedSampler does. Shards are disjoint (but for the padding) and
// cover the data; every rank gets the same number, so every rank takes the same number of steps.
template <typename Produce>
std::vector<uint8_t> Distributed::share_what_main_reads(const std::string& key, Produce&& produce) {
  std::vector<uint8_t> bytes{'o'};
  if (is_main()) {
    try {
      const std::vector<uint8_t> made = produce();
      bytes.insert(bytes.end(), made.begin(), made.end());
    } catch (const std::exception& e) {
      const std::string why = e.what();
      share_from_main(key, std::vector<uint8_t>(1, 'e'));
      share_from_main(key + "/why", std::vector<uint8_t>(why.begin(), why.end()));
      throw;
    }
  }
  bytes = share_from_main(key, std::move(bytes));
  if (bytes.empty() || bytes[0] != 'o') {
    const std::vector<uint8_t> why = share_from_main(key + "/why", {});
    throw Error("rank 0 could not start: " + std::string(why.begin(), why.end()));
  }
  bytes.erase(bytes.begin());
  return bytes;
}

torch::Tensor shard_for_rank(const torch::Tensor& order, int rank, int world_size);

// Averages gradients across ranks as backward computes them (DDP's design): parameters are grouped
// into buckets of about bucket_bytes in reverse order (the order backward produces them); a hook on
// each parameter copies its gradient into its bucket, and a full bucket starts its all-reduce at
// once, in bucket order on every rank, while backward goes on with earlier layers. synchronize()
// waits for the last ones and writes the averages into .grad before the optimizer step.
class GradientAllReduce {
 public:
  GradientAllReduce(Distributed& dist, std::vector<torch::Tensor> params, size_t bucket_bytes);
  ~GradientAllReduce();
  void prepare_for_backward();  // arms the hooks for this step's backward
  void synchronize();           // after backward: throws Error if a rank was lost

  // What the communication cost and how much of it backward hid, over the steps so far.
  struct Stats {
    int64_t steps = 0;
    size_t buckets = 0;
    double exposed_ms = 0;  // waiting for all-reduces after backward, summed over steps
    double alone_ms = 0;    // one step's all-reduces on their own (measured once, blocking)
    double hidden_share() const;  // 1 - exposed per step / alone, in [0, 1]
  };
  Stats stats() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace digitlab
