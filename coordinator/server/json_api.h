// The dashboard's JSON API (docs/dashboard.md): the data of the gRPC read calls and what the
// dashboard's charts need, as HTTP answers, with the same authorisation as gRPC: a user sees only
// their own sweeps, trials, models and schedules (admins all), and another user's is "not found".
//
//   JsonApi api(coordinator);
//   HttpAnswer answer = api.Get(caller, "/api/sweeps/3/trials", {});
//   HttpAnswer report = api.SweepReport(caller, 3);   // one self-contained HTML file
//
// Protobuf messages use proto3's JSON mapping with the proto's field names (int64 as strings).
// Thread-safe (the Coordinator is).
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <cstdint>
#include <map>
#include <string>

#include "coordinator/access/auth.h"
#include "coordinator/coordinator.h"

namespace orchard::coordinator {

struct HttpAnswer {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
};

// `{"error": message}` with the HTTP status of `status`'s code.
HttpAnswer ErrorAnswer(const Status& status);

// A page of a list call as its response message, e.g.
//   PageAnswer(std::move(page), &v1::ListTrialsResponse::mutable_trials)
template <typename Response, typename Row>
Response PageAnswer(Page<Row> page, google::protobuf::RepeatedPtrField<Row>* (Response::*rows)()) {
  Response response;
  for (Row& row : page.items) *(response.*rows)()->Add() = std::move(row);
  response.set_next_page_token(std::move(page.next_page_token));
  return response;
}

class JsonApi {
 public:
  explicit JsonApi(Coordinator& coordinator, bool auth) : coordinator_(coordinator), auth_(auth) {}

  // A GET of `path` (starting "/api/") with its query parameters.
  HttpAnswer Get(const Principal& caller, const std::string& path, const std::map<std::string, std::string>& query);
  // The sweep page as one HTML file with the dashboard's code, plotly.js and the sweep's data
  // inlined: it opens in a browser with no coordinator and no network.
  HttpAnswer SweepReport(const Principal& caller, int64_t sweep_id, double generated_at);
  // NotFound unless `caller` may see the sweep (the one check every sweep endpoint makes).
  Status CheckSweepAccess(const Principal& caller, int64_t sweep_id);

 private:
  Status CheckTrialAccess(const Principal& caller, int64_t trial_id);
  HttpAnswer SweepGet(const Principal& caller, int64_t sweep_id, const std::string& what,
                      const std::map<std::string, std::string>& query);
  HttpAnswer TrialGet(const Principal& caller, int64_t trial_id, const std::string& what,
                      const std::map<std::string, std::string>& query);

  Coordinator& coordinator_;
  const bool auth_;
};

}  // namespace orchard::coordinator
