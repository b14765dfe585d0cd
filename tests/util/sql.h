// SQL on a state database from a second connection, as an operator's tool or another process would.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

namespace orchard::testing {

inline void ExecSql(const std::string& db_path, const std::string& sql) {
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &other), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(other, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(other);
  ASSERT_EQ(rc, SQLITE_OK) << message << " in: " << sql;
}

// What a damaged or foreign state database does to the coordinator: a table gone from under it.
inline void BreakTable(const std::string& db_path, const std::string& table) {
  ExecSql(db_path, "ALTER TABLE " + table + " RENAME TO broken_" + table);
}

}  // namespace orchard::testing
