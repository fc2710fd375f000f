// Data-parallel training on c10d as a user runs it: ranks started by hand (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT), by `digitlab train --nproc-per-node`, and by the real torchrun, on
// loopback with Gloo. Two ranks train the weights one process trains; only rank 0 writes; a killed
// rank or one that never comes stops the others with a message within --timeout; torchrun restarts a
// killed worker and the run resumes from its checkpoint.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "digitlab/file_io.h"
#include "digitlab/safetensors.h"
#include "distributed.h"
#include "test_support.h"

namespace digitlab {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kCli = DIGITLAB_CLI;

std::string out(const std::string& name) { return testing::output_path("dist_" + name); }

// A port for a job's store: a different one per test and run, so runs never meet.
int port_for(int test) { return 20000 + (getpid() * 7 + test * 131) % 20000; }

std::string env_for(int rank, int world, int port) {
  return "RANK=" + std::to_string(rank) + " LOCAL_RANK=" + std::to_string(rank) + " WORLD_SIZE=" + std::to_string(world) +
         " LOCAL_WORLD_SIZE=" + std::to_string(world) + " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port);
}

// seed-cnn (no batch norm, no dropout) on 2,048 MNIST images, one epoch, no augmentation: a step of
// `per_rank` images on each rank.
std::string train_args(const std::string& mnist, int per_rank, const std::string& model) {
  return "train --arch seed-cnn --data " + mnist + " --limit 2048 --val 0 --epochs 1 --augment none --batch " +
         std::to_string(per_rank) + " --out " + model;
}

double relative_difference(const Model& a, const Model& b, std::string* worst) {
  double diff = 0;
  for (const auto& [name, t] : a.params) {
    const Tensor& u = b.params.at(name);
    double d = 0, scale = 1e-12;
    for (size_t i = 0; i < t.data.size(); ++i) {
      d = std::max(d, double(std::fabs(t.data[i] - u.data[i])));
      scale = std::max(scale, double(std::fabs(u.data[i])));
    }
    if (d / scale > diff) diff = d / scale, *worst = name;
  }
  return diff;
}

// The weights of one process with batch 64, trained once for the tests that compare with it.
const Model& one_process_model(const std::string& mnist) {
  static const Model m = [&] {
    const std::string path = out("one.safetensors");
    const testing::CommandResult r = testing::run_command(kCli + " " + train_args(mnist, 64, path));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return load_model_file(path);
  }();
  return m;
}

void expect_same_weights(const Model& got, const Model& want) {
  std::string worst;
  const double diff = relative_difference(got, want, &worst);
  std::printf("[ distributed ] largest relative difference to one process: %.2g (%s)\n", diff, worst.c_str());
  // The same sums in another order (per-rank means averaged instead of one mean), amplified by Adam
  // over 32 steps (its update divides by the root of tiny second moments): measured 4.6e-5 on an
  // Intel machine of this kind and 4.2e-4 on an AMD EPYC one (another BLAS kernel, another rounding).
  EXPECT_LT(diff, 1e-3) << worst;
}

TEST(DistributedSampler, ShardsAreDisjointCoverTheDataAndHaveOneSize) {
  for (int64_t n : {1, 7, 10, 64, 1001})
    for (int world : {1, 2, 3, 4, 8}) {
      const torch::Tensor order = torch::randperm(n, torch::kInt64);
      std::multiset<int64_t> seen;
      int64_t size = -1;
      for (int rank = 0; rank < world; ++rank) {
        const torch::Tensor shard = shard_for_rank(order, rank, world);
        if (size < 0) size = shard.size(0);
        EXPECT_EQ(shard.size(0), size) << "every rank takes as many steps";
        for (int64_t i = 0; i < shard.size(0); ++i) seen.insert(shard[i].item<int64_t>());
      }
      EXPECT_EQ(size, (n + world - 1) / world);
      for (int64_t v = 0; v < n; ++v) EXPECT_GE(seen.count(v), 1u) << "image " << v << " of " << n << " is in no shard";
      EXPECT_EQ(int64_t(seen.size()), size * world);
      EXPECT_LE(int64_t(seen.size()) - n, world - 1) << "only the padding repeats";
    }
}

TEST(Distributed, TwoRanksByHandTrainTheWeightsOfOneProcessAndOnlyRankZeroWrites) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const Model& one = one_process_model(dir);
  const int port = port_for(1);
  const std::string a = out("hand-rank0.safetensors"), b = out("hand-rank1.safetensors");
  for (const std::string& f : {a, b, b + ".ckpt.safetensors", b + ".metrics.csv"}) std::remove(f.c_str());
  // The same environment torchrun would set, by hand; each rank is told to write elsewhere, so
  // what rank 1 writes would show.
  const testing::CommandResult r = testing::run_command(
      "( env " + env_for(1, 2, port) + " " + kCli + " " + train_args(dir, 32, b) + " > " + out("hand-rank1.log") +
      " 2>&1 & env " + env_for(0, 2, port) + " " + kCli + " " + train_args(dir, 32, a) + "; code=$?; wait; exit $code )");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("batch 32 per rank x 2 ranks = 64 a step"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hidden behind backward"), std::string::npos) << r.output;
  expect_same_weights(load_model_file(a), one);
  for (const std::string& f : {b, b + ".ckpt.safetensors", b + ".metrics.csv"}) EXPECT_FALSE(file_exists(f)) << f;
  EXPECT_EQ(read_file_bytes(out("hand-rank1.log")).size(), 0u) << "rank 1 prints nothing when all is well";
}

TEST(Distributed, NprocPerNodeStartsTheRanksThroughTheSameRendezvous) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const Model& one = one_process_model(dir);
  const std::string m = out("nproc.safetensors");
  const testing::CommandResult r = testing::run_command(kCli + " " + train_args(dir, 32, m) + " --nproc-per-node 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("starting 2 ranks on this host"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data-parallel: 2 ranks (gloo"), std::string::npos) << r.output;
  expect_same_weights(load_model_file(m), one);
}

bool have_torchrun() { return testing::run_command("command -v torchrun").exit_code == 0; }
// Debian's torchrun 1.13 on Python 3.11 needs its output redirected (--redirects 1 --tee 1).
std::string torchrun(const std::string& args, const std::string& logs) {
  return "torchrun --no_python --redirects 1 --tee 1 --log_dir " + logs + " " + args;
}

TEST(Distributed, UnderTorchrunAsTwoProcessesAndAsTwoNodes) {
  DIGITLAB_REQUIRE_MNIST(dir);
  if (!have_torchrun()) GTEST_SKIP() << "torchrun not installed (Debian's python3-torch; ./run setup installs it)";
  const Model& one = one_process_model(dir);
  const std::string procs = out("torchrun-procs.safetensors");
  testing::run_command("rm -rf " + out("logs"));
  const testing::CommandResult r = testing::run_command(
      torchrun("--nproc_per_node 2 --master_port " + std::to_string(port_for(2)), out("logs/procs")) + " " + kCli + " " +
      train_args(dir, 32, procs));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("torchrun's"), std::string::npos) << "joined through the agent's store: " << r.output;
  expect_same_weights(load_model_file(procs), one);

  // Two "hosts" of one process each, on loopback: node 1 started first, node 0 hosts the rendezvous.
  const std::string nodes = out("torchrun-nodes.safetensors");
  const std::string common = "--nnodes 2 --nproc_per_node 1 --master_addr 127.0.0.1 --master_port " + std::to_string(port_for(3));
  const testing::CommandResult n = testing::run_command(
      "( " + torchrun(common + " --node_rank 1", out("logs/node1")) + " " + kCli + " " + train_args(dir, 32, nodes) + " > " +
      out("node1.log") + " 2>&1 & " + torchrun(common + " --node_rank 0", out("logs/node0")) + " " + kCli + " " +
      train_args(dir, 32, nodes) + "; code=$?; wait; exit $code )");
  ASSERT_EQ(n.exit_code, 0) << n.output;
  expect_same_weights(load_model_file(nodes), one);
}

// Starts a command in the background; its output goes to log (emptied first).
pid_t start(const std::string& command, const std::string& log) {
  std::remove(log.c_str());
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", ("exec " + command + " > " + log + " 2>&1").c_str(), (char*)nullptr);
    _exit(127);
  }
  return pid;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Waits for a condition at most seconds; false if it never held.
template <typename F>
bool wait_for(F&& condition, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Distributed, AKilledRankStopsTheOtherWithAMessageWithinTheTimeout) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const int port = port_for(4), timeout = 10;
  const std::string args = "train --arch seed-cnn --data " + dir + " --limit 20000 --val 0 --epochs 3 --batch 32 --augment none " +
                           "--timeout " + std::to_string(timeout) + " --out ";
  const pid_t r1 = start("env " + env_for(1, 2, port) + " " + kCli + " " + args + out("kill-rank1.safetensors"), out("kill-rank1.log"));
  const pid_t r0 = start("env " + env_for(0, 2, port) + " " + kCli + " " + args + out("kill-rank0.safetensors"), out("kill-rank0.log"));
  // Rank 0 prints this once both ranks have joined and the data is loaded.
  ASSERT_TRUE(wait_for([&] { return read_text(out("kill-rank0.log")).find("train seed-cnn") != std::string::npos; }, 60))
      << read_text(out("kill-rank0.log"));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // well into the first epoch
  kill(r1, SIGKILL);
  const auto t0 = Clock::now();
  wait_exit(r1);
  const int code = wait_exit(r0);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string log = read_text(out("kill-rank0.log"));
  std::printf("[ distributed ] rank 0 stopped %.2f s after rank 1 was killed: %s\n", seconds, log.substr(log.rfind("error")).c_str());
  EXPECT_NE(code, 0);
  EXPECT_LT(seconds, timeout + 5.0);
  EXPECT_NE(log.find("lost the other ranks"), std::string::npos) << log;
  EXPECT_FALSE(file_exists(out("kill-rank0.safetensors")));  // no model from an unfinished run
}

TEST(Distributed, APeerThatNeverJoinsIsAClearTimeoutError) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const auto t0 = Clock::now();
  const testing::CommandResult r = testing::run_command("env " + env_for(0, 2, port_for(5)) + " " + kCli + " " +
                                                        train_args(dir, 32, out("alone.safetensors")) + " --timeout 3");
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("only 1 of 2 ranks joined the store at 127.0.0.1:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("within 3 s"), std::string::npos) << r.output;
  EXPECT_LT(seconds, 3 + 10.0);  // the timeout, plus loading MNIST and LibTorch
  // Variables that make no sense are named.
  const testing::CommandResult bad =
      testing::run_command("env RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 " + kCli + " " + train_args(dir, 32, out("bad.safetensors")));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("RANK='2'"), std::string::npos) << bad.output;
}

TEST(Distributed, TorchrunRestartsAKilledWorkerAndTheRunResumesFromItsCheckpoint) {
  DIGITLAB_REQUIRE_MNIST(dir);
  if (!have_torchrun()) GTEST_SKIP() << "torchrun not installed (Debian's python3-torch; ./run setup installs it)";
  const std::string model = out("elastic.safetensors"), ckpt = model + ".ckpt.safetensors";
  testing::run_command("rm -f " + model + "* && rm -rf " + out("logs/elastic"));
  const pid_t job = start(torchrun("--nproc_per_node 2 --max_restarts 1 --master_port " + std::to_string(port_for(6)),
                                   out("logs/elastic")) +
                              " " + kCli + " train --arch seed-cnn --data " + dir +
                              " --limit 6000 --val 0 --epochs 3 --batch 32 --augment none --timeout 10 --out " + model,
                          out("elastic.log"));
  ASSERT_TRUE(wait_for([&] { return file_exists(ckpt); }, 120)) << read_text(out("elastic.log"));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // into epoch 2
  const testing::CommandResult workers = testing::run_command("pgrep -f '^" + kCli + " train .*" + model + "'");
  ASSERT_EQ(workers.exit_code, 0) << "no worker found";
  const pid_t victim = pid_t(std::stol(workers.output.substr(workers.output.rfind('\n', workers.output.size() - 2) + 1)));
  kill(victim, SIGKILL);
  const int code = wait_exit(job);
  const std::string log = read_text(out("elastic.log"));
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("torchrun restart 1: resuming from " + ckpt), std::string::npos) << log;
  const Model m = load_model_file(model);
  EXPECT_EQ(m.provenance.at("epochs"), "3");
  const testing::CommandResult eval = testing::run_command(kCli + " eval --model " + model + " --data " + dir);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const size_t at = eval.output.find("accuracy ");
  ASSERT_NE(at, std::string::npos) << eval.output;
  EXPECT_GT(std::stod(eval.output.substr(at + 9)), 95.0) << eval.output;  // a model that works
}

TEST(Distributed, FineTuningOnTwoRanksGivesTheWeightsOfOneProcess) {
  DIGITLAB_REQUIRE_MNIST(dir);
  const std::string models = std::string(DIGITLAB_SOURCE_DIR) + "/models";
  const std::string args = "finetune --model " + models + "/seed-cnn.safetensors --samples " + models +
                           "/mnist-replay-1000-images.idx.gz " + models + "/mnist-replay-1000-labels.idx.gz --data " + dir +
                           " --epochs 1 --replay 200 --augment none --out ";
  const testing::CommandResult one = testing::run_command(kCli + " " + args + out("ft-one.safetensors") + " --batch 32");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const testing::CommandResult two =
      testing::run_command(kCli + " " + args + out("ft-two.safetensors") + " --batch 16 --nproc-per-node 2");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  expect_same_weights(load_model_file(out("ft-two.safetensors")), load_model_file(out("ft-one.safetensors")));
  EXPECT_NE(two.output.find("held-out samples"), std::string::npos) << two.output;
}

}  // namespace
}  // namespace digitlab
