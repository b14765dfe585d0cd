// A coordinator holding one big finished sweep, serving its dashboard, for bench/dashboard_render.py:
// T trials of a random sweep over three hyperparameters (one log-uniform, one categorical), each with
// P points of val_loss and of train_loss, written through the Coordinator as workers would report
// them. Prints "dashboard: URL sweep: ID" and serves until its standard input closes.
//
//   build/bin/orchard-bench-dashboard-data [--trials 1000] [--points 200]
#include <stdlib.h>

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>

#include "bench/must.h"
#include "coordinator/server/http_server.h"
#include "core/file_tree.h"

namespace {

namespace fs = std::filesystem;
using orchard::bench::Must;
using orchard::coordinator::Coordinator;

int Serve(int trials, int points) {
  std::string state_dir = (fs::temp_directory_path() / "orchard-bench-dashboard-XXXXXX").string();
  if (!mkdtemp(state_dir.data())) throw std::runtime_error("cannot create a directory like " + state_dir);
  orchard::coordinator::CoordinatorOptions options;
  options.state_dir = state_dir;
  auto coordinator = Must(Coordinator::Open(options), "open the coordinator");

  orchard::v1::SubmitSweepRequest submit;
  submit.set_recipe_yaml("name: big\nmodel: {type: mlp, hidden: [8]}\n"
                         "data: {type: synthetic, samples: 64, features: 4, classes: 2}\n"
                         "train: {steps: " + std::to_string(points * 10) + ", batch_size: 8}\n"
                         "sweep:\n  strategy: random\n  max_trials: " + std::to_string(trials) + "\n"
                         "  parameters:\n    optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n"
                         "    optimizer.weight_decay: {distribution: uniform, min: 0.0, max: 0.1}\n"
                         "    model.hidden: {values: [[32], [64, 64], [128, 128]]}\n");
  submit.set_recipe_file("bench/dashboard_data.yaml");
  const orchard::v1::Sweep sweep = Must(coordinator->Submit(submit), "submit");
  orchard::v1::RegisterWorkerRequest worker;
  worker.set_hostname("bench");
  worker.set_slots(trials);
  worker.set_slot_kind("cpu");
  const std::string worker_id = Must(coordinator->RegisterWorker(worker), "register").worker_id();
  orchard::v1::LeaseAttemptsRequest lease;
  lease.set_worker_id(worker_id);
  lease.set_free_slots(trials);
  const auto leased = Must(coordinator->LeaseAttempts(lease), "lease");
  std::mt19937_64 random(7);
  std::normal_distribution<double> noise(0, 0.01);
  for (const orchard::v1::Attempt& attempt : leased.attempts()) {
    orchard::v1::ReportMetricsRequest report;
    report.set_attempt_id(attempt.attempt_id());
    report.set_token(attempt.token());
    const double floor = 0.1 + 0.5 * std::uniform_real_distribution<double>(0, 1)(random);
    for (int p = 1; p <= points; ++p) {
      for (const char* name : {"val_loss", "train_loss"}) {
        auto* point = report.add_points();
        point->set_step(p * 10);
        point->set_name(name);
        point->set_value(floor + 2.0 / (1 + p * 0.1) + noise(random));
        point->set_time(1.8e9 + p);
      }
    }
    Must(coordinator->ReportMetrics(report), "report");
    orchard::v1::ReportAttemptExitRequest exit;
    exit.set_worker_id(worker_id);
    exit.set_attempt_id(attempt.attempt_id());
    exit.set_exit_code(0);
    if (auto ended = coordinator->ReportAttemptExit(exit); !ended.ok()) throw std::runtime_error(ended.message());
  }
  auto http = Must(orchard::coordinator::HttpServer::Start("127.0.0.1:0", *coordinator, nullptr, {}, nullptr), "serve");
  std::printf("dashboard: %s sweep: %lld\n", http->url().c_str(), static_cast<long long>(sweep.id()));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  http->Shutdown();
  orchard::RemoveTree(state_dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A coordinator with one big finished sweep, serving its dashboard until standard input closes."};
  int trials = 1000, points = 200;
  app.add_option("--trials", trials, "Trials in the sweep")->check(CLI::Range(1, 100000));
  app.add_option("--points", points, "Points of each of two metrics per trial")->check(CLI::Range(1, 4000));
  CLI11_PARSE(app, argc, argv);
  try {
    return Serve(trials, points);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "orchard-bench-dashboard-data: %s\n", error.what());
    return 1;
  }
}
