// Helpers for Orchard's tests: temporary directories and real child processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace orchard::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void WriteFile(const std::string& path, const std::string& contents);
std::string ReadFile(const std::string& path);
// About 20 kB of generated English-like lines (a fixed seed), for the text data of transformer tests.
void WriteCorpus(const std::string& path);

struct ProcessResult {
  int exit_code = -1;   // -1 if killed by a signal
  int signal = 0;
  std::string output;   // stdout and stderr together
};

// A running child process whose stdout and stderr go to a file.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& output_file);
  ~Process();  // kills the child if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Waits up to `timeout_seconds`; kills the child (and fails the wait) when it runs over.
  ProcessResult Wait(double timeout_seconds);

 private:
  pid_t pid_ = -1;
  std::string output_file_;
};

// Runs `argv` to completion (at most `timeout_seconds`).
ProcessResult RunProcess(const std::vector<std::string>& argv, double timeout_seconds = 300);

// Waits until `predicate` holds, polling every 100 ms; false after `seconds`.
template <typename Predicate>
bool WaitFor(Predicate predicate, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return predicate();
}

// The address an orchard-coordinator started with --listen 127.0.0.1:0 printed to `log_file`
// ("listening on 127.0.0.1:PORT"); empty when it did not within `seconds`.
std::string WaitForListenAddress(const std::string& log_file, double seconds);

// Test certificates made with the openssl command (P-256 keys, valid two days); throws when it fails.
// A certificate authority: DIR/NAME.pem and DIR/NAME.key.
void MakeCertificateAuthority(const std::string& dir, const std::string& name);
// A certificate for 127.0.0.1 and localhost, for servers and clients alike, signed by the
// authority `ca` of the same directory: DIR/NAME.pem and DIR/NAME.key.
void MakeSignedCertificate(const std::string& dir, const std::string& ca, const std::string& name);

}  // namespace orchard::testing
