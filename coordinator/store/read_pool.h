// Connections of their own for reads, so that no read waits for the coordinator's writer (WAL mode
// lets readers see the last commit while a write goes on). Each caller borrows one connection for
// the duration of `fn`, whose reads all see the same commit (a sweep and its events agree);
// connections are opened as needed and kept for the next caller.
//
//   ReadPool reads(db_path, storage_root);
//   StatusOr<v1::Sweep> sweep = reads.With([&](Store& store) { return store.GetSweep(3); });
//
// Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "coordinator/store/store.h"

namespace orchard::coordinator {

class ReadPool {
 public:
  ReadPool(std::string path, std::string storage_root)
      : path_(std::move(path)), storage_root_(std::move(storage_root)) {}

  // `fn(Store&)` returns a Status or a StatusOr; so does With, with the error of opening a connection
  // when that fails.
  template <typename Fn>
  auto With(Fn fn) -> decltype(fn(std::declval<Store&>())) {
    StatusOr<std::unique_ptr<Store>> store = Borrow();
    if (!store.ok()) return store.status();
    auto result = [&] {
      const ReadSnapshot snapshot = (*store)->Snapshot();
      return snapshot.status().ok() ? fn(**store) : decltype(fn(**store))(snapshot.status());
    }();
    Return(std::move(*store));
    return result;
  }

 private:
  StatusOr<std::unique_ptr<Store>> Borrow();
  void Return(std::unique_ptr<Store> store);

  const std::string path_;
  const std::string storage_root_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Store>> idle_;  // guarded by mu_
};

}  // namespace orchard::coordinator
