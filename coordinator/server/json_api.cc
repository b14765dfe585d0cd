#include "coordinator/server/json_api.h"

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <charconv>
#include <vector>

#include "coordinator/dashboard/assets.h"
#include "orchard/v1/registry_service.pb.h"
#include "orchard/v1/schedule_service.pb.h"

namespace orchard::coordinator {
namespace {

int HttpStatusOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kAborted: return 409;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kDataLoss:
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

HttpAnswer Json(const nlohmann::json& value) { return {200, "application/json; charset=utf-8", value.dump()}; }

HttpAnswer Proto(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  HttpAnswer answer;
  const auto status = google::protobuf::util::MessageToJsonString(message, &answer.body, options);
  if (!status.ok()) return ErrorAnswer(Internal("cannot write the answer as JSON: " + std::string(status.message())));
  return answer;
}

template <typename T>
HttpAnswer ProtoOr(const StatusOr<T>& result) {
  return result.ok() ? Proto(*result) : ErrorAnswer(result.status());
}

// A path segment or query value that must be a positive id.
StatusOr<int64_t> ParseId(const std::string& text, const std::string& what) {
  int64_t id = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (error != std::errc() || end != text.data() + text.size() || id <= 0)
    return InvalidArgument(what + " must be a positive integer, not \"" + text + "\"");
  return id;
}

StatusOr<int64_t> QueryInt(const std::map<std::string, std::string>& query, const std::string& name, int64_t fallback) {
  const auto found = query.find(name);
  if (found == query.end() || found->second.empty()) return fallback;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(found->second.data(), found->second.data() + found->second.size(), value);
  if (error != std::errc() || end != found->second.data() + found->second.size() || value < 0)
    return InvalidArgument("query parameter " + name + " must be a non-negative integer, not \"" + found->second + "\"");
  return value;
}

std::string QueryText(const std::map<std::string, std::string>& query, const std::string& name) {
  const auto found = query.find(name);
  return found == query.end() ? "" : found->second;
}

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

// Another user's thing answers as if it did not exist: its id tells them nothing.
Status Visible(const Principal& caller, const StatusOr<std::string>& owner, const std::string& what) {
  if (!owner.ok()) return owner.status();
  if (caller.is_admin() || *owner == caller.name) return OkStatus();
  return NotFound(what + " not found");
}

const char* ScaleOf(ParameterSpace::Kind kind) {
  switch (kind) {
    case ParameterSpace::Kind::kLogUniform: return "log";
    case ParameterSpace::Kind::kUniform:
    case ParameterSpace::Kind::kIntUniform: return "linear";
    case ParameterSpace::Kind::kValues: return "categorical";
    case ParameterSpace::Kind::kConstant: return "constant";
  }
  return "constant";
}

// Code inlined in a <script> element must not contain "</script", which would end it early: in
// JavaScript "<\/script" means the same inside a string or regular expression, where it can occur.
std::string InlineCode(std::string_view code) {
  std::string safe(code);
  for (size_t at = 0; (at = safe.find("</", at)) != std::string::npos; at += 2) {
    std::string next = safe.substr(at + 2, 6);
    for (char& c : next) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (next == "script") safe.insert(at + 1, "\\");
  }
  return safe;
}

// JSON inlined in a <script> element: every "<" as \u003c, which only strings can hold.
std::string InlineJson(const nlohmann::json& value) {
  std::string safe;
  for (char c : value.dump()) {
    if (c == '<') safe += "\\u003c";
    else safe += c;
  }
  return safe;
}

bool ReplaceLine(std::string& page, const std::string& line, const std::string& replacement) {
  const size_t at = page.find(line);
  if (at == std::string::npos) return false;
  page.replace(at, line.size(), replacement);
  return true;
}

}  // namespace

HttpAnswer ErrorAnswer(const Status& status) {
  return {HttpStatusOf(status.code()), "application/json; charset=utf-8",
          nlohmann::json{{"error", status.message()}}.dump()};
}

Status JsonApi::CheckSweepAccess(const Principal& caller, int64_t sweep_id) {
  return Visible(caller, coordinator_.SweepOwner(sweep_id), "sweep " + std::to_string(sweep_id));
}

Status JsonApi::CheckTrialAccess(const Principal& caller, int64_t trial_id) {
  return Visible(caller, coordinator_.TrialOwner(trial_id), "trial " + std::to_string(trial_id));
}

HttpAnswer JsonApi::Get(const Principal& caller, const std::string& path,
                        const std::map<std::string, std::string>& query) {
  const std::vector<std::string> segments = Segments(path);  // "api", ...
  if (segments.size() < 2 || segments[0] != "api") return ErrorAnswer(NotFound("no such API path: " + path));
  const std::string& collection = segments[1];
  const auto own = caller.is_admin() ? std::nullopt : std::optional<std::string>(caller.name);

  if (collection == "whoami" && segments.size() == 2)
    return Json({{"user", caller.name}, {"admin", caller.is_admin()}, {"auth", auth_}});
  if (collection == "sweeps") {
    if (segments.size() == 2) {
      const auto page_size = QueryInt(query, "page_size", 0);
      if (!page_size.ok()) return ErrorAnswer(page_size.status());
      auto sweeps = coordinator_.ListSweeps(*page_size, QueryText(query, "page_token"), own);
      if (!sweeps.ok()) return ErrorAnswer(sweeps.status());
      return Proto(PageAnswer(std::move(*sweeps), &v1::ListSweepsResponse::mutable_sweeps));
    }
    const auto id = ParseId(segments[2], "the sweep id");
    if (!id.ok()) return ErrorAnswer(id.status());
    if (segments.size() > 4) return ErrorAnswer(NotFound("no such API path: " + path));
    return SweepGet(caller, *id, segments.size() == 4 ? segments[3] : "", query);
  }
  if (collection == "trials" && segments.size() >= 3 && segments.size() <= 4) {
    const auto id = ParseId(segments[2], "the trial id");
    if (!id.ok()) return ErrorAnswer(id.status());
    return TrialGet(caller, *id, segments.size() == 4 ? segments[3] : "", query);
  }
  if (collection == "workers" && segments.size() == 2) {
    auto workers = coordinator_.ListWorkers();  // every user may see the cluster's capacity
    if (!workers.ok()) return ErrorAnswer(workers.status());
    v1::ListWorkersResponse response;
    for (auto& worker : *workers) *response.add_workers() = std::move(worker);
    return Proto(response);
  }
  if (collection == "models") {
    if (segments.size() == 2) {
      auto models = coordinator_.ListModels(own);
      if (!models.ok()) return ErrorAnswer(models.status());
      v1::ListModelsResponse response;
      for (auto& model : *models) *response.add_models() = std::move(model);
      return Proto(response);
    }
    if (segments.size() == 3) {
      if (Status visible = Visible(caller, coordinator_.ModelOwner(segments[2]), "model " + segments[2]); !visible.ok())
        return ErrorAnswer(visible);
      return ProtoOr(coordinator_.GetModel(segments[2]));
    }
  }
  if (collection == "schedules") {
    if (segments.size() == 2) {
      auto schedules = coordinator_.ListSchedules(own);
      if (!schedules.ok()) return ErrorAnswer(schedules.status());
      v1::ListSchedulesResponse response;
      for (auto& schedule : *schedules) *response.add_schedules() = std::move(schedule);
      return Proto(response);
    }
    if (segments.size() == 3) {
      const std::string& name = segments[2];
      if (Status visible = Visible(caller, coordinator_.ScheduleOwner(name), "schedule " + name); !visible.ok())
        return ErrorAnswer(visible);
      const auto runs = QueryInt(query, "runs", 20);
      if (!runs.ok()) return ErrorAnswer(runs.status());
      return ProtoOr(coordinator_.GetSchedule(name, *runs));
    }
  }
  return ErrorAnswer(NotFound("no such API path: " + path + " (docs/dashboard.md lists the API)"));
}

HttpAnswer JsonApi::SweepGet(const Principal& caller, int64_t sweep_id, const std::string& what,
                             const std::map<std::string, std::string>& query) {
  if (Status visible = CheckSweepAccess(caller, sweep_id); !visible.ok()) return ErrorAnswer(visible);
  if (what.empty()) return ProtoOr(coordinator_.GetSweep(sweep_id));
  if (what == "trials") {
    const auto page_size = QueryInt(query, "page_size", 0);
    if (!page_size.ok()) return ErrorAnswer(page_size.status());
    auto trials = coordinator_.ListTrialsPage(sweep_id, *page_size, QueryText(query, "page_token"));
    if (!trials.ok()) return ErrorAnswer(trials.status());
    return Proto(PageAnswer(std::move(*trials), &v1::ListTrialsResponse::mutable_trials));
  }
  if (what == "metrics") {
    const auto max_points = QueryInt(query, "max_points", 0);
    if (!max_points.ok()) return ErrorAnswer(max_points.status());
    auto metrics = coordinator_.SweepMetrics(sweep_id, QueryText(query, "name"), *max_points);
    if (!metrics.ok()) return ErrorAnswer(metrics.status());
    // Written directly: a sweep of 1,000 trials has 200,000 points here, too many for a JSON tree.
    std::string body = "{\"metric\":" + nlohmann::json(metrics->metric).dump() +
                       ",\"names\":" + nlohmann::json(metrics->names).dump() + ",\"series\":[";
    char number[32];
    auto append = [&](auto value) {
      body.append(number, std::to_chars(number, number + sizeof number, value).ptr);
    };
    for (size_t i = 0; i < metrics->series.size(); ++i) {
      const TrialSeries& trial = metrics->series[i];
      body += i == 0 ? "{\"trial_id\":" : ",{\"trial_id\":";
      append(trial.trial_id);
      body += ",\"number\":";
      append(trial.number);
      body += ",\"points\":[";
      for (size_t p = 0; p < trial.points.size(); ++p) {
        body += p == 0 ? "[" : ",[";
        append(trial.points[p].first);
        body += ',';
        if (std::isfinite(trial.points[p].second)) append(trial.points[p].second);
        else body += "null";  // JSON has no NaN or infinity; a diverged point shows as a gap
        body += ']';
      }
      body += "]}";
    }
    body += "]}";
    return {200, "application/json; charset=utf-8", std::move(body)};
  }
  if (what == "parameters") {
    auto spec = coordinator_.SweepSearchSpace(sweep_id);
    if (!spec.ok()) return ErrorAnswer(spec.status());
    nlohmann::json parameters = nlohmann::json::array();
    for (const ParameterSpace& p : spec->parameters)
      parameters.push_back(
          {{"path", p.path}, {"scale", ScaleOf(p.kind)}, {"min", p.min}, {"max", p.max}, {"values", p.values}});
    return Json({{"parameters", std::move(parameters)}});
  }
  if (what == "importance") {
    auto report = coordinator_.Importance(sweep_id);
    if (!report.ok()) return ErrorAnswer(report.status());
    nlohmann::json parameters = nlohmann::json::array();
    for (const ParameterImportance& p : report->parameters)
      parameters.push_back({{"path", p.path}, {"importance", p.importance}});
    return Json({{"method", report->method}, {"samples", report->samples}, {"parameters", std::move(parameters)}});
  }
  if (what == "cost") {
    auto cost = coordinator_.Cost(sweep_id);
    if (!cost.ok()) return ErrorAnswer(cost.status());
    return Json({{"slot_seconds", cost->slot_seconds}, {"trial_steps", cost->trial_steps}, {"full_steps", cost->full_steps}});
  }
  if (what == "events") {
    const auto after = QueryInt(query, "after", 0);
    if (!after.ok()) return ErrorAnswer(after.status());
    auto events = coordinator_.EventsAfter(sweep_id, *after);
    if (!events.ok()) return ErrorAnswer(events.status());
    nlohmann::json list = nlohmann::json::array();
    for (const EventRecord& event : events->events)
      list.push_back({{"id", event.id}, {"time", event.time}, {"message", event.message}});
    return Json({{"events", std::move(list)}});
  }
  return ErrorAnswer(NotFound("no such API path: /api/sweeps/" + std::to_string(sweep_id) + "/" + what +
                              " (docs/dashboard.md lists the API)"));
}

HttpAnswer JsonApi::TrialGet(const Principal& caller, int64_t trial_id, const std::string& what,
                             const std::map<std::string, std::string>& query) {
  if (Status visible = CheckTrialAccess(caller, trial_id); !visible.ok()) return ErrorAnswer(visible);
  if (what.empty()) return ProtoOr(coordinator_.GetTrial(trial_id));
  if (what == "metrics") {
    const auto page_size = QueryInt(query, "page_size", 0);
    if (!page_size.ok()) return ErrorAnswer(page_size.status());
    auto points =
        coordinator_.TrialMetrics(trial_id, QueryText(query, "name"), *page_size, QueryText(query, "page_token"));
    if (!points.ok()) return ErrorAnswer(points.status());
    return Proto(PageAnswer(std::move(*points), &v1::GetTrialMetricsResponse::mutable_points));
  }
  if (what == "log") {
    v1::GetTrialLogRequest request;
    request.set_trial_id(trial_id);
    const auto attempt = QueryInt(query, "attempt", 0);
    const auto tail = QueryInt(query, "tail_bytes", 64 << 10);
    if (!attempt.ok()) return ErrorAnswer(attempt.status());
    if (!tail.ok()) return ErrorAnswer(tail.status());
    request.set_attempt(*attempt);
    request.set_tail_bytes(*tail);
    return ProtoOr(coordinator_.TrialLog(request));
  }
  if (what == "attempts") {
    auto attempts = coordinator_.TrialAttempts(trial_id);
    if (!attempts.ok()) return ErrorAnswer(attempts.status());
    nlohmann::json list = nlohmann::json::array();
    for (const AttemptSummary& a : *attempts) {
      nlohmann::json provenance = nlohmann::json::parse(a.provenance_json, nullptr, /*allow_exceptions=*/false);
      if (provenance.is_discarded()) provenance = nullptr;
      list.push_back({{"number", a.number}, {"worker_id", a.worker_id}, {"state", a.state}, {"slots", a.slots},
                      {"exit_code", a.exit_code}, {"signal", a.signal}, {"reason", a.reason},
                      {"started_at", a.started_at}, {"ended_at", a.ended_at},
                      // The trainer's record as it wrote it (docs/lineage.md); null when none was reported.
                      {"provenance", std::move(provenance)}, {"parameter_digest", a.parameter_digest}});
    }
    return Json({{"attempts", std::move(list)}});
  }
  if (what == "checkpoints") {
    auto checkpoints = coordinator_.TrialCheckpoints(trial_id);
    if (!checkpoints.ok()) return ErrorAnswer(checkpoints.status());
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : *checkpoints) list.push_back({{"step", c.step}, {"path", c.path}});
    return Json({{"checkpoints", std::move(list)}});
  }
  return ErrorAnswer(NotFound("no such API path: /api/trials/" + std::to_string(trial_id) + "/" + what +
                              " (docs/dashboard.md lists the API)"));
}

HttpAnswer JsonApi::SweepReport(const Principal& caller, int64_t sweep_id, double generated_at) {
  const auto page = dashboard::FindAsset("index.html");
  const auto style = dashboard::FindAsset("style.css");
  const auto app = dashboard::FindAsset("app.js");
  const auto plotly = dashboard::FindAsset("plotly.min.js");
  const std::string base = "/api/sweeps/" + std::to_string(sweep_id);
  nlohmann::json responses = nlohmann::json::object();
  // Each answer under the path and query the page asks for it by; returns the answer's next page token.
  auto add = [&](const std::string& path, const std::map<std::string, std::string>& query) -> StatusOr<std::string> {
    HttpAnswer answer = Get(caller, path, query);
    if (answer.status != 200) return InvalidArgument(nlohmann::json::parse(answer.body).value("error", answer.body));
    std::string key = path;
    for (const auto& [name, value] : query) key += (key == path ? "?" : "&") + name + "=" + value;
    nlohmann::json& stored = responses[key] = nlohmann::json::parse(answer.body);
    return stored.is_object() ? stored.value("next_page_token", "") : "";
  };
  if (Status visible = CheckSweepAccess(caller, sweep_id); !visible.ok()) return ErrorAnswer(visible);
  for (const char* part : {"", "/parameters", "/importance", "/cost"})
    if (auto added = add(base + part, {}); !added.ok()) return ErrorAnswer(added.status());
  // Every page of trials: the report has no coordinator to ask for more.
  std::string page_token;
  do {
    auto next = page_token.empty() ? add(base + "/trials", {}) : add(base + "/trials", {{"page_token", page_token}});
    if (!next.ok()) return ErrorAnswer(next.status());
    page_token = *next;
  } while (!page_token.empty());
  if (auto added = add(base + "/events", {}); !added.ok()) return ErrorAnswer(added.status());
  if (auto added = add("/api/whoami", {}); !added.ok()) return ErrorAnswer(added.status());
  HttpAnswer metrics = Get(caller, base + "/metrics", {});
  if (metrics.status != 200) return metrics;
  const nlohmann::json first = nlohmann::json::parse(metrics.body);
  for (const auto& name : first.at("names"))
    if (auto added = add(base + "/metrics", {{"name", name.get<std::string>()}}); !added.ok())
      return ErrorAnswer(added.status());
  // The page opens on the sweep's metric, as the live one does.
  responses[base + "/metrics"] = first;

  const nlohmann::json report = {{"route", "#/sweeps/" + std::to_string(sweep_id)}, {"generated_at", generated_at},
                                 {"responses", std::move(responses)}};
  std::string html(page->body);
  const bool replaced =
      ReplaceLine(html, "<link rel=\"stylesheet\" href=\"/static/style.css\">",
                  "<style>\n" + std::string(style->body) + "\n</style>") &&
      ReplaceLine(html, "<script src=\"/static/plotly.min.js\" async></script>",
                  "<script>\n" + InlineCode(plotly->body) + "\n</script>") &&
      ReplaceLine(html, "<!-- ORCHARD_REPORT_DATA -->",
                  "<script>window.ORCHARD_REPORT = " + InlineJson(report) + ";</script>") &&
      ReplaceLine(html, "<script src=\"/static/app.js\"></script>",
                  "<script>\n" + InlineCode(app->body) + "\n</script>");
  if (!replaced) return ErrorAnswer(Internal("the dashboard's index.html lacks a line the report replaces"));
  return {200, "text/html; charset=utf-8", std::move(html)};
}

}  // namespace orchard::coordinator
