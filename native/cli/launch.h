// `digitlab train --nproc-per-node N ...`: N ranks of the same command on this host, as `torchrun
// --no_python --nproc_per_node N` would start them with a static rendezvous on 127.0.0.1. Each child
// gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT and joins through
// the same c10d TCPStore as under torchrun (rank 0 hosts it); nothing else passes between them.
#pragma once

namespace digitlab {

// Runs the ranks and returns the job's exit code: 0 when every rank succeeded, else the first
// failure's (a rank killed by a signal counts as 128 + signal). When one rank fails the others are
// stopped (SIGTERM, then SIGKILL after grace_s), as torchrun does without restarts. argv is this
// process's command line; the --nproc-per-node option is left out of the children's.
int launch_local_ranks(int nproc, int argc, char** argv, int grace_s);

}  // namespace digitlab
