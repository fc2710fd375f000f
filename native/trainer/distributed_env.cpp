#include "distributed_env.h"

#include <cstdlib>
#include <string>

#include "digitlab/error.h"

namespace digitlab {
namespace {

const char* var(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int int_var(const char* name, int lo, int hi) {
  const char* v = var(name);
  if (!v) throw Error(std::string(name) + " is not set (a data-parallel rank needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)");
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw Error(std::string(name) + "='" + v + "' is not a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return int(x);
}

}  // namespace

DistributedEnv read_distributed_env() {
  DistributedEnv e;
  if (!var("RANK")) return e;
  e.present = true;
  e.world_size = int_var("WORLD_SIZE", 1, 65536);
  e.rank = int_var("RANK", 0, e.world_size - 1);
  e.local_rank = var("LOCAL_RANK") ? int_var("LOCAL_RANK", 0, e.world_size - 1) : 0;
  e.local_world_size = var("LOCAL_WORLD_SIZE") ? int_var("LOCAL_WORLD_SIZE", 1, e.world_size) : 1;
  const char* addr = var("MASTER_ADDR");
  if (!addr) throw Error("MASTER_ADDR is not set: the address of the host whose rank 0 (or torchrun agent) hosts the store");
  e.master_addr = addr;
  e.master_port = int_var("MASTER_PORT", 1, 65535);
  const char* agent = var("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && std::string(agent) == "True";
  if (var("TORCHELASTIC_RESTART_COUNT")) e.restart_count = int_var("TORCHELASTIC_RESTART_COUNT", 0, 1 << 20);
  return e;
}

}  // namespace digitlab
