// The coordinator's HTTP listener on loopback with authentication: the JSON API's answers, who may
// see what, bad input, live events, /metrics (checked by promtool when installed) and the report.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <thread>

#include "tests/coordinator/server/security_fixture.h"

namespace orchard::coordinator {
namespace {

using nlohmann::json;

class HttpTest : public AuthTest {
 protected:
  void SetUp() override {
    AuthTest::SetUp();
    server_.reset();
    auto started = CoordinatorServer::Start("127.0.0.1:0", options_, WithAuth(), "127.0.0.1:0");
    ASSERT_TRUE(started.ok()) << started.status().message();
    server_ = std::move(started).value();
    const std::string url = server_->dashboard_url();  // "http://127.0.0.1:PORT/"
    port_ = std::stoi(url.substr(url.rfind(':') + 1));
  }

  // Alice's sweep with its first trial running on a worker that reported two points of val_loss.
  int64_t SweepWithMetrics() {
    const int64_t sweep = Submit(alice_);
    Coordinator& coordinator = server_->coordinator();
    v1::RegisterWorkerRequest worker;
    worker.set_hostname("host");
    worker.set_slots(1);
    worker.set_slot_kind("cpu");
    const std::string worker_id = coordinator.RegisterWorker(worker).value().worker_id();
    v1::LeaseAttemptsRequest lease;
    lease.set_worker_id(worker_id);
    lease.set_free_slots(1);
    attempt_ = coordinator.LeaseAttempts(lease).value().attempts(0);
    for (int64_t step : {10, 20}) EXPECT_TRUE(Report(step, 1.0 / step).ok());
    return sweep;
  }

  StatusOr<v1::ReportMetricsResponse> Report(int64_t step, double value) {
    v1::ReportMetricsRequest report;
    report.set_attempt_id(attempt_.attempt_id());
    report.set_token(attempt_.token());
    auto* point = report.add_points();
    point->set_step(step);
    point->set_name("val_loss");
    point->set_value(value);
    return server_->coordinator().ReportMetrics(report);
  }

  httplib::Client Client() {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10, 0);
    return client;
  }

  // GET `path` with `who`'s bearer token (none when null): the status and the body.
  std::pair<int, std::string> Get(const std::string& path, const IssuedToken* who) {
    httplib::Headers headers;
    if (who != nullptr) headers.emplace("Authorization", "Bearer " + who->token);
    auto result = Client().Get(path.c_str(), headers);
    if (!result) return {0, "no answer: " + httplib::to_string(result.error())};
    return {result->status, result->body};
  }

  json GetJson(const std::string& path, const IssuedToken& who) {
    auto [status, body] = Get(path, &who);
    EXPECT_EQ(status, 200) << path << ": " << body;
    return json::parse(body, nullptr, false);
  }

  int port_ = 0;
  v1::Attempt attempt_;
};

TEST_F(HttpTest, AnswersEveryEndpointWithTheSweepsData) {
  const int64_t sweep = SweepWithMetrics();
  const std::string base = "/api/sweeps/" + std::to_string(sweep);
  const std::string trial = "/api/trials/" + std::to_string(attempt_.trial_id());

  EXPECT_EQ(GetJson("/api/whoami", alice_), json({{"user", "alice"}, {"admin", false}, {"auth", true}}));
  const json sweeps = GetJson("/api/sweeps", alice_);
  ASSERT_EQ(sweeps["sweeps"].size(), 1u);
  EXPECT_EQ(sweeps["sweeps"][0]["id"], std::to_string(sweep));  // int64 as a string, proto3's JSON
  EXPECT_EQ(GetJson(base, alice_)["state"], "SWEEP_RUNNING");
  EXPECT_EQ(GetJson(base + "/trials", alice_)["trials"].size(), 2u);
  const json first_page = GetJson(base + "/trials?page_size=1", alice_);
  ASSERT_EQ(first_page["trials"].size(), 1u);
  const std::string token = first_page.value("next_page_token", "");
  ASSERT_FALSE(token.empty()) << first_page;
  const json last_page = GetJson(base + "/trials?page_size=1&page_token=" + token, alice_);
  ASSERT_EQ(last_page["trials"].size(), 1u);
  EXPECT_EQ(last_page["trials"][0]["number"], "1");
  EXPECT_EQ(last_page["next_page_token"], "") << "the last page says so";

  const json metrics = GetJson(base + "/metrics", alice_);
  EXPECT_EQ(metrics["metric"], "val_loss");
  EXPECT_EQ(metrics["names"], json({"val_loss"}));
  ASSERT_EQ(metrics["series"].size(), 1u);
  EXPECT_EQ(metrics["series"][0]["trial_id"], attempt_.trial_id());
  EXPECT_EQ(metrics["series"][0]["points"], json({{10, 0.1}, {20, 0.05}}));
  EXPECT_EQ(GetJson(base + "/metrics?name=train_loss", alice_)["series"].size(), 0u);

  const json parameters = GetJson(base + "/parameters", alice_)["parameters"];
  ASSERT_EQ(parameters.size(), 1u);
  EXPECT_EQ(parameters[0]["path"], "optimizer.lr");
  EXPECT_EQ(parameters[0]["scale"], "categorical");
  EXPECT_EQ(parameters[0]["values"], json({"0.1", "0.01"}));
  const json importance = GetJson(base + "/importance", alice_);
  EXPECT_EQ(importance["samples"], 0);  // no trial has ended yet, and the answer says so
  EXPECT_NE(importance["method"].get<std::string>().find("Too few trials"), std::string::npos) << importance;
  EXPECT_EQ(importance["parameters"], json::array());
  const json cost = GetJson(base + "/cost", alice_);
  EXPECT_EQ(cost["trial_steps"], 20);
  EXPECT_GE(cost["slot_seconds"].get<double>(), 0.0);
  EXPECT_FALSE(GetJson(base + "/events?after=0", alice_)["events"].empty());

  EXPECT_EQ(GetJson(trial, alice_)["state"], "TRIAL_RUNNING");
  EXPECT_EQ(GetJson(trial + "/metrics", alice_)["points"].size(), 2u);
  const json attempts = GetJson(trial + "/attempts", alice_)["attempts"];
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0]["state"], "running");
  EXPECT_EQ(GetJson(trial + "/checkpoints", alice_)["checkpoints"], json::array());
  EXPECT_EQ(GetJson("/api/workers", alice_)["workers"].size(), 1u);
  EXPECT_EQ(GetJson("/api/models", alice_)["models"], json::array());
  EXPECT_EQ(GetJson("/api/schedules", alice_)["schedules"], json::array());
}

TEST_F(HttpTest, NoTokenNoDataAndAnotherUsersSweepIsNotFound) {
  const int64_t sweep = SweepWithMetrics();
  const std::string base = "/api/sweeps/" + std::to_string(sweep);
  for (const std::string path : {"/api/sweeps", base.c_str(), "/api/workers", "/metrics"})
    EXPECT_EQ(Get(path, nullptr).first, 401) << path;
  EXPECT_EQ(Get(base, &bob_).first, 404);
  EXPECT_EQ(Get(base + "/metrics", &bob_).first, 404);
  EXPECT_EQ(Get("/api/trials/" + std::to_string(attempt_.trial_id()), &bob_).first, 404);
  EXPECT_EQ(GetJson("/api/sweeps", bob_)["sweeps"], json::array());
  EXPECT_EQ(Get(base, &admin_).first, 200);
  EXPECT_EQ(Get(base, &worker_).first, 403);  // workers' tokens are not users'
  EXPECT_EQ(Get(base, &revoked_).first, 401);

  // The browser's way: POST the token once, then the cookie it sets authenticates.
  auto refused = Client().Post("/api/login", json({{"token", "not-a-token"}}).dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  auto login = Client().Post("/api/login", json({{"token", alice_.token}}).dump(), "application/json");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 204);
  const std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  auto with_cookie = Client().Get(base.c_str(), {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  ASSERT_TRUE(with_cookie);
  EXPECT_EQ(with_cookie->status, 200);
}

TEST_F(HttpTest, BadInputGetsAClearFourHundred) {
  const int64_t sweep = SweepWithMetrics();
  const std::string base = "/api/sweeps/" + std::to_string(sweep);
  const std::vector<std::pair<std::string, int>> cases = {
      {"/api/sweeps/abc", 400},
      {"/api/sweeps/0", 400},
      {"/api/sweeps/99999", 404},
      {"/api/sweeps?page_size=-3", 400},
      {"/api/sweeps?page_token=t7", 400},
      {base + "/trials?page_size=-1", 400},
      {base + "/trials?page_token=m1.61", 400},
      {"/api/trials/" + std::to_string(attempt_.trial_id()) + "/metrics?page_token=t5", 400},
      {base + "/nonsense", 404},
      {base + "/events?after=x", 400},
      {base + "/metrics?name=bad%20name%0A", 400},
      {base + "/metrics?max_points=lots", 400},
      {"/api/trials/99999/log", 404},
      {"/api/trials/" + std::to_string(attempt_.trial_id()) + "/log?tail_bytes=many", 400},
      {"/api/models/nobody", 404},
      {"/api/schedules/nothing", 404},
      {"/api/nothing/here", 404},
  };
  for (const auto& [path, status] : cases) {
    auto [got, body] = Get(path, &alice_);
    EXPECT_EQ(got, status) << path << ": " << body;
    const json error = json::parse(body, nullptr, false);
    EXPECT_TRUE(error.contains("error") && !error["error"].get<std::string>().empty()) << path << ": " << body;
  }
  auto malformed = Client().Post("/api/login", "{not json", "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
}

TEST_F(HttpTest, StreamsTheSweepAsItChanges) {
  const int64_t sweep = SweepWithMetrics();
  std::vector<json> messages;
  std::string buffer;
  std::thread reporter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    EXPECT_TRUE(Report(30, 0.02).ok());
  });
  httplib::Client client = Client();
  auto result = client.Get(("/api/sweeps/" + std::to_string(sweep) + "/stream").c_str(),
                           {{"Authorization", "Bearer " + alice_.token}}, [&](const char* data, size_t size) {
                             buffer.append(data, size);
                             for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
                               const std::string message = buffer.substr(0, end);
                               buffer.erase(0, end + 2);
                               if (message.rfind("event: sweep\ndata: ", 0) == 0)
                                 messages.push_back(json::parse(message.substr(19)));
                             }
                             return messages.size() < 2;  // the state at connect, then the change
                           });
  reporter.join();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0]["sweep"]["id"], std::to_string(sweep));
  EXPECT_FALSE(messages[0]["events"].empty());  // every event so far comes first
  EXPECT_EQ(messages[1]["sweep"]["id"], std::to_string(sweep));
  EXPECT_TRUE(messages[1]["events"].is_array());  // only events after the first message
}

TEST_F(HttpTest, MetricsPageIsPrometheusTextWithRpcsAndTrials) {
  const int64_t sweep = SweepWithMetrics();  // its submission was a gRPC call
  auto [status, page] = Get("/metrics", &admin_);
  ASSERT_EQ(status, 200) << page;
  EXPECT_NE(page.find("orchard_rpc_requests_total{method=\"orchard.v1.SweepService/SubmitSweep\",code=\"OK\"} 1"),
            std::string::npos) << page;
  EXPECT_NE(page.find("orchard_trials{sweep=\"" + std::to_string(sweep) + "\",state=\"running\"} 1"),
            std::string::npos) << page;
  EXPECT_NE(page.find("orchard_slots{state=\"busy\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("orchard_store_commit_seconds_count"), std::string::npos) << page;
  EXPECT_NE(page.find("orchard_build_info{version="), std::string::npos) << page;

  if (std::system("command -v promtool > /dev/null") != 0)
    GTEST_SKIP() << "promtool not installed (Debian's prometheus package; scripts/setup installs it)";
  const std::string file = dir_ / "metrics.txt";
  std::ofstream(file) << page;
  FILE* check = popen(("promtool check metrics < " + file + " 2>&1").c_str(), "r");
  std::string findings;
  char line[512];
  while (fgets(line, sizeof line, check) != nullptr) findings += line;
  EXPECT_EQ(pclose(check), 0) << findings;
}

TEST_F(HttpTest, ReportIsOneFileThatNeedsNoServer) {
  const int64_t sweep = SweepWithMetrics();
  auto [status, html] = Get("/api/sweeps/" + std::to_string(sweep) + "/report", &alice_);
  ASSERT_EQ(status, 200) << html.substr(0, 300);
  EXPECT_NE(html.find("window.ORCHARD_REPORT = "), std::string::npos);
  EXPECT_NE(html.find("plotly.js v"), std::string::npos);  // plotly inlined
  EXPECT_EQ(html.find("src=\"/static/"), std::string::npos);
  EXPECT_EQ(html.find("href=\"/static/"), std::string::npos);
  EXPECT_NE(html.find("\"/api/sweeps/" + std::to_string(sweep) + "/metrics?name=val_loss\""), std::string::npos);
  EXPECT_EQ(Get("/api/sweeps/" + std::to_string(sweep) + "/report", &bob_).first, 404);
}

TEST_F(HttpTest, ReportHoldsEveryPageOfTrials) {
  std::string values = "1";
  for (int i = 2; i <= 1001; ++i) values += ", " + std::to_string(i);  // 1,001 trials: two pages
  v1::SubmitSweepRequest request;
  request.set_recipe_yaml(std::string(kRecipe).replace(std::string(kRecipe).find("[0.1, 0.01]"), 11, "[" + values + "]"));
  request.set_recipe_file("/recipes/tiny.yaml");
  const auto submitted = server_->coordinator().Submit(request, "alice");
  ASSERT_TRUE(submitted.ok()) << submitted.status().message();
  const int64_t sweep = submitted->id();
  const std::string base = "/api/sweeps/" + std::to_string(sweep);
  const std::string token = GetJson(base + "/trials", alice_).value("next_page_token", "");
  ASSERT_FALSE(token.empty()) << "1,000 trials a page";
  auto [status, html] = Get(base + "/report", &alice_);
  ASSERT_EQ(status, 200) << html.substr(0, 300);
  EXPECT_NE(html.find("\"" + base + "/trials\""), std::string::npos);
  EXPECT_NE(html.find("\"" + base + "/trials?page_token=" + token + "\""), std::string::npos)
      << "the second page, under the path the page asks for it by";
}

TEST_F(HttpTest, ServesTheDashboardAndCompressedPlotly) {
  auto page = Client().Get("/sweeps/1");  // any page path answers the single-page app
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("/static/app.js"), std::string::npos);
  httplib::Client client = Client();
  client.set_decompress(false);
  auto plotly = client.Get("/static/plotly.min.js", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_TRUE(plotly);
  EXPECT_EQ(plotly->status, 200);
  EXPECT_EQ(plotly->get_header_value("Content-Encoding"), "gzip");
  EXPECT_LT(plotly->body.size(), 2u << 20);  // ~1.5 MB instead of ~4.8 MB
  EXPECT_EQ(Client().Get("/static/nothing.js")->status, 404);
}

TEST(HttpAdmissionTest, OtherThanLoopbackNeedsAuthentication) {
  orchard::testing::TempDir dir;
  CoordinatorOptions options;
  options.state_dir = dir / "state";
  auto refused = CoordinatorServer::Start("127.0.0.1:0", options, {}, "0.0.0.0:0");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("--http 0.0.0.0:0"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace orchard::coordinator
