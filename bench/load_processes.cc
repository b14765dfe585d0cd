#include "bench/load_processes.h"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/file_tree.h"

extern "C" char** environ;

namespace orchard::bench {

namespace fs = std::filesystem;

CoordinatorProcess::CoordinatorProcess(const std::string& state_dir, int heartbeat_ms) {
  const fs::path binary = fs::read_symlink("/proc/self/exe").parent_path() / "orchard-coordinator";
  // Several missed heartbeats before a worker is lost, however slow they are set to be.
  const double heartbeat = heartbeat_ms / 1000.0, lease_timeout = std::max(15.0, 5 * heartbeat);
  std::vector<std::string> args = {binary.string(), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                   "--state-dir", state_dir, "--heartbeat-interval", std::to_string(heartbeat),
                                   "--lease-timeout", std::to_string(lease_timeout)};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("cannot make a pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (spawned != 0) throw std::runtime_error("cannot start " + binary.string());
  // Its first lines name the gRPC address and the dashboard's URL.
  output_ = fdopen(out[0], "r");
  char line[4096];
  while ((address_.empty() || url_.empty()) && std::fgets(line, sizeof line, output_)) {
    const std::string text = line;
    if (const size_t at = text.find("listening on "); at != std::string::npos)
      address_ = text.substr(at + 13, text.find_first_of(", \n", at + 13) - at - 13);
    if (const size_t at = text.find("dashboard at "); at != std::string::npos)
      url_ = text.substr(at + 13, text.find_first_of(" \n", at + 13) - at - 13);
  }
  if (address_.empty() || url_.empty()) {
    Stop();
    throw std::runtime_error(binary.string() + " did not start");
  }
}

CoordinatorProcess::~CoordinatorProcess() { Stop(); }

double CoordinatorProcess::MemoryMiB(const std::string& field) const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  return 0;
}

double CoordinatorProcess::CpuSeconds() const {
  std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
  std::string line;
  std::getline(stat, line);
  // utime and stime are the 14th and 15th fields; the 2nd (the name, in parentheses) may hold spaces.
  const size_t name_end = line.rfind(')');
  if (name_end == std::string::npos || name_end + 2 > line.size())
    throw std::runtime_error("cannot read the coordinator's CPU time from /proc/" + std::to_string(pid_) + "/stat");
  std::istringstream fields(line.substr(name_end + 2));
  std::string field;
  for (int i = 3; i <= 13; ++i) fields >> field;
  double user_ticks = 0, system_ticks = 0;
  fields >> user_ticks >> system_ticks;
  return (user_ticks + system_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void CoordinatorProcess::Stop() {
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  std::fclose(output_);
}

WriteBatches CoordinatorProcess::ReadWriteBatches() const {
  const std::string host_port = url_.substr(url_.find("//") + 2, url_.size() - url_.find("//") - 3);
  httplib::Client client(host_port.substr(0, host_port.rfind(':')), std::stoi(host_port.substr(host_port.rfind(':') + 1)));
  auto answer = client.Get("/metrics");
  WriteBatches batches;
  if (!answer || answer->status != 200) return batches;
  std::istringstream lines(answer->body);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name;
    double value = 0;
    fields >> name >> value;
    if (name == "orchard_store_writes_per_commit_sum") batches.writes = value;
    if (name == "orchard_store_writes_per_commit_count") batches.commits = value;
  }
  return batches;
}

PeerResult RunOptuna(const std::string& python, const std::string& storage, int clients, double rate, double seconds) {
  std::string dir = (fs::temp_directory_path() / "orchard-bench-optuna-XXXXXX").string();
  if (!mkdtemp(dir.data())) throw std::runtime_error("cannot create a directory like " + dir);
  const std::string command = "'" + python + "' '" + ORCHARD_SOURCE_DIR + "/bench/peer_optuna_storage.py' --storage " +
                              storage + " --clients " + std::to_string(clients) + " --rate " + std::to_string(rate) +
                              " --seconds " + std::to_string(seconds) + " --dir '" + dir + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string last;
  char line[8192];
  while (std::fgets(line, sizeof line, pipe)) last = line;
  const int status = pclose(pipe);
  RemoveTree(dir);
  if (status != 0 || last.empty()) throw std::runtime_error("the Optuna peer failed: " + command);
  const nlohmann::json answer = nlohmann::json::parse(last);
  PeerResult result;
  result.reports_per_second = answer.at("reports").get<double>() / answer.at("elapsed").get<double>();
  result.p50_ms = answer.at("p50_ms"), result.p99_ms = answer.at("p99_ms"), result.p999_ms = answer.at("p999_ms");
  result.errors = answer.at("errors"), result.first_error = answer.at("first_error");
  std::printf("optuna %s: %d clients offering %.0f reports/s: %.0f reports/s, p50 %.2f ms, p99 %.2f ms, "
              "p99.9 %.2f ms, errors %lld%s%s\n", storage.c_str(), clients, rate, result.reports_per_second,
              result.p50_ms, result.p99_ms, result.p999_ms, static_cast<long long>(result.errors),
              result.errors ? ": " : "", result.first_error.c_str());
  std::fflush(stdout);
  return result;
}

}  // namespace orchard::bench
