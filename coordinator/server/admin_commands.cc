#include "coordinator/server/admin_commands.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "coordinator/access/credential_store.h"

namespace orchard::coordinator {
namespace {

std::string Date(double seconds) {
  const std::time_t time = static_cast<std::time_t>(seconds);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M", std::localtime(&time));
  return text;
}

// Exit code 1 when the database failed, 2 when the request was wrong.
int Fail(const Status& status) {
  std::cerr << "orchard-coordinator: " << status.message() << "\n";
  return status.code() == StatusCode::kInternal ? 1 : 2;
}

int PrintIssued(const StatusOr<IssuedToken>& issued, const std::string& whose) {
  if (!issued.ok()) return Fail(issued.status());
  std::cout << issued->token << std::endl;
  std::cerr << "token " << issued->id << " for " << whose
            << ". It is shown only this once; hand it over as a file (chmod 600) for --token-file, or as ORCHARD_TOKEN.\n";
  return 0;
}

}  // namespace

AdminCommands::AdminCommands(CLI::App& app) {
  auto* user = app.add_subcommand("user", "Manage users of a coordinator with --auth (offline, on --state-dir)");
  user_add_ = user->add_subcommand("add", "Add a user and print their first token");
  user_add_->add_option("name", user_name_, "User name")->required();
  user_add_->add_flag("--admin", admin_, "An admin sees and cancels every user's sweeps");
  user_token_ = user->add_subcommand("token", "Print a new token for an existing user");
  user_token_->add_option("name", user_name_, "User name")->required();
  user_list_ = user->add_subcommand("list", "List users");
  user->require_subcommand(1);
  auto* worker_token = app.add_subcommand("worker-token", "Manage the tokens orchard-worker presents");
  worker_token_create_ = worker_token->add_subcommand("create", "Print a new worker token");
  worker_token->require_subcommand(1);
  auto* token = app.add_subcommand("token", "List or revoke tokens");
  token_list_ = token->add_subcommand("list", "List tokens: id, kind, user, created, revoked");
  token_revoke_ = token->add_subcommand("revoke", "Revoke a token at once, by its id");
  token_revoke_->add_option("id", token_id_, "Token id (from token list)")->required()->check(CLI::PositiveNumber);
  token->require_subcommand(1);
}

std::optional<int> AdminCommands::Run(const std::string& state_dir) const {
  const CLI::App* given[] = {user_add_, user_token_, user_list_, worker_token_create_, token_list_, token_revoke_};
  if (std::none_of(std::begin(given), std::end(given), [](const CLI::App* c) { return c->parsed(); })) return std::nullopt;
  std::error_code error;
  std::filesystem::create_directories(state_dir, error);
  auto opened = CredentialStore::Open((std::filesystem::path(state_dir) / "orchard.db").string());
  if (error || !opened.ok()) {
    std::cerr << "orchard-coordinator: " << (error ? state_dir + ": " + error.message() : opened.status().message()) << "\n";
    return 1;
  }
  CredentialStore& credentials = **opened;
  if (user_add_->parsed())
    return PrintIssued(credentials.AddUser(user_name_, admin_), "new user " + user_name_ + (admin_ ? " (admin)" : ""));
  if (user_token_->parsed()) return PrintIssued(credentials.IssueUserToken(user_name_), "user " + user_name_);
  if (worker_token_create_->parsed()) return PrintIssued(credentials.IssueWorkerToken(), "workers");
  if (user_list_->parsed()) {
    const auto users = credentials.ListUsers();
    if (!users.ok()) return Fail(users.status());
    std::cout << "NAME                 ADMIN  TOKENS  CREATED\n";
    for (const UserRecord& u : *users)
      std::cout << std::left << std::setw(21) << u.name << std::setw(7) << (u.is_admin ? "yes" : "no") << std::setw(8)
                << u.active_tokens << Date(u.created_at) << "\n";
    return 0;
  }
  if (token_list_->parsed()) {
    const auto tokens = credentials.ListTokens();
    if (!tokens.ok()) return Fail(tokens.status());
    std::cout << "ID     KIND    USER                 CREATED           REVOKED\n";
    for (const TokenRecord& t : *tokens)
      std::cout << std::left << std::setw(7) << t.id << std::setw(8) << t.kind << std::setw(21)
                << (t.user_name.empty() ? "-" : t.user_name) << std::setw(18) << Date(t.created_at)
                << (t.revoked_at > 0 ? Date(t.revoked_at) : "-") << "\n";
    return 0;
  }
  const Status revoked = credentials.Revoke(token_id_);
  if (!revoked.ok()) return Fail(revoked);
  std::cerr << "token " << token_id_ << " is revoked; calls with it are refused from now on\n";
  return 0;
}

}  // namespace orchard::coordinator
