// The blocked GEMM driver shared by plain GEMM and the convolutions.
//
// C[M x N] = op(A)[M x K] * op(B)[K x N], where a Problem says how to pack
// panels of A and B (plain matrices, or implicit im2col straight from an
// image) and how to store a finished tile (plain rows, or NCHW planes).
//
// Loop nest (BLIS-like): pack A into panels for a group of depth blocks (kKC
// each; all of K when it fits), in parallel; then compute C in parallel
// tasks: for each depth block of the group in order, a task packs a chunk of
// B's columns into its thread's buffer and runs every A micro-panel of its
// rows over it (A micro-panel outer, so it stays in L1).
// Every element of C is computed by exactly one micro-kernel call per depth
// block, depth blocks in increasing order, so results do not depend on the
// thread count or on how tiles are spread over threads.
//
// A Problem provides:
//   void packA(float* dst, int mrMax, int64_t i0, int rows, int64_t p0, int64_t kc) const;
//   void packB(float* dst, int nrMax, int64_t p0, int64_t kc, int64_t j0, int cols) const;
//   void tile(const MicroKernel&, const float* ap, const float* bp, int64_t kc,
//             int64_t i0, int64_t j0, int rows, int cols, bool firstK, bool lastK) const;
// packA writes kc*mrMax floats (rows past `rows` zero); packB writes kc*nrMax.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "gemm.h"
#include "threadpool.h"

namespace kiln {

// Depth of a block: an A micro-panel (14 x 512 floats, 28 KB) stays in L1
// while the task streams B micro-panels (512 x 32 floats) past it from L2.
// Deeper blocks mean fewer passes that reload and store C (measured: 512
// beats 256 by ~10 % on 1024^3; 1024 no longer keeps A in L1).
constexpr int64_t kKC = 512;
// Most columns of B per task: its packed chunk (512 x 512 floats, 1 MB)
// stays in the 2 MB L2 while the task's A micro-panels pass over it.
constexpr int64_t kTaskColumns = 512;
// Below this many floats of A (256 KB), A stays in every core's L2 anyway:
// column chunks then beat a shared B, which each core would read half of from
// the other core's cache (measured: yolov8n's 64x576 convolutions over 20x20).
constexpr int64_t kSharedBMinA = 256 << 10;
// Most floats of packed A held at once (16 MB).
constexpr int64_t kPackedAMax = 4 << 20;

// A 64-byte aligned scratch buffer that grows and is never shrunk, so steady
// state calls do not allocate.
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(data_); }
  float* get(size_t n) {
    if (n > cap_) {
      std::free(data_);
      size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      cap_ = n;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t cap_ = 0;
};

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The calling thread's packing buffers, shared by every kind of GEMM (one
// set per thread, not one per Problem type). A GEMM started inside another
// kernel's task, where parallelFor runs serially, uses its own thread's set.
inline ScratchBuffer& packedABuffer() {
  thread_local ScratchBuffer buffer;
  return buffer;
}
inline ScratchBuffer& packedBBuffer() {
  thread_local ScratchBuffer buffer;
  return buffer;
}
// All of B's columns for a group of depth blocks, packed once and read by every task.
inline ScratchBuffer& sharedBBuffer() {
  thread_local ScratchBuffer buffer;
  return buffer;
}

// A's rows spread evenly over its micro-panels (64 rows with MR 14:
// 13+13+13+13+12, not 14+14+14+14+8), so that no panel runs a short,
// inefficient tile.
struct APanels {
  int64_t count, base, extra;
  APanels(int64_t M, int MR) : count(ceilDiv(M, MR)), base(M / count), extra(M % count) {}
  int64_t start(int64_t ip) const { return ip * base + std::min(ip, extra); }
  int rows(int64_t ip) const { return static_cast<int>(base + (ip < extra ? 1 : 0)); }
};

// A or B packed whole, once: every depth block's panels in the layout
// runBlockedGemm reads (block b at b * panels * width * kKC, panel i at
// i * width * kc within it). A caller that multiplies by the same weights
// many times (inference) packs them once and passes them as Prepacked.
struct Prepacked {
  const float* a = nullptr;
  const float* b = nullptr;
};

inline int64_t packedLength(int64_t rows, int width, int64_t K) {
  return ceilDiv(rows, width) * width * kKC * ceilDiv(K, kKC);
}

// A's panels: MR rows each, rows spread evenly (APanels).
template <class Problem>
void packAllA(const MicroKernel& uk, const Problem& pr, int64_t M, int64_t K, float* dst) {
  const APanels panels(M, uk.mr);
  const int64_t blockFloats = panels.count * uk.mr * kKC;
  parallelFor(ceilDiv(K, kKC) * panels.count, [&](int64_t t) {
    const int64_t blk = t / panels.count, ip = t % panels.count, pc = blk * kKC, kc = std::min(kKC, K - pc);
    pr.packA(dst + blk * blockFloats + ip * uk.mr * kc, uk.mr, panels.start(ip), panels.rows(ip), pc, kc);
  });
}

// B's panels: NR columns each, the last one short.
template <class Problem>
void packAllB(const MicroKernel& uk, const Problem& pr, int64_t N, int64_t K, float* dst) {
  const int64_t count = ceilDiv(N, uk.nr), blockFloats = count * uk.nr * kKC;
  parallelFor(ceilDiv(K, kKC) * count, [&](int64_t t) {
    const int64_t blk = t / count, jp = t % count, pc = blk * kKC, kc = std::min(kKC, K - pc), j0 = jp * uk.nr;
    pr.packB(dst + blk * blockFloats + jp * uk.nr * kc, uk.nr, pc, kc, j0, static_cast<int>(std::min<int64_t>(uk.nr, N - j0)));
  });
}

template <class Problem>
void runBlockedGemm(const MicroKernel& uk, const Problem& pr, int64_t M, int64_t N, int64_t K, Prepacked pre = {}) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  const int MR = uk.mr, NR = uk.nr;
  const APanels panels(M, MR);
  const int64_t aPanels = panels.count;
  auto panelStart = [&](int64_t ip) { return panels.start(ip); };
  auto panelRows = [&](int64_t ip) { return panels.rows(ip); };
  // Tasks: column chunks first (each packs its own B chunk, so more chunks
  // cost nothing extra), then row blocks if there are still too few to keep
  // every thread busy to the end. Task shape never changes results.
  // Inside another job's task (a Winograd GEMM, a weight-gradient slice) this
  // GEMM runs on one thread: split for more, row blocks would each repack B.
  const int threads = inParallelTask() ? 1 : numThreads();
  const bool serial = threads == 1 || static_cast<double>(M) * N * K < 64.0 * 64 * 64;
  const int64_t bPanels = ceilDiv(N, NR);
  const int64_t wantTasks = serial ? 1 : 4 * threads;
  // A multiple of the thread count where there are enough panels: 13 chunks
  // on 2 threads would leave one idle for the last.
  const int64_t colChunks =
      std::min(bPanels, ceilDiv(std::max(ceilDiv(N, kTaskColumns), wantTasks), threads) * threads);
  const int64_t panelsPerChunk = ceilDiv(bPanels, colChunks);
  const int64_t rowBlocks = std::min(aPanels, ceilDiv(wantTasks, colChunks));
  auto forEach = [serial](int64_t count, const auto& fn) {
    if (serial) {
      for (int64_t i = 0; i < count; ++i) fn(i);
    } else {
      parallelFor(count, fn);
    }
  };

  // A is packed for several depth blocks at once (all of them when it fits
  // kPackedAMax), so that each task then runs through those blocks on its own:
  // two thread-pool jobs per group of depth blocks, not two per block.
  const int64_t aBlockFloats = aPanels * MR * kKC, bBlockFloats = bPanels * NR * kKC;
  const int64_t blocks = ceilDiv(K, kKC);
  const int64_t blocksPerGroup = std::clamp<int64_t>(kPackedAMax / aBlockFloats, 1, blocks);
  float* aPack = pre.a ? nullptr : packedABuffer().get(static_cast<size_t>(aBlockFloats * blocksPerGroup));
  // The packed A of the depth blocks from b0 on.
  auto aGroup = [&](int64_t b0) { return pre.a ? pre.a + b0 * aBlockFloats : aPack; };
  const int64_t aPacks = pre.a ? 0 : aPanels;

  // Few columns (a convolution over small planes, a short batch): B's whole
  // width fits L2, so it is packed once, shared, next to A, and the tasks split
  // A's rows. Column chunks would each stream all of A from memory again (a
  // 512 x 4608 weight matrix read four times for N = 128) and repack B per row
  // block. The micro-kernel calls are the same either way, so are the results.
  if (!serial && bPanels * NR <= kTaskColumns && aPanels >= 2 && M * K > kSharedBMinA) {
    float* bShared = pre.b ? nullptr : sharedBBuffer().get(static_cast<size_t>(bBlockFloats * blocksPerGroup));
    const int64_t bPacks = pre.b ? 0 : bPanels;
    for (int64_t b0 = 0; b0 < blocks; b0 += blocksPerGroup) {
      const int64_t b1 = std::min(blocks, b0 + blocksPerGroup);
      const int64_t packsPerBlock = aPacks + bPacks;
      if (packsPerBlock > 0) {
        forEach((b1 - b0) * packsPerBlock, [&](int64_t t) {
          const int64_t blk = b0 + t / packsPerBlock, item = t % packsPerBlock, pc = blk * kKC, kc = std::min(kKC, K - pc);
          if (item < aPacks) {
            pr.packA(aPack + (blk - b0) * aBlockFloats + item * MR * kc, MR, panelStart(item), panelRows(item), pc, kc);
          } else {
            const int64_t jp = item - aPacks, j0 = jp * NR;
            pr.packB(bShared + (blk - b0) * bBlockFloats + jp * NR * kc, NR, pc, kc, j0,
                     static_cast<int>(std::min<int64_t>(NR, N - j0)));
          }
        });
      }
      // Depth block by block, over tasks that each take an even share of the
      // (A panel, B panel) tiles in A-panel-major order (an A panel stays in
      // L1 across its run of B panels; B's block, <= 1 MB, stays in L2). Not
      // one A panel per task: 5 panels on 2 threads would leave one idle 1/6
      // of the time.
      const int64_t tiles = aPanels * bPanels, tasks = std::min(tiles, 4 * static_cast<int64_t>(threads));
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t pc = blk * kKC, kc = std::min(kKC, K - pc);
        const bool firstK = pc == 0, lastK = pc + kc >= K;
        const float* aBlock = aGroup(b0) + (blk - b0) * aBlockFloats;
        const float* bBlock = pre.b ? pre.b + blk * bBlockFloats : bShared + (blk - b0) * bBlockFloats;
        forEach(tasks, [&](int64_t task) {
          for (int64_t t = tiles * task / tasks; t < tiles * (task + 1) / tasks; ++t) {
            const int64_t ip = t / bPanels, jp = t % bPanels, j0 = jp * NR;
            const int cols = static_cast<int>(std::min<int64_t>(NR, N - j0));
            pr.tile(uk, aBlock + ip * MR * kc, bBlock + jp * NR * kc, kc, panelStart(ip), j0, panelRows(ip), cols,
                    firstK, lastK);
          }
        });
      }
    }
    return;
  }

  for (int64_t b0 = 0; b0 < blocks; b0 += blocksPerGroup) {
    const int64_t b1 = std::min(blocks, b0 + blocksPerGroup);
    if (aPacks > 0) {
      forEach((b1 - b0) * aPanels, [&](int64_t t) {
        const int64_t blk = b0 + t / aPanels, ip = t % aPanels, pc = blk * kKC, kc = std::min(kKC, K - pc);
        pr.packA(aPack + (blk - b0) * aBlockFloats + ip * MR * kc, MR, panelStart(ip), panelRows(ip), pc, kc);
      });
    }
    forEach(colChunks * rowBlocks, [&](int64_t t) {
      const int64_t cb = t / rowBlocks, rb = t % rowBlocks;
      // Panels spread evenly over chunks and row blocks (50 panels in 8
      // chunks: 6 or 7 each, not seven 7s and a 1), so threads finish together.
      const int64_t jpBegin = bPanels * cb / colChunks, jpEnd = bPanels * (cb + 1) / colChunks;
      const int64_t ipBegin = aPanels * rb / rowBlocks, ipEnd = aPanels * (rb + 1) / rowBlocks;
      // This task's B chunk, packed into the running thread's own buffer
      // (grown once), where it stays in L2 while the A panels pass over it.
      float* bPack = pre.b ? nullptr : packedBBuffer().get(static_cast<size_t>(panelsPerChunk * NR * kKC));
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t pc = blk * kKC, kc = std::min(kKC, K - pc);
        const bool firstK = pc == 0, lastK = pc + kc >= K;
        const float* aBlock = aGroup(b0) + (blk - b0) * aBlockFloats;
        // B panel jp of this block: bChunk + (jp - jpBegin) * NR * kc.
        const float* bChunk = pre.b ? pre.b + blk * bBlockFloats + jpBegin * NR * kc : bPack;
        if (!pre.b) {
          for (int64_t jp = jpBegin; jp < jpEnd; ++jp) {
            const int64_t j0 = jp * NR;
            pr.packB(bPack + (jp - jpBegin) * NR * kc, NR, pc, kc, j0, static_cast<int>(std::min<int64_t>(NR, N - j0)));
          }
        }
        for (int64_t ip = ipBegin; ip < ipEnd; ++ip) {
          const int64_t i0 = panelStart(ip);
          const int rows = panelRows(ip);
          for (int64_t jp = jpBegin; jp < jpEnd; ++jp) {
            const int64_t j0 = jp * NR;
            const int cols = static_cast<int>(std::min<int64_t>(NR, N - j0));
            pr.tile(uk, aBlock + ip * MR * kc, bChunk + (jp - jpBegin) * NR * kc, kc, i0, j0, rows, cols, firstK, lastK);
          }
        }
      }
    });
  }
}

// Portable packers (see PackFn in gemm.h).
inline void packTransposedPortable(float* dst, int width, const float* src, int64_t ld, int rows, int64_t kc) {
  for (int i = 0; i < rows; ++i) {
    const float* s = src + i * ld;
    for (int64_t p = 0; p < kc; ++p) dst[p * width + i] = s[p];
  }
  for (int i = rows; i < width; ++i)
    for (int64_t p = 0; p < kc; ++p) dst[p * width + i] = 0.0f;
}

inline void packStraightPortable(float* dst, int width, const float* src, int64_t ld, int cols, int64_t kc) {
  for (int64_t p = 0; p < kc; ++p) {
    float* d = dst + p * width;
    std::memcpy(d, src + p * ld, sizeof(float) * static_cast<size_t>(cols));
    for (int j = cols; j < width; ++j) d[j] = 0.0f;
  }
}

// Packs rows x kc of a matrix whose rows are panel rows (element (i, p) at
// src[i*ld + p]) into k-major order: dst[p*width + i]. Rows past `rows` are zero.
inline void packTransposed(float* dst, int width, const float* src, int64_t ld, int rows, int64_t kc) {
  const PackFn simd = activeMicroKernel().packTransposed;
  (simd ? simd : packTransposedPortable)(dst, width, src, ld, rows, kc);
}

// Packs kc x cols of a matrix stored k-major (element (p, j) at src[p*ld + j])
// into dst[p*width + j]. Columns past `cols` are zero.
inline void packStraight(float* dst, int width, const float* src, int64_t ld, int cols, int64_t kc) {
  const PackFn simd = activeMicroKernel().packStraight;
  (simd ? simd : packStraightPortable)(dst, width, src, ld, cols, kc);
}

}  // namespace kiln
