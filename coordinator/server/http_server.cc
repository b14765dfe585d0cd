#include "coordinator/server/http_server.h"

#include <httplib.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>

#include "coordinator/dashboard/assets.h"
#include "core/build_info.h"
#include "core/flag_file.h"

namespace orchard::coordinator {
namespace {

constexpr char kTokenCookie[] = "orchard_token";
constexpr size_t kCompressAbove = 32 << 10;
// Long-lived event streams each hold a thread, so the pool is larger than the cores.
constexpr size_t kHttpThreads = 64;
constexpr double kStreamMinimumGapSeconds = 0.5;  // live updates at most twice a second
constexpr double kKeepAliveSeconds = 15;

std::string CookieValue(const std::string& header, const std::string& name) {
  size_t at = 0;
  while (at < header.size()) {
    while (at < header.size() && (header[at] == ' ' || header[at] == ';')) ++at;
    const size_t end = std::min(header.find(';', at), header.size());
    const std::string pair = header.substr(at, end - at);
    const size_t equals = pair.find('=');
    if (equals != std::string::npos && pair.substr(0, equals) == name) return pair.substr(equals + 1);
    at = end + 1;
  }
  return "";
}

// gzip at the fastest level: large API answers (a sweep's metrics) shrink ~5x for little CPU.
std::optional<std::string> Gzip(const std::string& data) {
  z_stream stream{};
  if (deflateInit2(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out(deflateBound(&stream, data.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int result = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (result != Z_STREAM_END) return std::nullopt;
  return out;
}

bool AcceptsGzip(const httplib::Request& request) {
  return request.get_header_value("Accept-Encoding").find("gzip") != std::string::npos;
}

void Send(const httplib::Request& request, httplib::Response& response, HttpAnswer answer) {
  response.status = answer.status;
  response.set_header("Cache-Control", "no-store");
  if (answer.body.size() > kCompressAbove && AcceptsGzip(request)) {
    if (auto compressed = Gzip(answer.body)) {
      response.set_header("Content-Encoding", "gzip");
      answer.body = std::move(*compressed);
    }
  }
  response.set_content(std::move(answer.body), answer.content_type.c_str());
}

std::map<std::string, std::string> QueryOf(const httplib::Request& request) {
  std::map<std::string, std::string> query;
  for (const auto& [name, value] : request.params) query[name] = value;
  return query;
}

std::string SseMessage(const std::string& event, const std::string& data) {
  return "event: " + event + "\ndata: " + data + "\n\n";
}

}  // namespace

HttpServer::HttpServer(Coordinator& coordinator, CredentialStore* credentials, const RpcMetrics* rpc_metrics)
    : coordinator_(coordinator),
      credentials_(credentials),
      rpc_metrics_(rpc_metrics),
      api_(coordinator, credentials != nullptr) {}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen_address, Coordinator& coordinator,
                                                        CredentialStore* credentials, const ServerSecurity& security,
                                                        const RpcMetrics* rpc_metrics) {
  RETURN_IF_ERROR(CheckAdmission("--http", listen_address, security));
  const size_t colon = listen_address.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen_address.size())
    return InvalidArgument("--http " + listen_address + ": expected HOST:PORT, e.g. 127.0.0.1:7071 (port 0: any free port)");
  std::string host = listen_address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(listen_address.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535)
    return InvalidArgument("--http " + listen_address + ": the port must be a number from 0 to 65535");

  std::unique_ptr<HttpServer> server(new HttpServer(coordinator, credentials, rpc_metrics));
  if (security.tls_cert_file.empty()) {
    server->server_ = std::make_unique<httplib::Server>();
  } else {
    // httplib reads the files itself; check them first for a clear error.
    RETURN_IF_ERROR(ReadFlagFile("--tls-cert", security.tls_cert_file).status());
    RETURN_IF_ERROR(ReadFlagFile("--tls-key", security.tls_key_file).status());
    if (!security.tls_client_ca_file.empty())
      RETURN_IF_ERROR(ReadFlagFile("--tls-client-ca", security.tls_client_ca_file).status());
    auto tls = std::make_unique<httplib::SSLServer>(
        security.tls_cert_file.c_str(), security.tls_key_file.c_str(),
        security.tls_client_ca_file.empty() ? nullptr : security.tls_client_ca_file.c_str());
    if (!tls->is_valid())
      return InvalidArgument("--tls-cert " + security.tls_cert_file + " / --tls-key " + security.tls_key_file +
                             ": the HTTPS listener cannot use them (is the key the certificate's, both PEM?)");
    server->server_ = std::move(tls);
    server->tls_ = true;
  }
  server->server_->new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  server->Route();
  const int bound = port == 0 ? server->server_->bind_to_any_port(host.c_str())
                              : (server->server_->bind_to_port(host.c_str(), port) ? port : -1);
  if (bound <= 0)
    return Unavailable("cannot listen on " + listen_address +
                       " for the dashboard (is the port in use? choose another with --http HOST:PORT, or port 0 for any free one)");
  server->url_ = std::string(server->tls_ ? "https://" : "http://") + listen_address.substr(0, colon) + ":" +
                 std::to_string(bound) + "/";
  server->listener_ = std::thread([raw = server.get()] { raw->server_->listen_after_bind(); });
  return server;
}

HttpServer::~HttpServer() { Shutdown(); }

void HttpServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  if (server_) server_->stop();
  if (listener_.joinable()) listener_.join();
}

StatusOr<Principal> HttpServer::Caller(const std::string& authorization, const std::string& cookie) const {
  if (credentials_ == nullptr) return Principal{Principal::Role::kAdmin, kLocalUser};
  std::optional<std::string> token;
  if (!authorization.empty()) {
    token = BearerToken(authorization);
    if (!token) return Unauthenticated("the Authorization header must be \"Bearer TOKEN\"");
  } else if (std::string from_cookie = CookieValue(cookie, kTokenCookie); !from_cookie.empty()) {
    token = std::move(from_cookie);
  } else {
    return Unauthenticated("this coordinator requires a user's token: log in on the dashboard, or send "
                           "\"Authorization: Bearer TOKEN\" (an admin issues tokens with `orchard-coordinator user add NAME`)");
  }
  ASSIGN_OR_RETURN(Principal caller, credentials_->Authenticate(*token));
  if (!caller.is_user())
    return PermissionDenied("a worker token cannot read the dashboard; use a user's token "
                            "(`orchard-coordinator user token NAME` issues one)");
  return caller;
}

void HttpServer::StreamChanges(httplib::Response& response, std::function<std::optional<std::string>()> message) {
  response.set_header("Cache-Control", "no-store");
  response.set_chunked_content_provider(
      "text/event-stream", [this, message = std::move(message), version = uint64_t{0}, first = true](
                               size_t, httplib::DataSink& sink) mutable {
        const auto started = std::chrono::steady_clock::now();
        while (!first && !stopping_.load()) {
          if (coordinator_.WaitForChange(version, 1.0) != version) break;
          if (std::chrono::steady_clock::now() - started > std::chrono::duration<double>(kKeepAliveSeconds))
            return sink.write(": keep-alive\n\n", 14);
        }
        first = false;
        version = coordinator_.version();
        const std::optional<std::string> next = stopping_.load() ? std::nullopt : message();
        if (!next) {
          sink.done();
          return false;
        }
        const bool written = sink.write(next->data(), next->size());
        std::this_thread::sleep_for(std::chrono::duration<double>(kStreamMinimumGapSeconds));
        return written;
      });
}

void HttpServer::Route() {
  httplib::Server& http = *server_;
  auto caller_of = [this](const httplib::Request& request) {
    return Caller(request.get_header_value("Authorization"), request.get_header_value("Cookie"));
  };

  http.Post("/api/login", [this](const httplib::Request& request, httplib::Response& response) {
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("token") || !body["token"].is_string())
      return Send(request, response, ErrorAnswer(InvalidArgument("the body must be JSON {\"token\": \"...\"}")));
    const std::string token = body["token"].get<std::string>();
    auto caller = Caller("Bearer " + token, "");
    if (!caller.ok()) return Send(request, response, ErrorAnswer(caller.status()));
    // HttpOnly: page scripts cannot read it; SameSite=Strict: other sites' pages cannot send it.
    response.set_header("Set-Cookie", std::string(kTokenCookie) + "=" + token +
                                          "; Path=/; HttpOnly; SameSite=Strict" + (tls_ ? "; Secure" : ""));
    response.status = 204;
  });

  http.Get("/api/stream", [this, caller_of](const httplib::Request& request, httplib::Response& response) {
    auto caller = caller_of(request);
    if (!caller.ok()) return Send(request, response, ErrorAnswer(caller.status()));
    StreamChanges(response, [this]() -> std::optional<std::string> {
      return SseMessage("change", nlohmann::json{{"version", coordinator_.version()}}.dump());
    });
  });

  http.Get(R"(/api/sweeps/(\d+)/stream)", [this, caller_of](const httplib::Request& request, httplib::Response& response) {
    auto caller = caller_of(request);
    if (!caller.ok()) return Send(request, response, ErrorAnswer(caller.status()));
    const int64_t sweep_id = std::stoll(request.matches[1]);
    if (Status visible = api_.CheckSweepAccess(*caller, sweep_id); !visible.ok())
      return Send(request, response, ErrorAnswer(visible));
    StreamChanges(response, [this, sweep_id, last_event = int64_t{0}, failed = false]() mutable -> std::optional<std::string> {
      if (failed) return std::nullopt;
      auto events = coordinator_.EventsAfter(sweep_id, last_event);
      if (!events.ok()) {
        failed = true;  // said once, then the stream ends
        return SseMessage("error", nlohmann::json{{"error", events.status().message()}}.dump());
      }
      nlohmann::json list = nlohmann::json::array();
      for (const EventRecord& event : events->events) {
        list.push_back({{"id", event.id}, {"time", event.time}, {"message", event.message}});
        last_event = event.id;
      }
      const HttpAnswer sweep =
          api_.Get(Principal{Principal::Role::kAdmin, kLocalUser}, "/api/sweeps/" + std::to_string(sweep_id), {});
      return SseMessage("sweep", "{\"sweep\": " + sweep.body + ", \"events\": " + list.dump() + "}");
    });
  });

  http.Get(R"(/api/sweeps/(\d+)/report)", [this, caller_of](const httplib::Request& request, httplib::Response& response) {
    auto caller = caller_of(request);
    if (!caller.ok()) return Send(request, response, ErrorAnswer(caller.status()));
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    Send(request, response, api_.SweepReport(*caller, std::stoll(request.matches[1]), now));
  });

  http.Get(R"(/api/.*)", [this, caller_of](const httplib::Request& request, httplib::Response& response) {
    auto caller = caller_of(request);
    if (!caller.ok()) return Send(request, response, ErrorAnswer(caller.status()));
    Send(request, response, api_.Get(*caller, request.path, QueryOf(request)));
  });

  http.Get("/metrics", [this, caller_of](const httplib::Request& request, httplib::Response& response) {
    auto caller = caller_of(request);
    if (!caller.ok()) return Send(request, response, ErrorAnswer(caller.status()));
    std::string page;
    Status written = coordinator_.WritePrometheusMetrics(page);
    if (!written.ok()) return Send(request, response, ErrorAnswer(written));
    if (rpc_metrics_ != nullptr) rpc_metrics_->Write(page);
    WriteGauges(page, "orchard_build_info", "Orchard's version and the git commit it was built from; always 1.",
                {{{{"version", ThisBuild().version}, {"commit", ThisBuild().commit}}, 1}});
    Send(request, response, {200, "text/plain; version=0.0.4; charset=utf-8", std::move(page)});
  });

  http.Get(R"(/static/([a-z.]+))", [](const httplib::Request& request, httplib::Response& response) {
    const auto asset = dashboard::FindAsset(request.matches[1].str());
    if (!asset || request.matches[1] == "index.html") {
      response.status = 404;
      return response.set_content("no such file", "text/plain; charset=utf-8");
    }
    response.set_header("Cache-Control", asset->gzipped.empty() ? "no-cache" : "public, max-age=86400");
    if (!asset->gzipped.empty() && AcceptsGzip(request)) {
      response.set_header("Content-Encoding", "gzip");
      return response.set_content(asset->gzipped.data(), asset->gzipped.size(), std::string(asset->content_type).c_str());
    }
    response.set_content(asset->body.data(), asset->body.size(), std::string(asset->content_type).c_str());
  });

  // Every other path is a page of the single-page dashboard, which routes itself.
  http.Get(R"(/.*)", [](const httplib::Request&, httplib::Response& response) {
    const auto page = dashboard::FindAsset("index.html");
    response.set_header("Cache-Control", "no-cache");
    response.set_content(page->body.data(), page->body.size(), std::string(page->content_type).c_str());
  });
}

}  // namespace orchard::coordinator
