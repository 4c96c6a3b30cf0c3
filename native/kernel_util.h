// Shared helpers of the baseline kernel files: argument checks that name the
// kernel and the array, fixed-size work splitting, per-thread scratch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "napi_util.h"
#include "threadpool.h"

namespace kiln {

// Element count of a typed array argument must equal what the shapes imply.
inline void requireLength(size_t got, int64_t want, const char* kernel, const char* array) {
  if (want < 0 || got != static_cast<size_t>(want))
    throw JsError(std::string("kiln: ") + kernel + ": " + array + " has " + std::to_string(got) +
                  " elements, expected " + std::to_string(want));
}

// A non-negative integer argument (sizes, counts).
inline int64_t sizeArg(const Args& a, size_t i, const char* kernel, const char* name) {
  int64_t v = a.integer(i);
  if (v < 0) throw JsError(std::string("kiln: ") + kernel + ": " + name + " must be >= 0");
  return v;
}

// Product of sizes, refusing negative sizes and overflow past 2^62.
inline int64_t checkedProduct(const int32_t* dims, size_t rank, const char* kernel) {
  int64_t p = 1;
  for (size_t i = 0; i < rank; ++i) {
    if (dims[i] < 0) throw JsError(std::string("kiln: ") + kernel + ": negative size in shape");
    if (dims[i] != 0 && p > (int64_t{1} << 62) / dims[i])
      throw JsError(std::string("kiln: ") + kernel + ": shape too large");
    p *= dims[i];
  }
  return p;
}

// parallelFor for any callable: the std::function it builds holds one
// pointer, small enough to live inside it (no heap allocation per call).
template <class Task>
void parallelTasks(int64_t count, const Task& task) {
  parallelFor(count, [t = &task](int64_t i) { (*t)(i); });
}

// Calls body(begin, end) over [0, n) in chunks of `grain` spread over the
// pool. The chunks depend only on n and grain, never on the thread count.
template <class Body>
void parallelRanges(int64_t n, int64_t grain, const Body& body) {
  if (n <= 0) return;
  int64_t tasks = (n + grain - 1) / grain;
  if (tasks == 1) {
    body(int64_t{0}, n);
    return;
  }
  parallelTasks(tasks, [&](int64_t t) {
    int64_t begin = t * grain;
    body(begin, begin + grain < n ? begin + grain : n);
  });
}

// Element-wise work: 32 K floats (128 KiB) per task keeps the pool's
// hand-off cost small next to the work.
constexpr int64_t kElementwiseGrain = 32768;

// Copies a tile-transposed 2-D block, rows a0 .. a1 of dim a (contiguous in
// the source) by all of dim b (the innermost, contiguous in the destination),
// 16 b at a time: a 64-byte line of each side per row of the tile.
constexpr int64_t kTileB = 16;
inline void copyTiles(const float* src, float* dst, int64_t srcA, int64_t dstA, int64_t sizeB, int64_t srcB, int64_t a0,
                      int64_t a1) {
  for (int64_t b0 = 0; b0 < sizeB; b0 += kTileB) {
    const int64_t b1 = sizeB < b0 + kTileB ? sizeB : b0 + kTileB;
    for (int64_t a = a0; a < a1; ++a) {
      const float* s = src + a * srcA;
      float* d = dst + a * dstA;
      for (int64_t b = b0; b < b1; ++b) d[b] = s[b * srcB];
    }
  }
}

// Per-thread scratch reused across calls (no allocation in the steady state):
// `callScratch` for the calling thread outside tasks (e.g. partial sums the
// tasks fill), `taskScratch` inside a task. Distinct so they never clobber.
inline std::vector<double>& callScratch() {
  thread_local std::vector<double> v;
  return v;
}
inline std::vector<double>& taskScratch() {
  thread_local std::vector<double> v;
  return v;
}

}  // namespace kiln
