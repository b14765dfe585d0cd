// orchard-coordinator's administration subcommands: users, their tokens and worker tokens, kept in
// the state directory's database. They work offline, beside a running coordinator or without one;
// a change takes effect on the coordinator's next call.
//
//   orchard-coordinator --state-dir D user add alice [--admin]   # prints alice's first token
//   orchard-coordinator --state-dir D user token alice           # another token for alice
//   orchard-coordinator --state-dir D user list
//   orchard-coordinator --state-dir D worker-token create
//   orchard-coordinator --state-dir D token list
//   orchard-coordinator --state-dir D token revoke 3
//
// A new token goes alone on stdout (so `... user add alice > alice.token` keeps it), the rest on stderr.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace orchard::coordinator {

class AdminCommands {
 public:
  // Declares the subcommands on `app`.
  explicit AdminCommands(CLI::App& app);
  // Runs the subcommand that was given, returning the exit code; nullopt when none was.
  std::optional<int> Run(const std::string& state_dir) const;

 private:
  CLI::App* user_add_;
  CLI::App* user_token_;
  CLI::App* user_list_;
  CLI::App* worker_token_create_;
  CLI::App* token_list_;
  CLI::App* token_revoke_;
  std::string user_name_;
  bool admin_ = false;
  int64_t token_id_ = 0;
};

}  // namespace orchard::coordinator
