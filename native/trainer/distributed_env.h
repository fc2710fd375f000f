// Where this process stands in a data-parallel job, read from the environment exactly as PyTorch's
// env:// rendezvous reads it, so `torchrun --no_python digitlab train ...` (or the same variables set
// by hand, or `digitlab train --nproc-per-node N`) starts a job. LibTorch-free: the command-line front
// end reads it too.
#pragma once
#include <string>

namespace digitlab {

struct DistributedEnv {
  bool present = false;          // RANK was set: this process is one rank of a job
  int rank = 0, world_size = 1;  // RANK, WORLD_SIZE
  int local_rank = 0;            // LOCAL_RANK (the rank on this host)
  int local_world_size = 1;      // LOCAL_WORLD_SIZE (ranks on this host: they share its cores)
  std::string master_addr = "127.0.0.1";  // MASTER_ADDR: where the TCPStore is
  int master_port = 29500;                // MASTER_PORT
  // torchrun's agent already hosts the store (TORCHELASTIC_USE_AGENT_STORE=True): every rank, rank 0
  // too, connects as a client, under the prefix /worker/attempt_<TORCHELASTIC_RESTART_COUNT>.
  bool agent_store = false;
  int restart_count = 0;         // TORCHELASTIC_RESTART_COUNT: > 0 after torchrun restarted the job
};

// Throws Error naming the variable that is missing or malformed (e.g. RANK without WORLD_SIZE, a
// rank outside the world).
DistributedEnv read_distributed_env();

}  // namespace digitlab
