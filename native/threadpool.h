// A persistent pool of worker threads sized to the cores (KILN_THREADS to
// override). The calling thread takes part in every job. Kernels split work into
// tasks whose results do not depend on which thread runs them or how many
// threads exist, so results are bit-identical for any thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

namespace kiln {

int numThreads();
// Resizes the pool (n >= 1). Not thread-safe with respect to running jobs.
void setNumThreads(int n);

// Calls task(i) for every i in [0, count), spread over the pool; returns when
// all are done. Tasks are handed out dynamically, so a task must write only
// its own outputs. Called from inside a task, it runs serially.
void parallelFor(int64_t count, const std::function<void(int64_t)>& task);

// Calls item(i) for every i in [0, count) in contiguous runs, a few per
// thread: for items that write neighbouring memory (the channels of 2x2 or
// 4x4 planes), which one task per item would have two threads writing into
// the same cache lines at once (measured: batch norm's backward 20 % faster).
template <class Item>
void parallelRuns(int64_t count, const Item& item) {
  const int64_t runs = std::min<int64_t>(count, 8 * static_cast<int64_t>(numThreads()));
  parallelFor(runs, [&](int64_t r) {
    for (int64_t i = count * r / runs; i < count * (r + 1) / runs; ++i) item(i);
  });
}

// Whether the caller runs inside a parallelFor task (where a nested
// parallelFor runs serially): work split for threads there is wasted.
bool inParallelTask();

// Index of the calling thread within the current job: 0 .. numThreads()-1.
// Useful for per-thread scratch buffers; never for choosing results.
int threadIndex();

}  // namespace kiln
