// orchard-coordinator: the server that owns sweeps, trials and workers.
//
//   orchard-coordinator --listen 127.0.0.1:7070 --http 127.0.0.1:7071 --state-dir /var/lib/orchard
//   orchard-coordinator --listen 0.0.0.0:7070 --auth --tls-cert c.pem --tls-key k.pem --state-dir /var/lib/orchard
//   orchard-coordinator --state-dir /var/lib/orchard user add alice     # admin commands: admin_commands.h
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>
#include <thread>

#include "coordinator/server/admin_commands.h"
#include "coordinator/server/server.h"

namespace {
std::atomic<bool> stop_requested{false};
void RequestStop(int) { stop_requested.store(true); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orchard-coordinator: schedules an Orchard sweep's trials on workers and keeps its state in SQLite."};
  orchard::coordinator::CoordinatorOptions options;
  orchard::coordinator::ServerSecurity security;
  std::string listen = "127.0.0.1:7070";
  std::string http = "127.0.0.1:7071";
  app.add_option("--listen", listen, "HOST:PORT to serve on (port 0: any free port); other than loopback needs --auth")
      ->capture_default_str();
  app.add_option("--http", http,
                 "HOST:PORT of the dashboard, JSON API and /metrics (port 0: any free port; \"off\": none); other than "
                 "loopback needs --auth, and serves HTTPS with --tls-cert")
      ->capture_default_str();
  app.add_option("--state-dir", options.state_dir, "Directory of the SQLite state (orchard.db)")->capture_default_str();
  app.add_option("--storage", options.storage_root,
                 "Storage root for trial output, logs and checkpoints; shared with the workers (default STATE_DIR/storage)");
  app.add_option("--heartbeat-interval", options.heartbeat_interval_seconds, "Seconds between worker heartbeats")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lease-timeout", options.lease_timeout_seconds, "Seconds of silence before a worker is declared lost")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--auth", security.auth,
               "Require a bearer token on every call: users' tokens for the CLI, worker tokens for agents (see `user add`, "
               "`worker-token create`); also confines recipe paths to --storage and --allow-path");
  app.add_option("--tls-cert", security.tls_cert_file, "Serve TLS with this certificate chain (PEM)");
  app.add_option("--tls-key", security.tls_key_file, "Private key (PEM) of --tls-cert");
  app.add_option("--tls-client-ca", security.tls_client_ca_file,
                 "Mutual TLS: require client certificates signed by this CA (PEM)");
  app.add_option("--allow-path", options.allowed_path_roots,
                 "A directory recipes may read from besides --storage (repeatable); given at all, recipe paths "
                 "outside these roots are refused even without --auth");
  orchard::coordinator::AdminCommands admin(app);
  app.footer("Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failed to start, 2 bad flags; admin subcommands: 0 done,\n"
             "1 the state database failed, 2 bad input. Security: docs/security.md.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (auto code = admin.Run(options.state_dir)) return *code;
  options.confine_paths = security.auth || !options.allowed_path_roots.empty();

  auto server = orchard::coordinator::CoordinatorServer::Start(listen, options, security, http == "off" ? "" : http);
  if (!server.ok()) {
    std::cerr << "orchard-coordinator: " << server.status().message() << "\n";
    return server.status().code() == orchard::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (security.tls_cert_file.empty() && !orchard::coordinator::IsLoopbackAddress(listen))
    std::cerr << "orchard-coordinator: warning: without --tls-cert, tokens and data cross the network in clear text\n";
  std::signal(SIGTERM, RequestStop);
  std::signal(SIGINT, RequestStop);
  std::cout << "orchard-coordinator listening on " << (*server)->address() << (security.tls_cert_file.empty() ? "" : " (TLS)")
            << (security.auth ? " with token authentication" : "") << ", state in " << options.state_dir
            << "/orchard.db, storage " << (*server)->coordinator().storage_root() << std::endl;
  if (!(*server)->dashboard_url().empty())
    std::cout << "orchard-coordinator: dashboard at " << (*server)->dashboard_url() << std::endl;
  while (!stop_requested.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::cout << "orchard-coordinator: shutting down" << std::endl;
  (*server)->Shutdown();
  return 0;
}
