// The CPU twins' threads: a pool started on first use and kept, so a step pays a wake-up, not a
// thread start. Work items are claimed from an atomic counter, so uneven chunks balance themselves.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/internal.h"

namespace orchard::kernels {
namespace {

class CpuPool {
 public:
  explicit CpuPool(int threads) {
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this] { Work(); });
  }
  ~CpuPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void Run(int64_t count, const std::function<void(int64_t)>& fn) {
    // One job at a time: callers (trainer threads) may share the pool.
    std::lock_guard<std::mutex> job_lock(job_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      count_ = count;
      next_.store(0);
      busy_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    Drain();
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return busy_ == 0; });
    fn_ = nullptr;
  }

 private:
  void Drain() {
    for (int64_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) (*fn_)(i);
  }

  void Work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      Drain();
      std::lock_guard<std::mutex> lock(mu_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex job_mu_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  int busy_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

std::mutex pool_mu;
int requested_threads = 0;
std::unique_ptr<CpuPool> pool;

// The pool's size; pool_mu held.
int PoolThreads() {
  const int threads = requested_threads > 0 ? requested_threads : static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(threads, 1, 256);
}

CpuPool& Pool() {
  std::lock_guard<std::mutex> lock(pool_mu);
  if (!pool) pool = std::make_unique<CpuPool>(PoolThreads());
  return *pool;
}

}  // namespace

void SetCpuThreads(int threads) {
  std::lock_guard<std::mutex> lock(pool_mu);
  requested_threads = std::max(threads, 0);
  pool.reset();  // the next use starts a pool of the new size
}

namespace detail {

int ParallelThreads() {
  std::lock_guard<std::mutex> lock(pool_mu);
  return PoolThreads();
}

void ParallelFor(int64_t count, int64_t total_elements, const std::function<void(int64_t)>& fn) {
  if (count <= 0) return;
  CpuPool* p = count > 1 && total_elements >= 4 * kChunkElements ? &Pool() : nullptr;
  if (!p || p->threads() == 1) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  p->Run(count, fn);
}

}  // namespace detail
}  // namespace orchard::kernels
