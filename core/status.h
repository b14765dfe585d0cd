// Status and StatusOr: errors as values across module boundaries.
//
//   StatusOr<Recipe> recipe = LoadRecipe("sweep.yaml", {});
//   if (!recipe.ok()) { std::cerr << recipe.status().message(); return 2; }
//   Train(*recipe);
//
// The core library must build where only LibTorch and CUDA exist (the trainer-only build), so it
// does not use absl::Status from gRPC. Thread-compatible value types.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace orchard {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: a recipe, a flag, a file's contents
  kNotFound,
  kFailedPrecondition,
  kDataLoss,         // corrupt or partial files
  kInternal,
  kAborted,          // stopped on purpose (preemption, a fenced stale writer)
  kPermissionDenied, // a credential that does not authorise the request
  kUnauthenticated,  // no credential, or one that is unknown, revoked or expired
  kUnavailable,      // a service that cannot be reached
  kDeadlineExceeded, // an operation (a collective, a call) that did not finish in time
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }

// Holds either a value or a non-OK status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}        // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {}  // NOLINT: must not be OK
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace orchard

#define ORCHARD_CONCAT_INNER(a, b) a##b
#define ORCHARD_CONCAT(a, b) ORCHARD_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::orchard::Status orchard_status_ = (expr); \
    if (!orchard_status_.ok()) return orchard_status_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(ORCHARD_CONCAT(orchard_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
