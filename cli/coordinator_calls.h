// How a command talks to the coordinator: one channel for all its calls, each call with a fresh
// deadline, and a failed call told in words a person can act on (on GlobalOptions::err) and turned
// into an exit code. Most commands are one CallAndPrint:
//
//   v1::GetSweepRequest request;
//   request.set_sweep_id(sweep_id);
//   return CoordinatorCalls(global).CallAndPrint(
//       &v1::SweepService::Stub::GetSweep, request,
//       [](const v1::Sweep& sweep, bool json, std::ostream& out) { PrintSweepStatus(sweep, Now(), json, out); });
//
// Thread-compatible; the channel underneath is thread-safe.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include "cli/commands.h"

namespace orchard::cli {

// The wall-clock time in Unix seconds: the `now` that rendering takes.
double Now();

// A client context whose deadline is `seconds` from now.
std::unique_ptr<grpc::ClientContext> Deadline(double seconds = 30);

// Writes why a call to the coordinator at `coordinator` failed on `err` and returns the exit code
// for it: kExitUnreachable, kExitBadInput, kExitNotFound, kExitDenied or kExitError.
int PrintFailure(const grpc::Status& status, const std::string& coordinator, std::ostream& err);

class CoordinatorCalls {
 public:
  // A unary method of a generated stub, e.g. &v1::SweepService::Stub::GetSweep.
  template <typename Stub, typename Request, typename Response>
  using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

  // Opens a channel to global.coordinator (connected on the first call). `global` must outlive this.
  explicit CoordinatorCalls(const GlobalOptions& global);

  const GlobalOptions& global() const { return global_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // One call with a 30 s deadline: kExitOk, or the failure printed (PrintFailure) and its exit code.
  template <typename Stub, typename Request, typename Response>
  int Call(Method<Stub, Request, Response> method, const Request& request, Response* response) const {
    Stub stub(channel_);
    const grpc::Status status = (stub.*method)(Deadline().get(), request, response);
    return status.ok() ? kExitOk : Fail(status);
  }

  // Call, then `print(response, global.json, *global.out)`: the command's rendering. `kept`, when
  // given, receives the response for what the command decides from it (an exit code, say).
  template <typename Stub, typename Request, typename Response, typename Print>
  int CallAndPrint(Method<Stub, Request, Response> method, const Request& request, Print print,
                   Response* kept = nullptr) const {
    Response response;
    if (int code = Call(method, request, &response); code != kExitOk) return code;
    print(std::as_const(response), global_.json, *global_.out);
    if (kept) *kept = std::move(response);
    return kExitOk;
  }

  // Every page of a paged list call, e.g. ListTrials with &v1::ListTrialsResponse::mutable_trials:
  // `all` receives the rows of each page in turn.
  template <typename Stub, typename Request, typename Response, typename Row>
  int CallAllPages(Method<Stub, Request, Response> method, Request request,
                   google::protobuf::RepeatedPtrField<Row>* (Response::*rows)(), Response* all) const {
    do {
      Response page;
      if (int code = Call(method, request, &page); code != kExitOk) return code;
      for (auto& row : *(page.*rows)()) *(all->*rows)()->Add() = std::move(row);
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return kExitOk;
  }

  // PrintFailure on global.err.
  int Fail(const grpc::Status& status) const { return PrintFailure(status, global_.coordinator, *global_.err); }

 private:
  const GlobalOptions& global_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace orchard::cli
