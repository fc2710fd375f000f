#include "distributed.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef DIGITLAB_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "digitlab/error.h"

namespace digitlab {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// c10d's messages carry a C++ backtrace after the first line; a person needs the first line.
std::string first_line(const char* what) {
  std::string s(what);
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string where(const DistributedEnv& e) {
  return "rank " + std::to_string(e.rank) + " of " + std::to_string(e.world_size);
}

bool is_loopback(const std::string& addr) { return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1"; }

}  // namespace

struct Distributed::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
};

struct Distributed::PendingSum::Work {
  c10::intrusive_ptr<c10d::Work> work;
  std::string what;  // for the message if it fails
  std::chrono::seconds timeout;
};

Distributed::Distributed() = default;
Distributed::~Distributed() = default;

Distributed::Distributed(const DistributedEnv& env, const std::string& backend, std::chrono::seconds timeout,
                         torch::Device device)
    : env_(env), timeout_(timeout), group_(std::make_unique<Group>()) {
  if (backend != "auto" && backend != "gloo" && backend != "nccl")
    throw Error("--backend must be auto, gloo or nccl (got '" + backend + "')");
#ifdef DIGITLAB_HAVE_NCCL
  backend_ = backend == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : backend;
  if (backend_ == "nccl" && !device.is_cuda()) throw Error("--backend nccl needs a CUDA device (--device cuda)");
#else
  if (backend == "nccl")
    throw Error("--backend nccl: this LibTorch has no NCCL (Debian's is CPU-only); build against a CUDA LibTorch, or use --backend gloo");
  backend_ = "gloo";
#endif
  if (backend_ == "gloo" && device.is_cuda())
    throw Error("--backend gloo trains on the CPU here: pass --device cpu, or --backend nccl on CUDA");

  // The rendezvous, as env:// does it: rank 0 hosts the TCPStore and waits for the others, unless
  // torchrun's agent hosts it already (then everyone is a client, under this attempt's prefix).
  c10d::TCPStoreOptions o;
  o.port = uint16_t(env.master_port);
  o.isServer = !env.agent_store && env.rank == 0;
  o.numWorkers = size_t(env.world_size);
  o.waitWorkers = false;  // we count the ranks in ourselves (below), to say who is missing
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  const std::string at = env.master_addr + ":" + std::to_string(env.master_port);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
  } catch (const std::exception& e) {
    const std::string why = first_line(e.what());
    throw Error(where(env) + (o.isServer ? ": could not host the store on " : ": could not reach the store at ") + at +
                " within " + std::to_string(timeout.count()) + " s (" + why + ")" +
                (o.isServer ? ": is another job using MASTER_PORT?" : ": is rank 0 (or torchrun) running there?"));
  }
  if (env.agent_store)
    store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count), store);
  // Every rank counts itself in and waits for the rest, as env:// does; a rank that never comes is
  // named by the count after --timeout.
  try {
    int64_t joined = store->add("digitlab/joined", 1);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (joined < env.world_size && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      joined = store->add("digitlab/joined", 0);
    }
    if (joined < env.world_size)
      throw Error(where(env) + ": only " + std::to_string(joined) + " of " + std::to_string(env.world_size) +
                  " ranks joined the store at " + at + " within " + std::to_string(timeout.count()) + " s: start all " +
                  std::to_string(env.world_size) + " ranks with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, or raise --timeout");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(where(env) + ": lost the store at " + at + " while the ranks joined (" + first_line(e.what()) + ")");
  }
  group_->store = c10::make_intrusive<c10d::PrefixStore>("default_pg/", store);

  try {
#ifdef DIGITLAB_HAVE_NCCL
    if (backend_ == "nccl") {
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
      group_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(group_->store, env.rank, env.world_size, nccl);
      return;
    }
#endif
    auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    // Gloo needs an address the other ranks reach: GLOO_SOCKET_IFNAME names the interface (as in
    // PyTorch); on one host the loopback; otherwise the address this host's name resolves to.
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (is_loopback(env.master_addr))
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(group_->store, env.rank, env.world_size, options);
  } catch (const std::exception& e) {
    throw Error(where(env) + ": the " + backend_ + " process group did not form within " + std::to_string(timeout.count()) +
                " s (" + first_line(e.what()) + "): a rank is missing or unreachable (on several hosts, set GLOO_SOCKET_IFNAME)");
  }
}

std::vector<uint8_t> Distributed::share_from_main(const std::string& key, std::vector<uint8_t> bytes) {
  if (!group_) return bytes;
  try {
    if (is_main()) group_->store->set("share/" + key, bytes);
    else bytes = group_->store->get("share/" + key);
  } catch (const std::exception& e) {
    throw Error(where(env_) + ": could not get '" + key + "' from rank 0 within " + std::to_string(timeout_.count()) +
                " s (" + first_line(e.what()) + ")");
  }
  return bytes;
}

Distributed::PendingSum::PendingSum(PendingSum&&) noexcept = default;
Distributed::PendingSum& Distributed::PendingSum::operator=(PendingSum&&) noexcept = default;
Distributed::PendingSum::~PendingSum() {
  if (!work_) return;
  try {
    work_->work->wait();
  } catch (...) {  // a destructor must not throw; whoever needed the result called wait()
  }
}

void Distributed::PendingSum::wait() {
  if (!work_) return;
  const std::unique_ptr<Work> w = std::move(work_);
  try {
    w->work->wait();
  } catch (const std::exception& e) {
    throw Error("lost the other ranks during " + w->what + " (" + first_line(e.what()) +
                "): a rank stopped, or did not answer within --timeout " + std::to_string(w->timeout.count()) + " s");
  }
}

Distributed::PendingSum Distributed::all_reduce_sum_async(torch::Tensor tensor) {
  PendingSum p;
  if (!group_) return p;
  // One tensor per call: c10d reads a list as one tensor per device of this rank.
  std::vector<torch::Tensor> tensors{std::move(tensor)};
  p.work_ = std::make_unique<PendingSum::Work>();
  p.work_->what = "an all-reduce";
  p.work_->timeout = timeout_;
  try {
    p.work_->work = group_->pg->allreduce(tensors);
  } catch (const std::exception& e) {
    throw Error(where(env_) + ": could not start an all-reduce (" + first_line(e.what()) + ")");
  }
  return p;
}

void Distributed::all_reduce_sum(torch::Tensor tensor) {
  try {
    all_reduce_sum_async(std::move(tensor)).wait();
  } catch (const Error& e) {
    throw Error(where(env_) + ": " + e.what());
  }
}

void Distributed::broadcast_from_main(const std::vector<torch::Tensor>& tensors) {
  if (!group_) return;
  try {
    for (const torch::Tensor& t : tensors) {
      std::vector<torch::Tensor> one{t};
      group_->pg->broadcast(one)->wait();
    }
  } catch (const std::exception& e) {
    throw Error(where(env_) + ": lost the other ranks during a broadcast (" + first_line(e.what()) + ")");
  }
}

torch::Tensor shard_for_rank(const torch::Tensor& order, int rank, int world_size) {
  if (world_size <= 1) return order;
  const int64_t n = order.size(0);
  if (n == 0) return order;
  const int64_t per_rank = (n + world_size - 1) / world_size, total = per_rank * world_size;
  const torch::Tensor wrapped = torch::arange(total, torch::kInt64).remainder(n);  // pads with the first ones
  return order.index_select(0, wrapped.slice(0, rank, total, world_size).to(order.device()));
}

// ---- GradientAllReduce

struct GradientAllReduce::State {
  struct Bucket {
    torch::Tensor flat;                     // the gradients of its parameters, end to end
    std::vector<size_t> params;             // indices into params
    std::vector<int64_t> offsets;           // where each one starts in flat
    size_t pending = 0;                     // gradients still to arrive this step
    bool launched = false;
    Distributed::PendingSum sum;
  };
  Distributed& dist;
  std::vector<torch::Tensor> params;
  std::vector<unsigned> hook_ids;
  std::vector<size_t> bucket_of, slot_of;  // per parameter: its bucket and its place in it
  std::vector<bool> arrived;
  std::vector<Bucket> buckets;
  size_t next = 0;  // buckets launch in order on every rank (Gloo pairs collectives by order)
  bool armed = false;
  Stats stats;

  explicit State(Distributed& d) : dist(d) {}

  void launch_ready() {
    while (next < buckets.size() && buckets[next].pending == 0) {
      Bucket& b = buckets[next++];
      b.flat.div_(dist.world_size());  // the average, as DDP's allreduce hook computes it
      b.sum = dist.all_reduce_sum_async(b.flat);
      b.launched = true;
    }
  }

  void on_gradient(size_t i, const torch::Tensor& grad) {
    if (!armed || arrived[i]) return;
    arrived[i] = true;
    Bucket& b = buckets[bucket_of[i]];
    b.flat.narrow(0, b.offsets[slot_of[i]], params[i].numel()).copy_(grad.reshape(-1));
    --b.pending;
    launch_ready();
  }
};

GradientAllReduce::GradientAllReduce(Distributed& dist, std::vector<torch::Tensor> params, size_t bucket_bytes)
    : s_(std::make_unique<State>(dist)) {
  State& s = *s_;
  s.params = std::move(params);
  s.bucket_of.resize(s.params.size());
  s.slot_of.resize(s.params.size());
  s.arrived.assign(s.params.size(), false);
  // Reverse order: the last layer's gradients come first in backward.
  size_t bytes = 0;
  for (size_t k = s.params.size(); k-- > 0;) {
    const torch::Tensor& p = s.params[k];
    const size_t size = size_t(p.numel()) * p.element_size();
    if (s.buckets.empty() || (bytes > 0 && bytes + size > bucket_bytes)) {
      s.buckets.emplace_back();
      bytes = 0;
    }
    State::Bucket& b = s.buckets.back();
    s.bucket_of[k] = s.buckets.size() - 1;
    s.slot_of[k] = b.params.size();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + s.params[b.params.back()].numel());
    b.params.push_back(k);
    bytes += size;
  }
  for (State::Bucket& b : s.buckets) {
    const torch::Tensor& last = s.params[b.params.back()];
    b.flat = torch::zeros({b.offsets.back() + last.numel()}, last.options().requires_grad(false));
  }
  for (size_t i = 0; i < s.params.size(); ++i)
    s.hook_ids.push_back(s.params[i].register_hook([state = s_.get(), i](torch::Tensor grad) { state->on_gradient(i, grad); }));
  // The cost of one step's all-reduces with nothing to hide them behind: what overlap saves.
  std::vector<double> alone;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (State::Bucket& b : s.buckets) dist.all_reduce_sum(b.flat.zero_());
    alone.push_back(ms_since(t0));
  }
  std::sort(alone.begin(), alone.end());
  s.stats.alone_ms = alone[alone.size() / 2];
  s.stats.buckets = s.buckets.size();
}

GradientAllReduce::~GradientAllReduce() {
  for (size_t i = 0; i < s_->params.size(); ++i) s_->params[i].remove_hook(s_->hook_ids[i]);
}

void GradientAllReduce::prepare_for_backward() {
  State& s = *s_;
  for (State::Bucket& b : s.buckets) {
    b.pending = b.params.size();
    b.launched = false;
  }
  std::fill(s.arrived.begin(), s.arrived.end(), false);
  s.next = 0;
  s.armed = true;
}

void GradientAllReduce::synchronize() {
  State& s = *s_;
  if (!s.armed) throw Error("GradientAllReduce::synchronize without prepare_for_backward");
  s.armed = false;
  const auto t0 = Clock::now();
  // A parameter backward never reached (no gradient this step) counts as zeros, so every rank
  // still runs the same all-reduces.
  for (size_t i = 0; i < s.params.size(); ++i) {
    if (s.arrived[i]) continue;
    State::Bucket& b = s.buckets[s.bucket_of[i]];
    b.flat.narrow(0, b.offsets[s.slot_of[i]], s.params[i].numel()).zero_();
    --b.pending;
  }
  s.launch_ready();
  for (State::Bucket& b : s.buckets) {
    try {
      b.sum.wait();
    } catch (const Error& e) {
      throw Error("rank " + std::to_string(s.dist.rank()) + " of " + std::to_string(s.dist.world_size()) + ": " + e.what());
    }
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      torch::Tensor& p = s.params[b.params[slot]];
      const torch::Tensor avg = b.flat.narrow(0, b.offsets[slot], p.numel()).view_as(p);
      if (p.grad().defined()) p.mutable_grad().copy_(avg);
      else p.mutable_grad() = avg.clone();
    }
  }
  s.stats.exposed_ms += ms_since(t0);
  ++s.stats.steps;
}

GradientAllReduce::Stats GradientAllReduce::stats() const { return s_->stats; }

double GradientAllReduce::Stats::hidden_share() const {
  if (steps == 0 || alone_ms <= 0) return 0;
  return std::clamp(1.0 - exposed_ms / double(steps) / alone_ms, 0.0, 1.0);
}

}  // namespace digitlab
