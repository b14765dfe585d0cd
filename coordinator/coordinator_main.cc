// orchard-coordinator: the server that owns sweeps, trials and workers.
//
//   orchard-coordinator --listen 127.0.0.1:7070 --state-dir /var/lib/orchard
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>
#include <thread>

#include "coordinator/server.h"

namespace {
std::atomic<bool> stop_requested{false};
void RequestStop(int) { stop_requested.store(true); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orchard-coordinator: schedules an Orchard sweep's trials on workers and keeps its state in SQLite."};
  orchard::coordinator::CoordinatorOptions options;
  std::string listen = "127.0.0.1:7070";
  app.add_option("--listen", listen, "HOST:PORT to serve on (port 0: any free port)")->capture_default_str();
  app.add_option("--state-dir", options.state_dir, "Directory of the SQLite state (orchard.db)")->capture_default_str();
  app.add_option("--storage", options.storage_root,
                 "Storage root for trial output, logs and checkpoints; shared with the workers (default STATE_DIR/storage)");
  app.add_option("--heartbeat-interval", options.heartbeat_interval_seconds, "Seconds between worker heartbeats")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lease-timeout", options.lease_timeout_seconds, "Seconds of silence before a worker is declared lost")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.footer("Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failed to start, 2 bad flags.");
  CLI11_PARSE(app, argc, argv);
  if (listen.rfind("127.0.0.1:", 0) != 0 && listen.rfind("localhost:", 0) != 0 && listen.rfind("[::1]:", 0) != 0) {
    std::cerr << "orchard-coordinator: --listen " << listen
              << ": only loopback addresses are allowed until authentication is configured (serve on 127.0.0.1 and "
                 "tunnel, e.g. ssh -L)\n";
    return 2;
  }

  auto server = orchard::coordinator::CoordinatorServer::Start(listen, options);
  if (!server.ok()) {
    std::cerr << "orchard-coordinator: " << server.status().message() << "\n";
    return 1;
  }
  std::signal(SIGTERM, RequestStop);
  std::signal(SIGINT, RequestStop);
  std::cout << "orchard-coordinator listening on " << (*server)->address() << ", state in " << options.state_dir
            << "/orchard.db, storage " << (*server)->coordinator().storage_root() << std::endl;
  while (!stop_requested.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::cout << "orchard-coordinator: shutting down" << std::endl;
  (*server)->Shutdown();
  return 0;
}
