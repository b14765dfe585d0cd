#include "coordinator/store/sqlite.h"

#include <chrono>

namespace orchard::coordinator {

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), sql_(std::move(other.sql_)), status_(other.status_),
      cached_in_use_(other.cached_in_use_) {
  other.stmt_ = nullptr;
  other.cached_in_use_ = nullptr;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (cached_in_use_ == nullptr) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  *cached_in_use_ = false;
}

Statement& Statement::Bind(int index, int64_t value) {
  if (stmt_) sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  if (stmt_) sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, const std::string& value) {
  if (stmt_) sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (stmt_) sqlite3_bind_null(stmt_, index);
  return *this;
}

bool Statement::Step() {
  if (!stmt_ || !status_.ok()) return false;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = Internal("SQLite: " + std::string(sqlite3_errmsg(db_)) + " in: " + sql_);
  return false;
}

StatusOr<bool> Statement::Next() {
  if (Step()) return true;
  RETURN_IF_ERROR(status_);
  return false;
}

void Statement::Reset() {
  if (!stmt_) return;  // a statement that failed to prepare keeps its error
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  status_ = OkStatus();
}

Status Statement::Run() {
  while (Step()) {
  }
  return status_;
}

std::string Statement::Text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return text ? std::string(text, sqlite3_column_bytes(stmt_, column)) : std::string();
}

StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  sqlite3* handle = nullptr;
  if (sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string message = handle ? sqlite3_errmsg(handle) : "out of memory";
    sqlite3_close(handle);
    return FailedPrecondition("cannot open the state database " + path + ": " + message +
                              " (check that the state directory exists and is writable)");
  }
  std::unique_ptr<Database> db(new Database(handle, path));
  sqlite3_busy_timeout(handle, 5000);
  // WAL: readers never block the writer, and a commit is one append. synchronous=FULL fsyncs the WAL
  // at every commit, so an acknowledged change survives a crash of the process and of the machine.
  // 1 KiB pages (for a new file; an existing one keeps its own): a commit appends every page it
  // touched whole, and a batch of metric reports touches a few pages per trial, so smaller pages
  // write less (at 6,000 reports/s, 72 MB/s instead of 170 while points were kept by name).
  RETURN_IF_ERROR(db->Exec("PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return db;
}

Database::~Database() {
  for (auto& [sql, cached] : statements_) sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(db_);
}

Statement Database::Prepare(const std::string& sql) {
  auto cached = statements_.find(sql);
  if (cached != statements_.end() && !cached->second.in_use) {
    cached->second.in_use = true;
    return Statement(db_, cached->second.stmt, sql, OkStatus(), &cached->second.in_use);
  }
  sqlite3_stmt* stmt = nullptr;
  const unsigned flags = cached == statements_.end() ? SQLITE_PREPARE_PERSISTENT : 0;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), flags, &stmt, nullptr) != SQLITE_OK)
    return Statement(db_, nullptr, sql, Internal("SQLite (" + path_ + "): " + sqlite3_errmsg(db_) + " in: " + sql));
  if (cached != statements_.end()) return Statement(db_, stmt, sql);  // the cached one is busy: this one is finalised
  CachedStatement& entry = statements_[sql];
  entry = {stmt, true};
  return Statement(db_, stmt, sql, OkStatus(), &entry.in_use);
}

Status Database::Exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return Internal("SQLite (" + path_ + "): " + message);
  }
  return OkStatus();
}

StatusOr<int64_t> Database::SchemaVersion() {
  Statement version = Prepare("PRAGMA user_version");
  ASSIGN_OR_RETURN(bool found, version.Next());
  return found ? version.Int(0) : 0;
}

Status Database::Migrate(const std::vector<std::string>& migrations, const SchemaUpgradeNotice& before_upgrade) {
  const auto target = static_cast<int64_t>(migrations.size());
  ASSIGN_OR_RETURN(const int64_t current, SchemaVersion());
  if (current > target)
    return FailedPrecondition("the state database " + path_ + " has schema version " + std::to_string(current) +
                              ", newer than this build knows (" + std::to_string(target) +
                              "); run a newer orchard-coordinator or point --state-dir elsewhere");
  if (current > 0 && current < target && before_upgrade) before_upgrade(current, target);
  for (int64_t version = current; version < target; ++version) {
    Transaction tx(this);
    RETURN_IF_ERROR(tx.status());
    RETURN_IF_ERROR(Exec(migrations[version]));
    RETURN_IF_ERROR(Exec("PRAGMA user_version = " + std::to_string(version + 1)));
    RETURN_IF_ERROR(tx.Commit());
  }
  return OkStatus();
}

Transaction::Transaction(Database* db) : db_(db), nested_(db->open_transactions_ > 0) {
  // SQLite ends the outer transaction by itself on some errors (a full disk, I/O); a savepoint then
  // would start a transaction of its own and commit alone, outside the one it was meant to join.
  if (nested_ && sqlite3_get_autocommit(db_->db_))
    begin_status_ = Aborted("SQLite (" + db_->path_ + ") rolled back the enclosing transaction after an error");
  else
    begin_status_ = db_->Exec(nested_ ? "SAVEPOINT nested" : "BEGIN IMMEDIATE");
  done_ = !begin_status_.ok();
  if (!done_) ++db_->open_transactions_;
}

Transaction::~Transaction() { Rollback(); }

ReadSnapshot::ReadSnapshot(Database* db) : db_(db), begin_status_(db->Exec("BEGIN DEFERRED")) {}

ReadSnapshot::~ReadSnapshot() {
  if (begin_status_.ok()) (void)db_->Exec("ROLLBACK");  // nothing was written: ending it is enough
}

void Transaction::Rollback() {
  if (done_) return;
  done_ = true;
  --db_->open_transactions_;
  db_->Undo(nested_ ? "ROLLBACK TO nested; RELEASE nested" : "ROLLBACK");
}

Status Transaction::Commit() {
  if (done_) return begin_status_.ok() ? FailedPrecondition("transaction already ended") : begin_status_;
  done_ = true;
  --db_->open_transactions_;
  if (nested_) {
    Status status = db_->Exec("RELEASE nested");
    if (!status.ok()) db_->Undo("ROLLBACK TO nested; RELEASE nested");
    return status;
  }
  const auto start = std::chrono::steady_clock::now();
  Status status = db_->Exec("COMMIT");
  if (db_->commit_latency_ != nullptr)
    db_->commit_latency_->Observe({}, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (!status.ok()) db_->Undo("ROLLBACK");
  return status;
}

}  // namespace orchard::coordinator
