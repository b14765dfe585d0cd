// A real Prometheus server scrapes a real orchard-coordinator's /metrics, and the trial count comes
// back through Prometheus's query API.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <regex>

#include "client/connection.h"
#include "orchard/v1/sweep_service.grpc.pb.h"
#include "tests/util/test_util.h"

namespace orchard {
namespace {

using testing::Process;
using testing::ReadFile;
using testing::TempDir;
using testing::WaitFor;
using testing::WriteFile;

const std::string kBin = ORCHARD_BIN_DIR;

// A loopback port free now (Prometheus cannot be asked to pick one and say which).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

TEST(PrometheusScrapeTest, PrometheusReadsTheTrialsOfARunningSweep) {
  const std::string server = "/usr/bin/prometheus";
  if (access(server.c_str(), X_OK) != 0)
    GTEST_SKIP() << server << " not installed (Debian's prometheus package; scripts/setup installs it)";
  TempDir dir;
  Process coordinator({kBin + "/orchard-coordinator", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                       "--state-dir", dir / "state"},
                      dir / "coordinator.log");
  const std::string address = testing::WaitForListenAddress(dir / "coordinator.log", 30);
  ASSERT_FALSE(address.empty()) << ReadFile(dir / "coordinator.log");
  std::smatch dashboard;
  ASSERT_TRUE(WaitFor([&] {
    const std::string log = ReadFile(dir / "coordinator.log");
    return std::regex_search(log, dashboard, std::regex("dashboard at http://(127\\.0\\.0\\.1:[0-9]+)/"));
  }, 10)) << ReadFile(dir / "coordinator.log");
  const std::string target = dashboard[1];

  // Three trials and no worker: they stay pending.
  auto stub = v1::SweepService::NewStub(client::CreateCoordinatorChannel(address, {}));
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml(
      "name: scraped\nmodel: {type: mlp, hidden: [8]}\ndata: {type: synthetic, samples: 64, features: 4, classes: 2}\n"
      "train: {steps: 5, batch_size: 8}\nsweep:\n  strategy: grid\n  parameters:\n"
      "    optimizer.lr: {values: [0.1, 0.01, 0.001]}\n");
  request.set_recipe_file("scraped.yaml");
  v1::SubmitSweepResponse submitted;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->SubmitSweep(&context, request, &submitted).ok());

  const int port = FreePort();
  WriteFile(dir / "prometheus.yml", "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: orchard\n"
                                    "    static_configs: [{targets: ['" + target + "']}]\n");
  Process prometheus({server, "--config.file=" + (dir / "prometheus.yml"), "--storage.tsdb.path=" + (dir / "tsdb"),
                      "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                     dir / "prometheus.log");
  httplib::Client api("127.0.0.1", port);
  double pending = -1;
  const std::string query = "/api/v1/query?query=orchard_trials%7Bsweep%3D%22" +
                            std::to_string(submitted.sweep().id()) + "%22%2Cstate%3D%22pending%22%7D";
  WaitFor([&] {
    auto answer = api.Get(query.c_str());
    if (!answer || answer->status != 200) return false;
    const auto body = nlohmann::json::parse(answer->body, nullptr, false);
    if (body.is_discarded() || body["data"]["result"].empty()) return false;
    pending = std::stod(body["data"]["result"][0]["value"][1].get<std::string>());
    return true;
  }, 60);
  EXPECT_EQ(pending, 3) << ReadFile(dir / "prometheus.log");
  kill(prometheus.pid(), SIGTERM);
  prometheus.Wait(30);
  kill(coordinator.pid(), SIGTERM);
  EXPECT_EQ(coordinator.Wait(30).exit_code, 0);
}

}  // namespace
}  // namespace orchard
