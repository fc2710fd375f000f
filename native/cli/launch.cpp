#include "launch.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "digitlab/error.h"

namespace digitlab {
namespace {

// A port nobody listens on now (the OS picks it); rank 0 binds it a moment later.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("cannot open a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw Error("cannot find a free port on 127.0.0.1 for the ranks' store");
  }
  close(fd);
  return ntohs(a.sin_port);
}

std::vector<pid_t> g_children;
void forward_signal(int sig) {
  for (pid_t p : g_children)
    if (p > 0) kill(p, sig);
}

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

int launch_local_ranks(int nproc, int argc, char** argv, int grace_s) {
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--nproc-per-node") {
      ++i;  // and its value
      continue;
    }
    if (a.rfind("--nproc-per-node=", 0) == 0) continue;
    args.push_back(a);
  }
  const char* port_env = std::getenv("MASTER_PORT");
  const std::string port = port_env && *port_env ? port_env : std::to_string(free_port());
  std::fprintf(stderr, "starting %d ranks on this host (store on 127.0.0.1:%s)\n", nproc, port.c_str());
  std::fflush(stderr);

  g_children.assign(size_t(nproc), -1);
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) throw Error("cannot start rank " + std::to_string(rank) + ": fork failed");
    if (pid == 0) {
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", port.c_str(), 1);
      std::vector<char*> cargs;
      for (std::string& a : args) cargs.push_back(a.data());
      cargs.push_back(nullptr);
      execv("/proc/self/exe", cargs.data());
      std::fprintf(stderr, "rank %d: cannot run %s: %s\n", rank, args[0].c_str(), std::strerror(errno));
      _exit(127);
    }
    g_children[size_t(rank)] = pid;
  }
  signal(SIGINT, forward_signal);
  signal(SIGTERM, forward_signal);

  int result = 0, running = nproc;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  bool killed = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == 0) {  // nobody exited yet
      if (!killed && std::chrono::steady_clock::now() >= stop_deadline) {
        forward_signal(SIGKILL);
        killed = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (pid < 0) break;
    int rank = 0;
    while (rank < nproc && g_children[size_t(rank)] != pid) ++rank;
    if (rank == nproc) continue;
    g_children[size_t(rank)] = -1;
    --running;
    const int code = exit_code_of(status);
    if (code != 0 && result == 0) {
      result = code;
      std::fprintf(stderr, "rank %d %s %d: stopping the other ranks\n", rank,
                   WIFEXITED(status) ? "exited with code" : "was killed by signal", WIFEXITED(status) ? code : WTERMSIG(status));
      forward_signal(SIGTERM);
      stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace_s);
    }
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return result;
}

}  // namespace digitlab
