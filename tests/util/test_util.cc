#include "tests/util/test_util.h"
#include "core/file_tree.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace orchard::testing {

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("orchard-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  ec = RemoveTree(path_);
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path);
}

void WriteCorpus(const std::string& path) {
  std::mt19937 rng(9);
  const char* subjects[] = {"the cat", "a dog", "the bird", "my friend"};
  const char* verbs[] = {" sees ", " likes ", " follows ", " finds "};
  const char* objects[] = {"the ball.", "a tree.", "the house.", "my hat."};
  std::string text;
  while (text.size() < 20000) {
    text += std::string(subjects[rng() % 4]) + verbs[rng() % 4] + objects[rng() % 4] + "\n";
  }
  WriteFile(path, text);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Process::Process(const std::vector<std::string>& argv, const std::string& output_file)
    : output_file_(output_file) {
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // A test that crashes must not leave its servers and workers running.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    FILE* out = std::fopen(output_file.c_str(), "w");
    if (out) ::dup2(::fileno(out), 1), ::dup2(::fileno(out), 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s failed\n", args[0]);
    ::_exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

ProcessResult Process::Wait(double timeout_seconds) {
  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      result.output = ReadFile(output_file_) + "\n[test: killed after " + std::to_string(timeout_seconds) + " s]";
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.output = ReadFile(output_file_);
  return result;
}

ProcessResult RunProcess(const std::vector<std::string>& argv, double timeout_seconds) {
  TempDir dir;
  Process p(argv, dir / "output.txt");
  return p.Wait(timeout_seconds);
}

std::string WaitForListenAddress(const std::string& log_file, double seconds) {
  static const std::regex listening("listening on (127\\.0\\.0\\.1:[0-9]+)");
  std::string address;
  WaitFor([&] {
    std::smatch match;
    const std::string log = ReadFile(log_file);
    if (!std::regex_search(log, match, listening)) return false;
    address = match[1];
    return true;
  }, seconds);
  return address;
}

namespace {
void RunOpenssl(std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/bin/openssl");
  const ProcessResult result = RunProcess(args, 60);
  if (result.exit_code != 0) throw std::runtime_error("openssl " + args[1] + " failed: " + result.output);
}
}  // namespace

void MakeCertificateAuthority(const std::string& dir, const std::string& name) {
  const std::string base = dir + "/" + name;
  RunOpenssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
              base + ".key", "-out", base + ".pem", "-days", "2", "-subj", "/CN=" + name, "-addext",
              "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
}

void MakeSignedCertificate(const std::string& dir, const std::string& ca, const std::string& name) {
  const std::string base = dir + "/" + name;
  WriteFile(base + ".ext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n");
  RunOpenssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
              base + ".key", "-out", base + ".csr", "-subj", "/CN=" + name});
  RunOpenssl({"x509", "-req", "-in", base + ".csr", "-CA", dir + "/" + ca + ".pem", "-CAkey", dir + "/" + ca + ".key",
              "-CAcreateserial", "-out", base + ".pem", "-days", "2", "-extfile", base + ".ext"});
}

}  // namespace orchard::testing
