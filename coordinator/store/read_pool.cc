#include "coordinator/store/read_pool.h"

namespace orchard::coordinator {

StatusOr<std::unique_ptr<Store>> ReadPool::Borrow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Store> store = std::move(idle_.back());
      idle_.pop_back();
      return store;
    }
  }
  return Store::Open(path_, storage_root_);
}

void ReadPool::Return(std::unique_ptr<Store> store) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(store));
}

}  // namespace orchard::coordinator
