// Convolution as GEMM with the im2col done inside the packing routines (no
// column buffer for the forward pass and the weight gradient). The batch is
// folded into the GEMM's N (forward) or K (weight gradient) dimension, so that
// small feature maps still make large GEMMs. One group per GEMM.
//
// Column index j of the forward GEMM is (image n, output pixel q): j = n*P + q
// with P = outH*outW; row k of the depth is (input channel c, tap ky, kx):
// k = (c*kh + ky)*kw + kx.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "conv.h"
#include "gemm_driver.h"
#include "vec_table.h"

namespace kiln {

// Columns of a panel that share (image, output row) read one input-row segment.
struct PixelRun {
  int col;  // first column of the run within the panel
  int len;
  int64_t n, oy, ox;
};

// Splits columns j0 .. j0+cols of (n, oy, ox) into runs; returns their count.
inline int splitPixelRuns(const ConvGeometry& g, int64_t j0, int cols, PixelRun* runs) {
  const int64_t P = g.outPlane();
  int count = 0;
  for (int col = 0; col < cols;) {
    const int64_t j = j0 + col, n = j / P, q = j % P, oy = q / g.outW, ox = q % g.outW;
    const int len = static_cast<int>(std::min<int64_t>(cols - col, g.outW - ox));
    runs[count++] = PixelRun{col, len, n, oy, ox};
    col += len;
  }
  return count;
}

// out[t] = input row at ix0 + t*stride for t < len, 0 outside [0, w).
inline void gatherRow(float* out, const float* src, int64_t ix0, int64_t stride, int len, int64_t w) {
  if (stride == 1) {
    const int lo = static_cast<int>(std::clamp<int64_t>(-ix0, 0, len));
    const int hi = static_cast<int>(std::clamp<int64_t>(w - ix0, lo, len));
    // Plain loops, not memcpy: the runs are short (one output row).
    for (int t = 0; t < lo; ++t) out[t] = 0.0f;
    for (int t = lo; t < hi; ++t) out[t] = src[ix0 + t];
    for (int t = hi; t < len; ++t) out[t] = 0.0f;
    return;
  }
  for (int t = 0; t < len; ++t) {
    const int64_t ix = ix0 + t * stride;
    out[t] = ix >= 0 && ix < w ? src[ix] : 0.0f;
  }
}

inline void im2colPortable(float* dst, int width, int64_t kc, int64_t p0, int64_t taps, int64_t chanStride,
                           int stride, const float* x, const Im2colSegment* table, int segsPerTap) {
  int64_t c = p0 / taps, tap = p0 % taps;
  for (int64_t p = 0; p < kc; ++p) {
    const float* base = x + c * chanStride;
    const Im2colSegment* seg = table + tap * segsPerTap;
    for (int s = 0; s < segsPerTap; ++s) {
      float* out = dst + p * width + seg[s].col;
      for (int t = 0; t < seg[s].len; ++t) {
        const int bit = t * stride;
        out[t] = (seg[s].mask >> bit) & 1u ? base[seg[s].offset + bit] : 0.0f;
      }
    }
    if (++tap == taps) tap = 0, ++c;
  }
}

// Builds the segment table of a panel (columns j0 .. j0+cols of width),
// stride 1 or 2: for each tap, the same split of the panel's pixel runs into
// pieces of at most 16 (and zero pieces for columns past `cols`). Offsets
// count from channel 0 of the group in image 0. Only the `tapCount` taps from
// `tapBegin` on (cyclically) are filled: the ones the depth rows use.
// Returns segments per tap.
inline int buildIm2colTable(const ConvGeometry& g, int64_t cBase, int64_t j0, int cols, int width,
                            int64_t tapBegin, int64_t tapCount, Im2colSegment* table) {
  PixelRun runs[kKC];
  const int nRuns = splitPixelRuns(g, j0, cols, runs);
  int count = (width - cols + 15) / 16;
  for (int r = 0; r < nRuns; ++r) count += (runs[r].len + 15) / 16;
  const int64_t s = g.strideW, span = 16 * s;  // source elements a segment's mask covers
  for (int64_t step = 0; step < tapCount; ++step) {
    const int64_t tap = (tapBegin + step) % g.taps(), ky = tap / g.kw, kx = tap % g.kw;
    Im2colSegment* out = table + tap * count;
    int k = 0;
    for (int r = 0; r < nRuns; ++r) {
      const PixelRun& run = runs[r];
      const int64_t iy = run.oy * g.strideH - g.padH + ky * g.dilH;
      const bool rowValid = iy >= 0 && iy < g.h;
      const int64_t rowStart = ((run.n * g.cIn + cBase) * g.h + (rowValid ? iy : 0)) * g.w;
      for (int t0 = 0; t0 < run.len; t0 += 16) {
        const int len = std::min(16, run.len - t0);
        const int64_t ix = (run.ox + t0) * s - g.padW + kx * g.dilW;
        // Bits [lo, hi): source elements inside the row that the lanes read.
        const int64_t lo = std::clamp<int64_t>(-ix, 0, span);
        const int64_t hi = std::clamp<int64_t>(g.w - ix, lo, std::min<int64_t>(span, (len - 1) * s + 1));
        const uint32_t mask =
            rowValid ? static_cast<uint32_t>(((uint64_t{1} << hi) - 1) & ~((uint64_t{1} << lo) - 1)) : 0u;
        out[k++] = Im2colSegment{rowStart + ix, mask, run.col + t0, len};
      }
    }
    for (int c = cols; c < width; c += 16) out[k++] = Im2colSegment{0, 0, c, std::min(16, width - c)};
  }
  return count;
}

// dst[r*width + c] = im2col(x)[row0 + r][pixel0 + c] for r < rows, c < width
// (0 for c >= pixels), for a stride of 1 or 2 and width <= kKC.
inline void im2colBlock(const ConvGeometry& g, int64_t cBase, const float* x, float* dst, int width, int64_t row0,
                        int64_t rows, int64_t pixel0, int pixels) {
  thread_local std::vector<Im2colSegment> table;
  table.resize(static_cast<size_t>(g.taps() * (width + width / 8 + 2)));
  const int segs = buildIm2colTable(g, cBase, pixel0, pixels, width, row0 % g.taps(), std::min(rows, g.taps()),
                                    table.data());
  static const Im2colFn simd = activeMicroKernel().im2col;
  (simd ? simd : im2colPortable)(dst, width, rows, row0, g.taps(), g.inPlane(), static_cast<int>(g.strideW), x,
                                 table.data(), segs);
}

// dst[r*width + c] = im2col(x)[p0 + r][j0 + c] for r < kc, c < cols (0 for
// c >= cols): the image's columns for a depth block, any stride.
inline void packIm2col(const ConvGeometry& g, int64_t group, const float* x, float* dst, int width, int64_t p0,
                       int64_t kc, int64_t j0, int cols) {
  const int64_t taps = g.taps(), cBase = group * g.cInG();
  if (g.strideW <= 2 && width <= kKC) {  // table-driven: index arithmetic once per panel
    im2colBlock(g, cBase, x, dst, width, p0, kc, j0, cols);
    return;
  }
  PixelRun runs[64];
  const int nRuns = splitPixelRuns(g, j0, cols, runs);
  int64_t c = p0 / taps, ky = (p0 % taps) / g.kw, kx = p0 % g.kw;
  for (int64_t p = 0; p < kc; ++p) {
    float* d = dst + p * width;
    for (int r = 0; r < nRuns; ++r) {
      const PixelRun& run = runs[r];
      const int64_t iy = run.oy * g.strideH - g.padH + ky * g.dilH;
      float* out = d + run.col;
      if (iy < 0 || iy >= g.h) {
        for (int t = 0; t < run.len; ++t) out[t] = 0.0f;
        continue;
      }
      const float* src = x + ((run.n * g.cIn + cBase + c) * g.h + iy) * g.w;
      gatherRow(out, src, run.ox * g.strideW - g.padW + kx * g.dilW, g.strideW, run.len, g.w);
    }
    for (int j = cols; j < width; ++j) d[j] = 0.0f;
    if (++kx == g.kw) {
      kx = 0;
      if (++ky == g.kh) ky = 0, ++c;
    }
  }
}

// The fused epilogue, in place: row = act(row + bias), vectorised.
inline void finishRow(float* row, int64_t count, float bias, int act, float alpha) {
  vec().biasAct(row, count, bias, act, alpha);
}

// y[n, group's channels] = act(W_group * im2col(x) + bias): M = cOutG,
// N = batch*P, K = depth.
struct ConvForwardProblem {
  const ConvGeometry& g;
  int64_t group;
  const float* x;
  const float* w;
  const float* bias;  // may be null
  float* y;
  int act;
  float alpha;
  // When set (small output planes, where most tiles would straddle images):
  // C goes to this plain [cOutG x batch*P] matrix instead, and the caller
  // moves it into y with the epilogue once all depth blocks are done.
  float* staging = nullptr;
  // Backward input as a forward pass: w is the original convolution's weight
  // ([g.cIn x g.cOutG() x taps], g being the swapped geometry), read flipped
  // in space with the channel roles swapped, so no flipped copy is made.
  bool flippedWeights = false;

  void packA(float* dst, int width, int64_t i0, int rows, int64_t p0, int64_t kc) const {
    const int64_t K = g.depth();
    if (!flippedWeights) {
      packTransposed(dst, width, w + (group * g.cOutG() + i0) * K + p0, K, rows, kc);
      return;
    }
    // Row i (output channel of the swapped pass = input channel ci of the
    // original), depth k = (original output channel co, tap).
    const int64_t taps = g.taps(), rowStride = taps, coStride = g.cOutG() * taps;
    const float* base = w + (group * g.cInG() * g.cOutG() + i0) * taps;
    int64_t co = p0 / taps, tap = p0 % taps;
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = base + co * coStride + (taps - 1 - tap);
      float* d = dst + p * width;
      for (int i = 0; i < rows; ++i) d[i] = src[i * rowStride];
      for (int i = rows; i < width; ++i) d[i] = 0.0f;
      if (++tap == taps) tap = 0, ++co;
    }
  }

  void packB(float* dst, int width, int64_t p0, int64_t kc, int64_t j0, int cols) const {
    packIm2col(g, group, x, dst, width, p0, kc, j0, cols);
  }

  void tile(const MicroKernel& uk, const float* ap, const float* bp, int64_t kc, int64_t i0, int64_t j0, int rows,
            int cols, bool firstK, bool lastK) const {
    const int64_t P = g.outPlane(), n0 = j0 / P, q0 = j0 % P, co0 = group * g.cOutG() + i0;
    if (staging) {
      const int64_t N = g.n * P;
      uk.run(kc, ap, bp, staging + i0 * N + j0, N, 1.0f, firstK ? 0.0f : 1.0f, rows, cols);
      return;
    }
    if (q0 + cols <= P) {  // the tile lies in one image: store straight into its planes
      float* c = y + (n0 * g.cOut + co0) * P + q0;
      uk.run(kc, ap, bp, c, P, 1.0f, firstK ? 0.0f : 1.0f, rows, cols);
      if (lastK && (bias || act != kActNone))
        for (int i = 0; i < rows; ++i) finishRow(c + i * P, cols, bias ? bias[co0 + i] : 0.0f, act, alpha);
      return;
    }
    // The tile straddles images: compute into a small tile, then scatter
    // each row's per-image pieces (found once for the whole tile).
    alignas(64) float tmp[16 * 64];
    uk.run(kc, ap, bp, tmp, uk.nr, 1.0f, 0.0f, rows, cols);
    int pieceCol[65], pieceLen[65];
    int64_t pieceOffset[65];  // offset of (image, pixel) from the tile's first channel plane
    int pieces = 0;
    for (int col = 0, n = static_cast<int>(n0), q = static_cast<int>(q0); col < cols; ++n, q = 0) {
      const int len = static_cast<int>(std::min<int64_t>(cols - col, P - q));
      pieceCol[pieces] = col;
      pieceLen[pieces] = len;
      pieceOffset[pieces++] = (n * g.cOut + co0) * P + q;
      col += len;
    }
    for (int i = 0; i < rows; ++i) {
      const float* srcRow = tmp + i * uk.nr;
      for (int k = 0; k < pieces; ++k) {
        float* dst = y + pieceOffset[k] + i * P;
        const float* src = srcRow + pieceCol[k];
        const int len = pieceLen[k];
        if (firstK) {
          for (int t = 0; t < len; ++t) dst[t] = src[t];
        } else {
          for (int t = 0; t < len; ++t) dst[t] += src[t];
        }
        if (lastK && (bias || act != kActNone)) finishRow(dst, len, bias ? bias[co0 + i] : 0.0f, act, alpha);
      }
    }
  }
};

// The forward convolution with the GEMM's roles swapped: output pixels are
// the rows and channels the columns (the vector lanes), C[n*P + q][co] into a
// [batch*P x cOutG] staging matrix: M = batch*P, N = cOutG, K = depth. Every
// element is the same sum, in the same order, as in ConvForwardProblem.
struct ConvForwardPixelsProblem {
  const ConvGeometry& g;
  int64_t group;
  const float* x;
  const float* w;
  float* staging;

  void packA(float* dst, int width, int64_t i0, int rows, int64_t p0, int64_t kc) const {
    packIm2col(g, group, x, dst, width, p0, kc, i0, rows);
  }

  void packB(float* dst, int width, int64_t p0, int64_t kc, int64_t j0, int cols) const {
    const int64_t K = g.depth();
    packTransposed(dst, width, w + (group * g.cOutG() + j0) * K + p0, K, cols, kc);
  }

  void tile(const MicroKernel& uk, const float* ap, const float* bp, int64_t kc, int64_t i0, int64_t j0, int rows,
            int cols, bool firstK, bool) const {
    const int64_t ld = g.cOutG();
    uk.run(kc, ap, bp, staging + i0 * ld + j0, ld, 1.0f, firstK ? 0.0f : 1.0f, rows, cols);
  }
};

// col[k, (n - n0)*P + q] = sum over the group's output channels of
// W[co, k] * dy[n, co, q] for images n0 .. n0+nb: M = depth, N = nb*P, K = cOutG.
struct ConvColumnsProblem {
  const ConvGeometry& g;
  int64_t group, n0;
  const float* dy;
  const float* w;
  float* col;
  int64_t cols;  // N: nb*P, the column buffer's row length

  void packA(float* dst, int width, int64_t i0, int rows, int64_t p0, int64_t kc) const {
    const int64_t K = g.depth();
    packStraight(dst, width, w + (group * g.cOutG() + p0) * K + i0, K, rows, kc);
  }

  void packB(float* dst, int width, int64_t p0, int64_t kc, int64_t j0, int nCols) const {
    const int64_t P = g.outPlane();
    for (int64_t p = 0; p < kc; ++p) {
      float* d = dst + p * width;
      const int64_t co = group * g.cOutG() + p0 + p;
      for (int c = 0; c < nCols;) {
        const int64_t j = j0 + c, n = n0 + j / P, q = j % P;
        const int len = static_cast<int>(std::min<int64_t>(nCols - c, P - q));
        const float* src = dy + (n * g.cOut + co) * P + q;
        for (int t = 0; t < len; ++t) d[c + t] = src[t];  // short runs: a loop beats memcpy
        c += len;
      }
      for (int j = nCols; j < width; ++j) d[j] = 0.0f;
    }
  }

  void tile(const MicroKernel& uk, const float* ap, const float* bp, int64_t kc, int64_t i0, int64_t j0, int rows,
            int nCols, bool firstK, bool) const {
    uk.run(kc, ap, bp, col + i0 * cols + j0, cols, 1.0f, firstK ? 0.0f : 1.0f, rows, nCols);
  }
};

// dW_group = dy_group * im2col(x)^T: M = cOutG, N = depth, K = batch*P.
struct ConvWeightGradProblem {
  const ConvGeometry& g;
  int64_t group;
  const float* x;
  const float* dy;
  float* dw;

  void packA(float* dst, int width, int64_t i0, int rows, int64_t p0, int64_t kc) const {
    const int64_t P = g.outPlane(), co0 = group * g.cOutG() + i0;
    for (int64_t p = 0; p < kc;) {  // one run per image: dy's rows are contiguous there
      const int64_t j = p0 + p, n = j / P, q = j % P, len = std::min(kc - p, P - q);
      packTransposed(dst + p * width, width, dy + (n * g.cOut + co0) * P + q, P, rows, len);
      p += len;
    }
  }

  // Gathers each column's im2col row (kc pixels) into a scratch block, then
  // packs the block transposed.
  void packB(float* dst, int width, int64_t p0, int64_t kc, int64_t j0, int cols) const {
    thread_local ScratchBuffer lineBuf;
    float* lines = lineBuf.get(static_cast<size_t>(width * kc));
    if (g.strideW <= 2) {  // the im2col rows of these columns, as in the forward pass
      im2colBlock(g, group * g.cInG(), x, lines, static_cast<int>(kc), j0, cols, p0, static_cast<int>(kc));
      packTransposed(dst, width, lines, kc, cols, kc);
      return;
    }
    PixelRun runs[kKC];  // the depth block's pixels, split where (n, oy) changes
    const int nRuns = splitPixelRuns(g, p0, static_cast<int>(kc), runs);
    const int64_t taps = g.taps(), cBase = group * g.cInG();
    for (int t = 0; t < cols; ++t) {
      const int64_t k = j0 + t, c = k / taps, ky = (k % taps) / g.kw, kx = k % g.kw;
      const int64_t rowOffset = ky * g.dilH - g.padH, colOffset = kx * g.dilW - g.padW;
      float* line = lines + t * kc;
      for (int r = 0; r < nRuns; ++r) {
        const PixelRun& run = runs[r];
        const int64_t iy = run.oy * g.strideH + rowOffset;
        float* out = line + run.col;
        if (iy < 0 || iy >= g.h) {
          for (int u = 0; u < run.len; ++u) out[u] = 0.0f;
        } else {
          const float* src = x + ((run.n * g.cIn + cBase + c) * g.h + iy) * g.w;
          gatherRow(out, src, run.ox * g.strideW + colOffset, g.strideW, run.len, g.w);
        }
      }
    }
    packTransposed(dst, width, lines, kc, cols, kc);
  }

  void tile(const MicroKernel& uk, const float* ap, const float* bp, int64_t kc, int64_t i0, int64_t j0, int rows,
            int cols, bool firstK, bool) const {
    const int64_t K = g.depth();
    uk.run(kc, ap, bp, dw + (group * g.cOutG() + i0) * K + j0, K, 1.0f, firstK ? 0.0f : 1.0f, rows, cols);
  }
};

}  // namespace kiln
