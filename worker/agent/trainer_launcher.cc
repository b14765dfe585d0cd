#include "worker/agent/trainer_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

namespace orchard::worker {
namespace {

// The zygote's replies are read without trusting their shape: a malformed one is skipped.
bool IsInt(const nlohmann::json& message, const char* key) {
  return message.contains(key) && message[key].is_number_integer();
}

// fork + exec per trial; a trial of several ranks execs mpirun, which starts them as one MPI world
// on this node. A waiter thread per trainer notices its exit (without reaping it) and wakes the
// caller at once; TakeExits reaps.
class ColdLauncher final : public TrainerLauncher {
 public:
  ColdLauncher(std::string binary, std::function<void()> on_exit)
      : binary_(std::move(binary)), on_exit_(std::move(on_exit)) {}
  ~ColdLauncher() override {
    for (auto& [pid, waiter] : pids_) {
      waitpid(pid, nullptr, 0);
      waiter.join();
    }
  }

  StatusOr<int> Launch(const LaunchRequest& request) override {
    // Everything the child needs is built before fork: only async-signal-safe calls follow it.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      if (!request.env.count(entry.substr(0, entry.find('=')))) env_strings.push_back(entry);
    }
    for (const auto& [key, value] : request.env) env_strings.push_back(key + "=" + value);
    std::vector<std::string> command;
    if (request.ranks > 1) {
      command = {ORCHARD_MPIEXEC, "--oversubscribe", "-np", std::to_string(request.ranks)};
      if (geteuid() == 0) command.push_back("--allow-run-as-root");
    }
    command.push_back(binary_);
    command.insert(command.end(), request.args.begin(), request.args.end());
    std::vector<char*> argv;
    for (std::string& a : command) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int log_fd = open(request.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return FailedPrecondition("cannot open the log " + request.log_path + ": " + std::strerror(errno));
    const pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);  // a Ctrl-C at the worker's terminal is the worker's to handle, not the trainer's
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed worker takes its trainers along: no orphan keeps training
      const int null_fd = open("/dev/null", O_RDONLY);
      dup2(null_fd, STDIN_FILENO);
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(log_fd);
    if (pid < 0) return Internal(std::string("fork failed: ") + std::strerror(errno));
    std::lock_guard<std::mutex> lock(mu_);
    pids_.emplace(pid, std::thread([this, pid] {
      siginfo_t info;
      waitid(P_PID, pid, &info, WEXITED | WNOWAIT);
      on_exit_();
    }));
    return pid;
  }

  void Signal(int pid, int signal) override { kill(pid, signal); }

  std::vector<TrainerExit> TakeExits() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<TrainerExit> exits;
    for (auto it = pids_.begin(); it != pids_.end();) {
      int status = 0;
      if (waitpid(it->first, &status, WNOHANG) == it->first) {
        const bool signalled = WIFSIGNALED(status);
        exits.push_back({it->first, signalled ? -1 : WEXITSTATUS(status), signalled ? WTERMSIG(status) : 0, ""});
        it->second.join();
        it = pids_.erase(it);
      } else {
        ++it;
      }
    }
    return exits;
  }

 private:
  std::string binary_;
  std::function<void()> on_exit_;
  std::mutex mu_;
  std::map<int, std::thread> pids_;  // running trainers and their waiters; guarded by mu_
};

// One `orchard-train --zygote` child; a reader thread turns its replies into launches and exits.
class WarmLauncher final : public TrainerLauncher {
 public:
  WarmLauncher(std::string binary, bool gpu, std::function<void()> on_exit)
      : binary_(std::move(binary)), gpu_(gpu), on_exit_(std::move(on_exit)) {}
  ~WarmLauncher() override { StopZygote(); }

  void Prewarm() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (zygote_pid_ <= 0) (void)StartZygote();  // a failure shows at the first Launch, which starts it again
  }

  StatusOr<int> Launch(const LaunchRequest& request) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (zygote_pid_ <= 0) RETURN_IF_ERROR(StartZygote());
    const int64_t id = ++next_id_;
    const nlohmann::json message = {{"id", id}, {"args", request.args}, {"log", request.log_path}, {"env", request.env}};
    const std::string line = message.dump() + "\n";
    if (write(to_zygote_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return Unavailable("the warm trainer is not accepting work: " + std::string(std::strerror(errno)));
    replied_.wait_for(lock, std::chrono::seconds(30), [&] { return replies_.count(id) > 0 || zygote_pid_ <= 0; });
    auto reply = replies_.find(id);
    if (reply == replies_.end()) return Unavailable("the warm trainer did not start the trial (it exited or hung)");
    const nlohmann::json answer = reply->second;
    replies_.erase(reply);
    if (!IsInt(answer, "pid"))
      return Internal("the warm trainer could not start the trial: " +
                      (answer.contains("error") && answer["error"].is_string() ? answer["error"].get<std::string>() : "?"));
    const int pid = answer["pid"].get<int>();
    running_.insert(pid);
    return pid;
  }

  void Signal(int pid, int signal) override { kill(pid, signal); }

  std::vector<TrainerExit> TakeExits() override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(exits_, {});
  }

 private:
  Status StartZygote() {
    int in_pipe[2], out_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0)
      return Internal(std::string("pipe failed: ") + std::strerror(errno));
    const pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);  // the zygote and its trials leave the terminal's Ctrl-C to the worker
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // and die with the worker (its trials die with it in turn)
      dup2(in_pipe[0], STDIN_FILENO);
      dup2(out_pipe[1], STDOUT_FILENO);
      // On GPU slots the warm trainer loads LibTorch's CUDA library once, before it forks any trial.
      if (gpu_) execl(binary_.c_str(), binary_.c_str(), "--zygote", "--with-cuda", static_cast<char*>(nullptr));
      else execl(binary_.c_str(), binary_.c_str(), "--zygote", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (pid < 0) return Internal(std::string("fork failed: ") + std::strerror(errno));
    if (reader_.joinable()) reader_.join();
    zygote_pid_ = pid;
    to_zygote_ = in_pipe[1];
    reader_ = std::thread([this, fd = out_pipe[0], pid] { ReadReplies(fd, pid); });
    return OkStatus();
  }

  void ReadReplies(int fd, int pid) {
    std::string pending;
    char buffer[8192];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
      pending.append(buffer, static_cast<size_t>(n));
      size_t newline;
      while ((newline = pending.find('\n')) != std::string::npos) {
        const auto reply = nlohmann::json::parse(pending.substr(0, newline), nullptr, false);
        pending.erase(0, newline + 1);
        if (!reply.is_object()) continue;
        std::lock_guard<std::mutex> lock(mu_);
        if (reply.contains("id") && reply["id"].is_number_integer()) {
          replies_[reply["id"].get<int64_t>()] = reply;
          replied_.notify_all();
        } else if (IsInt(reply, "pid") && IsInt(reply, "exit_code")) {
          const int child = reply["pid"].get<int>();
          running_.erase(child);
          exits_.push_back({child, reply["exit_code"].get<int>(), IsInt(reply, "signal") ? reply["signal"].get<int>() : 0, ""});
          on_exit_();
        }
      }
    }
    close(fd);
    // The zygote is gone, and its children with it (they die with their parent).
    waitpid(pid, nullptr, 0);
    std::lock_guard<std::mutex> lock(mu_);
    for (int child : running_) exits_.push_back({child, -1, 0, "the warm trainer process exited"});
    running_.clear();
    if (zygote_pid_ == pid) {
      zygote_pid_ = 0;
      close(to_zygote_);
      to_zygote_ = -1;
    }
    replied_.notify_all();
    on_exit_();
  }

  void StopZygote() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (to_zygote_ >= 0) close(to_zygote_);  // end of input ends the zygote
      to_zygote_ = -1;
    }
    if (reader_.joinable()) reader_.join();
  }

  std::string binary_;
  bool gpu_;
  std::function<void()> on_exit_;
  std::mutex mu_;
  std::condition_variable replied_;
  int zygote_pid_ = 0;                       // guarded by mu_
  int to_zygote_ = -1;                       // guarded by mu_
  int64_t next_id_ = 0;                      // guarded by mu_
  std::map<int64_t, nlohmann::json> replies_;  // guarded by mu_
  std::set<int> running_;                    // guarded by mu_
  std::vector<TrainerExit> exits_;           // guarded by mu_
  std::thread reader_;
};

// Warm starts for one-rank trials; trials of several ranks go through mpirun (cold), since ranks
// must be started together as one MPI world.
class WarmWithGangs final : public TrainerLauncher {
 public:
  WarmWithGangs(const std::string& binary, bool gpu, std::function<void()> on_exit)
      : warm_(binary, gpu, on_exit), gangs_(binary, on_exit) {}
  void Prewarm() override { warm_.Prewarm(); }
  StatusOr<int> Launch(const LaunchRequest& request) override {
    return request.ranks > 1 ? gangs_.Launch(request) : warm_.Launch(request);
  }
  void Signal(int pid, int signal) override { kill(pid, signal); }
  std::vector<TrainerExit> TakeExits() override {
    std::vector<TrainerExit> exits = warm_.TakeExits();
    for (TrainerExit& exit : gangs_.TakeExits()) exits.push_back(std::move(exit));
    return exits;
  }

 private:
  WarmLauncher warm_;
  ColdLauncher gangs_;
};

}  // namespace

std::unique_ptr<TrainerLauncher> MakeTrainerLauncher(const std::string& trainer_binary, bool warm, bool gpu,
                                                     std::function<void()> on_exit) {
  if (warm) return std::make_unique<WarmWithGangs>(trainer_binary, gpu, std::move(on_exit));
  return std::make_unique<ColdLauncher>(trainer_binary, std::move(on_exit));
}

}  // namespace orchard::worker
