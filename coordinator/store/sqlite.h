// A thin RAII layer over SQLite: one connection, prepared statements, transactions, migrations.
//
//   ASSIGN_OR_RETURN(auto db, Database::Open("state/orchard.db"));
//   RETURN_IF_ERROR(db->Migrate(kMigrations));
//   Statement insert = db->Prepare("INSERT INTO t(a, b) VALUES (?, ?)");
//   insert.Bind(1, 42).Bind(2, "x");
//   RETURN_IF_ERROR(insert.Run());
//
//   Statement rows = db->Prepare("SELECT a FROM t WHERE b = ?");
//   rows.Bind(1, "x");
//   RETURN_IF_ERROR(rows.ForEachRow([&] { values.push_back(rows.Int(0)); }));
//
// A read cannot take an error for "no rows": Next() and ForEachRow() return it, and a statement
// that fails to prepare (a missing table, say) carries its error to them. Errors carry SQLite's
// message and the SQL. Not thread-safe: callers serialise access to a Database and its statements.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/prometheus.h"
#include "core/status.h"

namespace orchard::coordinator {

class Statement {
 public:
  // `stmt` null: a statement that failed to prepare with `error`. With `cached_in_use`, `stmt` is
  // the database's cached one: reset and handed back (the flag cleared) instead of finalised.
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql, Status error = OkStatus(), bool* cached_in_use = nullptr)
      : db_(db), stmt_(stmt), sql_(std::move(sql)), status_(std::move(error)), cached_in_use_(cached_in_use) {}
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, const std::string& value);
  Statement& Bind(int index, const char* value) { return Bind(index, std::string(value)); }
  Statement& BindNull(int index);

  // Advances to the next row: true when one is available, false when there are no more.
  [[nodiscard]] StatusOr<bool> Next();
  // Calls `read()` for every row (read the columns in it), then returns the first error, if any.
  template <typename Read>
  [[nodiscard]] Status ForEachRow(Read&& read) {
    while (Step()) read();
    return status_;
  }
  // Makes the statement ready to run again with new bindings.
  void Reset();
  // Runs a statement that returns no rows.
  [[nodiscard]] Status Run();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Double(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string Text(int column) const;
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

 private:
  // True when a row is available; false when done or on error (kept in status_).
  bool Step();

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string sql_;
  Status status_;
  bool* cached_in_use_;
};

// Told (from version, to version) before an existing database's schema is upgraded.
using SchemaUpgradeNotice = std::function<void(int64_t from, int64_t to)>;

class Database {
 public:
  // Opens (creating if needed) a database file in WAL mode with foreign keys on.
  static StatusOr<std::unique_ptr<Database>> Open(const std::string& path);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Prepares `sql`; when SQLite refuses it, the statement carries the error to Next, ForEachRow
  // and Run. Each text is compiled once and kept for the connection's life (the store's SQL is a
  // fixed set of texts); a text already in use by a live Statement is compiled afresh.
  Statement Prepare(const std::string& sql);
  Status Exec(const std::string& sql);

  // Schema version (PRAGMA user_version): 0 for a new file.
  StatusOr<int64_t> SchemaVersion();

  // Brings the schema to migrations.size(): migration i (0-based) turns version i into i + 1, each
  // in its own transaction. FailedPrecondition for a database newer than `migrations` knows.
  // `before_upgrade(from, to)` is told first when an existing schema is upgraded (not when a new
  // file is made), since an upgrade may copy a large table.
  Status Migrate(const std::vector<std::string>& migrations, const SchemaUpgradeNotice& before_upgrade = {});

  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  const std::string& path() const { return path_; }

  // Transactions' commits (fsync included) are timed into `latency` from now on; null: not timed.
  void ObserveCommits(HistogramFamily* latency) { commit_latency_ = latency; }

  // How many times a transaction or savepoint was undone on this connection: what a caller
  // remembers of its own writes holds only while this stays the same.
  uint64_t undos() const { return undos_; }

 private:
  friend class Transaction;
  void Undo(const char* sql) {
    ++undos_;
    (void)Exec(sql);
  }
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  HistogramFamily* commit_latency_ = nullptr;
  int open_transactions_ = 0;  // nesting depth: the outermost is a transaction, the rest savepoints
  uint64_t undos_ = 0;
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  std::unordered_map<std::string, CachedStatement> statements_;  // node-based: the flags stay put
};

// BEGIN IMMEDIATE on construction; rolled back on destruction unless Commit() succeeded. Inside
// another open Transaction it is a savepoint of it: Commit() keeps its changes in the outer one
// (durable when that commits), Rollback() undoes only its own.
class Transaction {
 public:
  explicit Transaction(Database* db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  Status Commit();
  // Ends it now, undoing its changes; nothing once it has ended.
  void Rollback();
  Status status() const { return begin_status_; }

 private:
  Database* db_;
  bool nested_;
  Status begin_status_;
  bool done_ = false;
};

// A consistent view for several reads: every statement until destruction sees the same commit
// (BEGIN DEFERRED; in WAL mode it never blocks the writer).
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Database* db);
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot();
  Status status() const { return begin_status_; }

 private:
  Database* db_;
  Status begin_status_;
};

}  // namespace orchard::coordinator
