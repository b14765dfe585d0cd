// Users and their bearer tokens, and the worker tokens, in the coordinator's state database. Only
// each token's SHA-256 is stored; a new token is returned once, to be handed to its owner.
//
//   ASSIGN_OR_RETURN(auto credentials, CredentialStore::Open("state/orchard.db"));
//   ASSIGN_OR_RETURN(IssuedToken alice, credentials->AddUser("alice", /*is_admin=*/false));
//   ASSIGN_OR_RETURN(Principal who, credentials->Authenticate(alice.token));   // alice, a user
//
// It has its own connection to the database (beside the Store's), so the coordinator checks a token
// without taking its state lock, and tokens added or revoked by `orchard-coordinator user ...` while
// the server runs take effect on the next call. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "coordinator/access/auth.h"
#include "coordinator/store/sqlite.h"
#include "core/clock.h"
#include "core/status.h"

namespace orchard::coordinator {

struct IssuedToken {
  int64_t id = 0;     // names the token in `token list` and `token revoke`
  std::string token;  // the secret; not stored anywhere
};

struct UserRecord {
  std::string name;
  bool is_admin = false;
  double created_at = 0;
  int64_t active_tokens = 0;
};

struct TokenRecord {
  int64_t id = 0;
  std::string kind;       // "user" | "worker"
  std::string user_name;  // empty for worker tokens
  double created_at = 0;
  double revoked_at = 0;  // 0 while valid
};

class CredentialStore {
 public:
  // Opens (creating and migrating if needed) the state database at `path`. Issue and revocation
  // times come from `clock` (default: the system clock).
  static StatusOr<std::unique_ptr<CredentialStore>> Open(const std::string& path, const Clock* clock = nullptr);
  CredentialStore(const CredentialStore&) = delete;
  CredentialStore& operator=(const CredentialStore&) = delete;

  // A new user with a first token. InvalidArgument for a bad or taken name.
  StatusOr<IssuedToken> AddUser(const std::string& name, bool is_admin);
  // Another token for an existing user (NotFound otherwise); earlier ones stay valid.
  StatusOr<IssuedToken> IssueUserToken(const std::string& name);
  // A token for worker agents.
  StatusOr<IssuedToken> IssueWorkerToken();
  // NotFound for an unknown id; revoking twice is fine.
  Status Revoke(int64_t token_id);

  StatusOr<std::vector<UserRecord>> ListUsers();
  StatusOr<std::vector<TokenRecord>> ListTokens();

  // Who `token` names. Unauthenticated for an unknown or revoked token; the message never quotes it.
  StatusOr<Principal> Authenticate(const std::string& token);

 private:
  CredentialStore(std::unique_ptr<Database> db, const Clock* clock) : db_(std::move(db)), clock_(clock) {}
  StatusOr<IssuedToken> Issue(TokenKind kind, const std::string& user_name);

  std::mutex mu_;
  std::unique_ptr<Database> db_;  // guarded by mu_
  const Clock* clock_;
};

}  // namespace orchard::coordinator
