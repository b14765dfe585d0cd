// The processes orchard-bench-coordinator starts beside its simulated clients: the orchard-coordinator
// under load (a process of its own, so that its memory is its own) and Optuna's storages as the peer
// (bench/peer_optuna_storage.py).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace orchard::bench {

struct WriteBatches {
  double writes = 0;   // every write since the start, set-up included
  double commits = 0;
};

// orchard-coordinator (the one next to this program) on free loopback ports, stopped with SIGTERM
// when destroyed.
class CoordinatorProcess {
 public:
  CoordinatorProcess(const std::string& state_dir, int heartbeat_ms);
  ~CoordinatorProcess();
  CoordinatorProcess(const CoordinatorProcess&) = delete;
  CoordinatorProcess& operator=(const CoordinatorProcess&) = delete;

  const std::string& address() const { return address_; }
  const std::string& dashboard_url() const { return url_; }
  // A line of /proc/PID/status in MiB: VmRSS now, VmHWM the peak.
  double MemoryMiB(const std::string& field) const;
  // The CPU time the coordinator has used so far (user and system, every thread), in seconds.
  double CpuSeconds() const;
  // The coordinator's own count of writes and commits, from its Prometheus page
  // (orchard_store_writes_per_commit); zeros when the page cannot be read.
  WriteBatches ReadWriteBatches() const;

 private:
  void Stop();

  pid_t pid_ = 0;
  FILE* output_ = nullptr;
  std::string address_, url_;
};

struct PeerResult {
  double reports_per_second = 0, p50_ms = 0, p99_ms = 0, p999_ms = 0;
  int64_t errors = 0;
  std::string first_error;
};

// bench/peer_optuna_storage.py (run by `python`) with `storage` "rdb" or "journal" and `clients`
// processes offering `rate` reports a second for `seconds`; prints its line and returns its figures.
PeerResult RunOptuna(const std::string& python, const std::string& storage, int clients, double rate, double seconds);

}  // namespace orchard::bench
