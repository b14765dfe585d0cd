#include "worker/train/zygote.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace orchard::train {
namespace {

void Reply(const nlohmann::json& message) {
  const std::string line = message.dump() + "\n";
  // stdout is a pipe to the worker; write(2) directly so a child never inherits buffered replies.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = write(STDOUT_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// In the child: detach from the zygote's pipes, send output to the log, then run the trainer.
[[noreturn]] void RunChild(const nlohmann::json& request, const sigset_t& original_mask,
                           const std::function<int(const std::vector<std::string>&)>& run) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigprocmask(SIG_SETMASK, &original_mask, nullptr);
  const std::string log = request.value("log", "");
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = open("/dev/null", O_RDONLY);
  if (log_fd < 0 || null_fd < 0) _exit(1);
  dup2(null_fd, STDIN_FILENO);
  dup2(log_fd, STDOUT_FILENO);
  dup2(log_fd, STDERR_FILENO);
  // Held in a local: a range-for over items() of a temporary would read it after its end.
  const nlohmann::json env = request.value("env", nlohmann::json::object());
  for (const auto& [key, value] : env.items()) setenv(key.c_str(), value.get<std::string>().c_str(), 1);
  std::vector<std::string> args = request.value("args", std::vector<std::string>{});
  const int code = run(args);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  _exit(code);
}

void ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    const bool signalled = WIFSIGNALED(status);
    Reply({{"pid", pid}, {"exit_code", signalled ? -1 : WEXITSTATUS(status)}, {"signal", signalled ? WTERMSIG(status) : 0}});
  }
}

}  // namespace

int ServeZygote(const std::function<int(const std::vector<std::string>&)>& run) {
  // SIGCHLD arrives through a file descriptor, so one poll loop handles requests and exits.
  sigset_t chld, original;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &original);
  const int signal_fd = signalfd(-1, &chld, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("orchard-train --zygote: signalfd");
    return 1;
  }
  std::string pending;
  char buffer[65536];
  bool input_open = true;
  while (input_open) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info;
      (void)read(signal_fd, &info, sizeof(info));  // one read drains the coalesced signal
      ReapChildren();
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP))) continue;
    const ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
    if (n <= 0) {
      input_open = false;
      break;
    }
    pending.append(buffer, static_cast<size_t>(n));
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      nlohmann::json request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!request.is_object() || !request.contains("id")) {
        Reply({{"id", nullptr}, {"error", "not a request object: " + line.substr(0, 200)}});
        continue;
      }
      const pid_t pid = fork();
      if (pid == 0) RunChild(request, original, run);
      if (pid < 0) Reply({{"id", request["id"]}, {"error", std::string("fork failed: ") + std::strerror(errno)}});
      else Reply({{"id", request["id"]}, {"pid", pid}});
    }
  }
  // The worker stops its trainers before closing our stdin; any left die with us (PDEATHSIG).
  return 0;
}

}  // namespace orchard::train
