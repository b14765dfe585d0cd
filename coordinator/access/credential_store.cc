#include "coordinator/access/credential_store.h"

#include "coordinator/store/schema.h"
#include "core/names.h"

namespace orchard::coordinator {

StatusOr<std::unique_ptr<CredentialStore>> CredentialStore::Open(const std::string& path, const Clock* clock) {
  static const SystemClock system_clock;
  ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path));
  RETURN_IF_ERROR(db->Migrate(SchemaMigrations()));
  return std::unique_ptr<CredentialStore>(new CredentialStore(std::move(db), clock ? clock : &system_clock));
}

StatusOr<IssuedToken> CredentialStore::Issue(TokenKind kind, const std::string& user_name) {
  IssuedToken issued{0, NewToken(kind)};
  Statement insert = db_->Prepare("INSERT INTO tokens (hash, kind, user_name, created_at) VALUES (?, ?, ?, ?)");
  insert.Bind(1, HashToken(issued.token)).Bind(2, kind == TokenKind::kWorker ? "worker" : "user").Bind(4, clock_->Now());
  if (user_name.empty()) insert.BindNull(3);
  else insert.Bind(3, user_name);
  RETURN_IF_ERROR(insert.Run());
  issued.id = db_->LastInsertId();
  return issued;
}

StatusOr<IssuedToken> CredentialStore::AddUser(const std::string& name, bool is_admin) {
  if (!IsValidName(name) || name == kLocalUser)
    return InvalidArgument("user name '" + name + "': must be 1-64 letters, digits, '.', '_' or '-', and not '" +
                           kLocalUser + "' (the user of a coordinator without --auth)");
  std::lock_guard<std::mutex> lock(mu_);
  Statement existing = db_->Prepare("SELECT 1 FROM users WHERE name = ?");
  existing.Bind(1, name);
  ASSIGN_OR_RETURN(const bool exists, existing.Next());
  if (exists)
    return InvalidArgument("user " + name + " already exists; `user token " + name + "` issues another token");
  Transaction tx(db_.get());
  RETURN_IF_ERROR(tx.status());
  RETURN_IF_ERROR(db_->Prepare("INSERT INTO users (name, is_admin, created_at) VALUES (?, ?, ?)")
                      .Bind(1, name).Bind(2, is_admin ? 1 : 0).Bind(3, clock_->Now()).Run());
  ASSIGN_OR_RETURN(IssuedToken issued, Issue(TokenKind::kUser, name));
  RETURN_IF_ERROR(tx.Commit());
  return issued;
}

StatusOr<IssuedToken> CredentialStore::IssueUserToken(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement existing = db_->Prepare("SELECT 1 FROM users WHERE name = ?");
  existing.Bind(1, name);
  ASSIGN_OR_RETURN(const bool existing_found, existing.Next());
  if (!existing_found) return NotFound("no user " + name + " (`user add " + name + "` creates one; `user list` lists them)");
  return Issue(TokenKind::kUser, name);
}

StatusOr<IssuedToken> CredentialStore::IssueWorkerToken() {
  std::lock_guard<std::mutex> lock(mu_);
  return Issue(TokenKind::kWorker, "");
}

Status CredentialStore::Revoke(int64_t token_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement existing = db_->Prepare("SELECT 1 FROM tokens WHERE id = ?");
  existing.Bind(1, token_id);
  ASSIGN_OR_RETURN(const bool existing_found, existing.Next());
  if (!existing_found) return NotFound("no token " + std::to_string(token_id) + " (`token list` lists them)");
  return db_->Prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0").Bind(1, clock_->Now()).Bind(2, token_id).Run();
}

StatusOr<std::vector<UserRecord>> CredentialStore::ListUsers() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement rows = db_->Prepare(
      "SELECT u.name, u.is_admin, u.created_at, "
      "(SELECT COUNT(*) FROM tokens t WHERE t.user_name = u.name AND t.revoked_at = 0) FROM users u ORDER BY u.name");
  std::vector<UserRecord> users;
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    users.push_back({rows.Text(0), rows.Int(1) != 0, rows.Double(2), rows.Int(3)});
  }));
  return users;
}

StatusOr<std::vector<TokenRecord>> CredentialStore::ListTokens() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement rows = db_->Prepare("SELECT id, kind, COALESCE(user_name, ''), created_at, revoked_at FROM tokens ORDER BY id");
  std::vector<TokenRecord> tokens;
  RETURN_IF_ERROR(rows.ForEachRow([&] {
    tokens.push_back({rows.Int(0), rows.Text(1), rows.Text(2), rows.Double(3), rows.Double(4)});
  }));
  return tokens;
}

StatusOr<Principal> CredentialStore::Authenticate(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  // The lookup is by hash: timing reveals nothing about the token, only about its SHA-256.
  Statement row = db_->Prepare(
      "SELECT t.kind, COALESCE(t.user_name, ''), COALESCE(u.is_admin, 0), t.revoked_at FROM tokens t "
      "LEFT JOIN users u ON u.name = t.user_name WHERE t.hash = ?");
  row.Bind(1, HashToken(token));
  ASSIGN_OR_RETURN(const bool row_found, row.Next());
  if (!row_found || row.Double(3) != 0)
    return Unauthenticated("the bearer token is unknown or revoked; ask an admin for a new one "
                           "(orchard-coordinator user token NAME)");
  if (row.Text(0) == "worker") return Principal{Principal::Role::kWorker, "worker"};
  return Principal{row.Int(2) != 0 ? Principal::Role::kAdmin : Principal::Role::kUser, row.Text(1)};
}

}  // namespace orchard::coordinator
