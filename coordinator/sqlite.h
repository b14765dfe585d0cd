// A thin RAII layer over SQLite: one connection, prepared statements, transactions, migrations.
//
//   ASSIGN_OR_RETURN(auto db, Database::Open("state/orchard.db"));
//   RETURN_IF_ERROR(db->Migrate(kMigrations));
//   Statement insert = db->Prepare("INSERT INTO t(a, b) VALUES (?, ?)");
//   insert.Bind(1, 42).Bind(2, "x");
//   RETURN_IF_ERROR(insert.Run());
//
// Statement::Step returns true while a row is available. Errors carry SQLite's message and the SQL.
// Not thread-safe: callers serialise access to a Database and its statements.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace orchard::coordinator {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql) : db_(db), stmt_(stmt), sql_(std::move(sql)) {}
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

  // Advances to the next row: true when one is available, false when done or on error (see status()).
  bool Step();
  // Makes the statement ready to run again with new bindings.
  void Reset();
  // Runs a statement that returns no rows.
  Status Run();
  Status status() const { return status_; }

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Double(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string Text(int column) const;
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  std::string sql_;
  Status status_;
};

class Database {
 public:
  // Opens (creating if needed) a database file in WAL mode with foreign keys on.
  static StatusOr<std::unique_ptr<Database>> Open(const std::string& path);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Prepares `sql`; an invalid statement is a programming error and aborts with its message.
  Statement Prepare(const std::string& sql);
  Status Exec(const std::string& sql);

  // Schema version (PRAGMA user_version): 0 for a new file.
  int64_t SchemaVersion();

  // Brings the schema to migrations.size(): migration i (0-based) turns version i into i + 1, each
  // in its own transaction. FailedPrecondition for a database newer than `migrations` knows.
  Status Migrate(const std::vector<std::string>& migrations);

  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// BEGIN IMMEDIATE on construction; rolled back on destruction unless Commit() succeeded.
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
  Status begin_status_;
  bool done_ = false;
};

}  // namespace orchard::coordinator
