#include "threadpool.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {
namespace {

thread_local int tlsIndex = 0;
thread_local bool tlsInJob = false;

int defaultThreads() {
  if (const char* env = std::getenv("KILN_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

class Pool {
 public:
  explicit Pool(int n) { start(n); }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    start(n);
  }

  // The caller posts the job, works through it itself, then closes it: a
  // worker that has not woken by then never joins, so a descheduled or
  // sleeping worker costs the caller nothing. Only workers that joined are
  // waited for, and they are running.
  void run(int64_t count, const std::function<void(int64_t)>& task) {
    if (count <= 0) return;
    if (workers_.empty() || count == 1 || tlsInJob) {
      for (int64_t i = 0; i < count; ++i) task(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      count_ = count;
      next_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    tlsInJob = true;
    tlsIndex = 0;
    drain(task);
    tlsInJob = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = nullptr;  // closed: late workers stay out
    }
    // Every task is claimed; wait for the joined workers to finish theirs.
    while (active_.load(std::memory_order_acquire) != 0) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#else
      std::this_thread::yield();
#endif
    }
  }

 private:
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  bool stopping_ = false;

  void drain(const std::function<void(int64_t)>& task) {
    for (;;) {
      int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= count_) break;
      task(i);
    }
  }

  void start(int n) {
    stopping_ = false;
    // Each worker starts from the generation current now, so a job posted before
    // the thread first runs is still seen as new.
    const uint64_t now = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, now] { loop(i, now); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void loop(int index, uint64_t seen) {
    tlsIndex = index;
    tlsInJob = true;
    for (;;) {
      // Spin briefly: training issues kernels back to back.
      uint64_t g = seen;
      for (int spin = 0; spin < 20000; ++spin) {
        g = generation_.load(std::memory_order_acquire);
        if (g != seen) break;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      const std::function<void(int64_t)>* task;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        seen = generation_.load(std::memory_order_relaxed);
        task = task_;
        if (task) active_.fetch_add(1, std::memory_order_relaxed);
      }
      if (task) {
        drain(*task);
        active_.fetch_sub(1, std::memory_order_release);
      }
    }
  }
};

Pool& pool() {
  static Pool* p = new Pool(defaultThreads());  // never destroyed: avoids exit-order races
  return *p;
}

}  // namespace

int numThreads() { return pool().size(); }
void setNumThreads(int n) { pool().resize(n < 1 ? 1 : n); }
void parallelFor(int64_t count, const std::function<void(int64_t)>& task) { pool().run(count, task); }
int threadIndex() { return tlsIndex; }
bool inParallelTask() { return tlsInJob; }

}  // namespace kiln
