// Direct kernels for depthwise convolution (groups == cIn == cOut): one
// channel plane at a time. Each plane is first copied, zero-padded, into a
// per-thread buffer whose columns (and rows) are split into stride phases, so
// that every tap of every output is one fixed offset from the output's
// position: the leaf kernels (vec_table.h DwRows / DwWeightRows) then run with
// contiguous, unmasked vector loads for any stride and dilation, accumulating
// in registers. Each output is written by one task in a fixed order, so
// results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "conv.h"
#include "conv_gemm.h"
#include "kernel_util.h"
#include "threadpool.h"
#include "vec_table.h"

namespace kiln {

// Zeros after a padded plane: whole-vector loads (16 lanes at most) may run
// up to 15 floats past the last element a tap uses.
constexpr int64_t kDwSlack = 32;
// Planes per task: enough tasks to balance the threads, each of at most
// about kDwTaskPixels pixels (several planes share one zeroing of the buffer).
constexpr int64_t kDwTaskPixels = 32768;
inline int64_t dwPlanesPerTask(int64_t planes, int64_t pixels) {
  return std::max<int64_t>(1, std::min(planes / 256, kDwTaskPixels / std::max<int64_t>(1, pixels)));
}
// The weight gradient's tasks take channels enough for about this many
// floats of each image (at least one channel).
constexpr int64_t kDwChannelRun = 256;
// Narrow planes of the weight gradient are stacked this many pixels at a time.
constexpr int64_t kDwStackPixels = 4096;
// Output rows narrower than this run as one long row through the padded
// plane (the columns between rows computed and dropped): fewer, fuller vectors.
constexpr int64_t kDwNarrow = 12;

// Output columns ox whose input column ox*stride + off lies inside [0, w)
// (used by conv.cc's col2im).
inline void validColumns(const ConvGeometry& g, int64_t off, int64_t& lo, int64_t& hi) {
  const int64_t s = g.strideW;
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = g.w - off <= 0 ? 0 : std::min<int64_t>(g.outW, (g.w - off + s - 1) / s);
  if (hi < lo) hi = lo;
}

// A plane zero-padded and split into phases: padded row sh*i + a, padded
// column sw*j + q is at ((a*sw + q)*rows + i)*cols + j.
struct DwLayout {
  int64_t sh, sw, rows, cols;
  int64_t size() const { return sh * sw * rows * cols; }
  int64_t at(int64_t a, int64_t q, int64_t i, int64_t j) const { return ((a * sw + q) * rows + i) * cols + j; }
};

// Zeros the buffer of layout l (and kDwSlack floats after it): the padding
// stays zero for every plane that dwCopy then copies into it.
inline void dwZero(const DwLayout& l, float* buf) { std::fill(buf, buf + l.size() + kDwSlack, 0.0f); }

// Where a plane's elements go in a buffer of layout l: `rows` rows of `n`
// elements, source row i at src + i*sh*w (elements sw apart), destination
// row i at dst + i*l.cols.
struct DwCopyRun {
  int64_t dst, src, rows, n;
};

// The runs that copy an h x w plane ph rows down and pw columns right of the
// padded plane's corner (one run per phase). l's phase blocks may hold
// `stack` planes one below the other (rows / stack rows each): the runs put
// the plane in the first; add k * (rows / stack) * cols for the k-th.
inline void dwCopyPlan(int64_t h, int64_t w, int64_t ph, int64_t pw, const DwLayout& l, int64_t stack,
                       std::vector<DwCopyRun>& plan) {
  const int64_t sh = l.sh, sw = l.sw, rows = l.rows / stack;
  plan.clear();
  for (int64_t a = 0; a < sh; ++a) {
    // Rows i whose source row i*sh + a - ph lies in [0, h): [ilo, ihi).
    const int64_t ilo = std::min(rows, a >= ph ? 0 : (ph - a + sh - 1) / sh);
    const int64_t ihi = std::clamp<int64_t>(h + ph - a <= 0 ? 0 : (h + ph - a + sh - 1) / sh, ilo, rows);
    for (int64_t q = 0; q < sw; ++q) {
      const int64_t jlo = std::min(l.cols, q >= pw ? 0 : (pw - q + sw - 1) / sw);
      const int64_t jhi = std::clamp<int64_t>(w + pw - q <= 0 ? 0 : (w + pw - q + sw - 1) / sw, jlo, l.cols);
      if (ihi > ilo && jhi > jlo)
        plan.push_back(DwCopyRun{l.at(a, q, ilo, jlo), (ilo * sh + a - ph) * w + (jlo * sw + q - pw), ihi - ilo,
                                 jhi - jlo});
    }
  }
}

// Copies plane x (row length w) into a zeroed buffer of layout l by the plan.
// Writes the same positions for every plane, so the rest stays zero.
inline void dwCopy(const float* x, int64_t w, const DwLayout& l, const std::vector<DwCopyRun>& plan, float* buf) {
  const int64_t sw = l.sw, srcPitch = l.sh * w;
  for (const DwCopyRun& run : plan) {
    float* d = buf + run.dst;
    const float* s = x + run.src;
    for (int64_t i = 0; i < run.rows; ++i, d += l.cols, s += srcPitch) {
      if (sw == 1) {
        for (int64_t j = 0; j < run.n; ++j) d[j] = s[j];
      } else if (sw == 2) {
        for (int64_t j = 0; j < run.n; ++j) d[j] = s[2 * j];
      } else {
        for (int64_t j = 0; j < run.n; ++j) d[j] = s[j * sw];
      }
    }
  }
}

// The layout of x for the forward pass and the weight gradient: tap (ky, kx)
// of output (oy, ox) is padded row oy*sh + ky*dh = sh*(oy + ky*dh/sh) +
// ky*dh%sh, likewise for columns, so at offset off[tap] + oy*cols + ox.
// With `stack` planes per phase block (each rows / stack rows), plane k's
// output (oy, ox) is at off[tap] + (k * rows / stack + oy) * cols + ox.
inline DwLayout dwInputLayout(const ConvGeometry& g, int64_t stack, std::vector<int64_t>& off) {
  const int64_t sh = g.strideH, sw = g.strideW;
  const DwLayout l{sh, sw, stack * (g.outH + (g.kh - 1) * g.dilH / sh), g.outW + (g.kw - 1) * g.dilW / sw};
  off.resize(static_cast<size_t>(g.taps()));
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t ry = ky * g.dilH, rx = kx * g.dilW;
      off[ky * g.kw + kx] = l.at(ry % sh, rx % sw, ry / sh, rx / sw);
    }
  return l;
}

inline void depthwiseForward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                             int act, float alpha) {
  const int64_t taps = g.taps(), P = g.outPlane(), planes = g.n * g.cOut;
  thread_local std::vector<int64_t> offBuf;
  thread_local std::vector<DwCopyRun> planBuf;
  const DwLayout l = dwInputLayout(g, 1, offBuf);
  const int64_t* off = offBuf.data();
  dwCopyPlan(g.h, g.w, g.padH, g.padW, l, 1, planBuf);
  const std::vector<DwCopyRun>& plan = planBuf;
  const bool fused = act == kActNone || act == kActRelu || act == kActRelu6 || act == kActLeakyRelu;
  // Narrow rows: one long row through the buffer (pitch l.cols), into a
  // staging row unless the pitches agree.
  const bool flat = g.outW < kDwNarrow || l.cols == g.outW;
  const bool staged = flat && l.cols != g.outW;
  const int64_t per = dwPlanesPerTask(planes, P);
  const VecKernels& v = vec();
  parallelTasks((planes + per - 1) / per, [&](int64_t task) {
    thread_local ScratchBuffer padBuf, rowBuf;
    float* buf = padBuf.get(static_cast<size_t>(l.size() + kDwSlack));
    float* tmp = staged ? rowBuf.get(static_cast<size_t>(g.outH * l.cols)) : nullptr;
    dwZero(l, buf);
    for (int64_t plane = task * per; plane < std::min(planes, (task + 1) * per); ++plane) {
      const int64_t c = plane % g.cOut;
      float* yp = y + plane * P;
      dwCopy(x + plane * g.inPlane(), g.w, l, plan, buf);
      DwRows p{buf, l.cols, off, w + c * taps, taps, g.outH, g.outW, yp, g.outW, bias ? bias[c] : 0.0f,
               fused ? act : kActNone, alpha};
      if (flat) {
        p.rows = 1;
        p.cols = (g.outH - 1) * l.cols + g.outW;
        if (staged) p.y = tmp;
      }
      v.dwRows(p);
      if (staged)
        for (int64_t oy = 0; oy < g.outH; ++oy)
          for (int64_t ox = 0; ox < g.outW; ++ox) yp[oy * g.outW + ox] = tmp[oy * l.cols + ox];
      if (!fused) finishRow(yp, P, 0.0f, act, alpha);
    }
  });
}

// The input pixels (iy, ix) with (iy + padH) % sh == a and (ix + padW) % sw
// == b: rows iy0 + sh*r (r < rows), columns ix0 + sw*m (m < cols); its taps
// are [tap0, tap0 + taps) of the phase tap lists.
struct DwPhase {
  int64_t iy0, rows, ix0, cols, tap0, taps;
  bool direct;    // written straight into dx (sw == 1 and rows wide enough)
  int64_t stage;  // otherwise staged here (pitch: the padded dy's)
};

// dx in gather form: input (iy, ix) = (sh*u + a - padH, sw*m + b - padW)
// receives tap (ky, kx) exactly when ky*dh % sh == a and kx*dw % sw == b,
// from dy[u - ky*dh/sh][m - kx*dw/sw]. dy is padded with TH = (kh-1)*dh/sh
// zero rows above and TW = (kw-1)*dw/sw zero columns on the left (and zeros
// below and on the right as far as any input reaches), so each phase is a
// DwRows pass over the padded dy with fixed, non-negative tap offsets.
inline void depthwiseBackwardInput(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const int64_t taps = g.taps(), sh = g.strideH, sw = g.strideW, planes = g.n * g.cIn;
  const int64_t TH = (g.kh - 1) * g.dilH / sh, TW = (g.kw - 1) * g.dilW / sw;
  const int64_t uEnd = (g.h - 1 + g.padH) / sh + 1, mEnd = (g.w - 1 + g.padW) / sw + 1;
  const DwLayout l{1, 1, TH + std::max(g.outH, uEnd), TW + std::max(g.outW, mEnd)};
  // Locals that refer to this thread's lists (the tasks, on other threads, must see these).
  thread_local std::vector<DwPhase> phaseList;
  thread_local std::vector<int64_t> offList, tapList, phaseIndexList;
  std::vector<DwPhase>& phases = phaseList;
  std::vector<int64_t>& offs = offList;
  std::vector<int64_t>& tapIndex = tapList;
  std::vector<int64_t>& phaseAt = phaseIndexList;  // (a, b) -> index in phases, or -1
  phases.clear();
  offs.clear();
  tapIndex.clear();
  phaseAt.assign(static_cast<size_t>(sh * sw), -1);
  thread_local std::vector<DwCopyRun> planBuf;
  dwCopyPlan(g.outH, g.outW, TH, TW, l, 1, planBuf);
  const std::vector<DwCopyRun>& plan = planBuf;
  int64_t stagedSize = 0;
  for (int64_t a = 0; a < sh; ++a)
    for (int64_t b = 0; b < sw; ++b) {
      DwPhase ph{};
      ph.iy0 = ((a - g.padH) % sh + sh) % sh;
      ph.ix0 = ((b - g.padW) % sw + sw) % sw;
      if (ph.iy0 >= g.h || ph.ix0 >= g.w) continue;
      ph.rows = (g.h - ph.iy0 + sh - 1) / sh;
      ph.cols = (g.w - ph.ix0 + sw - 1) / sw;
      const int64_t u0 = (ph.iy0 + g.padH) / sh, m0 = (ph.ix0 + g.padW) / sw;
      ph.tap0 = static_cast<int64_t>(offs.size());
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        if (ky * g.dilH % sh != a) continue;
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          if (kx * g.dilW % sw != b) continue;
          offs.push_back(l.at(0, 0, u0 + TH - ky * g.dilH / sh, m0 + TW - kx * g.dilW / sw));
          tapIndex.push_back(ky * g.kw + kx);
        }
      }
      ph.taps = static_cast<int64_t>(offs.size()) - ph.tap0;
      ph.direct = sw == 1 && ph.cols >= kDwNarrow;
      ph.stage = stagedSize;
      if (!ph.direct) stagedSize += ph.rows * l.cols;
      phaseAt[a * sw + b] = static_cast<int64_t>(phases.size());
      phases.push_back(ph);
    }
  const int64_t per = dwPlanesPerTask(planes, g.inPlane());
  const VecKernels& v = vec();
  parallelTasks((planes + per - 1) / per, [&](int64_t task) {
    thread_local ScratchBuffer padBuf, rowBuf, wBuf;
    float* buf = padBuf.get(static_cast<size_t>(l.size() + kDwSlack));
    float* tmp = rowBuf.get(static_cast<size_t>(std::max<int64_t>(1, stagedSize)));
    float* wsel = wBuf.get(std::max<size_t>(1, offs.size()));
    dwZero(l, buf);
    for (int64_t plane = task * per; plane < std::min(planes, (task + 1) * per); ++plane) {
      const float* wc = w + (plane % g.cIn) * taps;
      float* dxp = dx + plane * g.inPlane();
      dwCopy(dy + plane * g.outPlane(), g.outW, l, plan, buf);
      for (size_t i = 0; i < offs.size(); ++i) wsel[i] = wc[tapIndex[i]];
      for (const DwPhase& ph : phases) {
        DwRows p{buf,      l.cols, offs.data() + ph.tap0, wsel + ph.tap0, ph.taps, ph.rows, ph.cols,
                 dxp + ph.iy0 * g.w + ph.ix0, sh * g.w, 0.0f, kActNone, 0.0f};
        if (!ph.direct) {
          p.rows = 1;
          p.cols = (ph.rows - 1) * l.cols + ph.cols;
          p.y = tmp + ph.stage;
        }
        v.dwRows(p);
      }
      // Staged phases into dx, row by row.
      for (int64_t a = 0; a < sh; ++a) {
        if (sw == 2) {  // even columns from one phase, odd ones from the other, interleaved
          const int64_t ie = phaseAt[a * 2 + g.padW % 2], io = phaseAt[a * 2 + (g.padW + 1) % 2];
          if (ie < 0) continue;
          const DwPhase& e = phases[static_cast<size_t>(ie)];
          const int64_t pairs = g.w / 2;
          for (int64_t r = 0; r < e.rows; ++r) {
            float* d = dxp + (e.iy0 + sh * r) * g.w;
            const float* se = tmp + e.stage + r * l.cols;
            const float* so = io >= 0 ? tmp + phases[static_cast<size_t>(io)].stage + r * l.cols : se;
            for (int64_t m = 0; m < pairs; ++m) {
              d[2 * m] = se[m];
              d[2 * m + 1] = so[m];
            }
            if (g.w % 2) d[g.w - 1] = se[pairs];
          }
          continue;
        }
        for (int64_t b = 0; b < sw; ++b) {
          const int64_t i = phaseAt[a * sw + b];
          if (i < 0 || phases[static_cast<size_t>(i)].direct) continue;
          const DwPhase& ph = phases[static_cast<size_t>(i)];
          for (int64_t r = 0; r < ph.rows; ++r) {
            float* d = dxp + (ph.iy0 + sh * r) * g.w + ph.ix0;
            const float* src = tmp + ph.stage + r * l.cols;
            if (sw == 1) {
              for (int64_t m = 0; m < ph.cols; ++m) d[m] = src[m];
            } else {
              for (int64_t m = 0; m < ph.cols; ++m) d[m * sw] = src[m];
            }
          }
        }
      }
    }
  });
}

// dw[c, tap] = the sum over images (in order) of the per-tap dot products of
// dy with the shifted padded x: float vectors within a plane, double across
// planes; dbias[c] likewise from dy alone. Narrow planes go `stack` images
// at a time, stacked in one buffer with dy staged at the matching positions
// (zeros between), as one long row: fuller vectors, one sum per group.
inline void depthwiseBackwardWeight(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* dbias) {
  const int64_t taps = g.taps(), P = g.outPlane();
  thread_local std::vector<int64_t> offBuf;
  thread_local std::vector<DwCopyRun> planBuf;
  const DwLayout one = dwInputLayout(g, 1, offBuf);
  const int64_t planeRows = one.rows, planeSize = planeRows * one.cols;
  const int64_t stack =
      g.outW < kDwNarrow ? std::clamp<int64_t>(kDwStackPixels / planeSize, 1, std::max<int64_t>(1, g.n)) : 1;
  const DwLayout l = dwInputLayout(g, stack, offBuf);
  const int64_t* off = offBuf.data();
  dwCopyPlan(g.h, g.w, g.padH, g.padW, l, stack, planBuf);
  const std::vector<DwCopyRun>& plan = planBuf;
  const int64_t staged = stack * planeSize;  // the staged dy: one phase block's worth
  // Channels per task: a few, for small planes, so that each image's planes
  // of the task are one contiguous run of memory (not a scattered read each).
  const int64_t block = std::max<int64_t>(1, kDwChannelRun / std::max<int64_t>(1, g.inPlane()));
  const VecKernels& v = vec();
  parallelTasks((g.cOut + block - 1) / block, [&](int64_t task) {
    const int64_t c0 = task * block, channels = std::min(block, g.cOut - c0);
    thread_local ScratchBuffer padBuf, dyBuf, validBuf;
    float* buf = padBuf.get(static_cast<size_t>(l.size() + kDwSlack));
    dwZero(l, buf);
    float* dyS = nullptr;
    float* valid = nullptr;
    if (stack > 1) {
      dyS = dyBuf.get(static_cast<size_t>(staged));
      valid = validBuf.get(static_cast<size_t>(staged));
      std::fill(dyS, dyS + staged, 0.0f);
      std::fill(valid, valid + staged, 0.0f);
      for (int64_t k = 0; k < stack; ++k)
        for (int64_t oy = 0; oy < g.outH; ++oy)
          std::fill_n(valid + (k * planeRows + oy) * l.cols, g.outW, 1.0f);
    }
    // Per channel: taps sums, then the bias sum.
    std::vector<double>& acc = taskScratch();
    acc.assign(static_cast<size_t>(channels * (taps + 1)), 0.0);
    for (int64_t n0 = 0; n0 < g.n; n0 += stack) {
      const int64_t count = std::min(stack, g.n - n0);
      for (int64_t c = c0; c < c0 + channels; ++c) {
        double* cacc = acc.data() + (c - c0) * (taps + 1);
        bool finite = true;
        for (int64_t k = 0; k < count; ++k) {
          const float* xp = x + ((n0 + k) * g.cIn + c) * g.inPlane();
          dwCopy(xp, g.w, l, plan, buf + k * planeSize);
          if (stack == 1) continue;
          finite = finite && v.allFinite(xp, g.inPlane());
          const float* dyp = dy + ((n0 + k) * g.cOut + c) * P;
          for (int64_t oy = 0; oy < g.outH; ++oy) {  // short rows: a loop beats memmove
            const float* src = dyp + oy * g.outW;
            float* dst = dyS + (k * planeRows + oy) * l.cols;
            for (int64_t ox = 0; ox < g.outW; ++ox) dst[ox] = src[ox];
          }
        }
        DwWeightRows p{buf,   l.cols, off, taps, dy + (n0 * g.cOut + c) * P, g.outW, g.outH, g.outW,
                       cacc, dbias ? cacc + taps : nullptr, nullptr};
        if (stack > 1) {  // one long row over the group; x's inf or NaN must not meet the zeros between
          p.dy = dyS;
          p.rows = 1;
          p.cols = ((count - 1) * planeRows + g.outH - 1) * l.cols + g.outW;
          if (!finite) p.valid = valid;
        }
        v.dwWeightRows(p);
      }
    }
    for (int64_t c = c0; c < c0 + channels; ++c) {
      const double* cacc = acc.data() + (c - c0) * (taps + 1);
      for (int64_t t = 0; t < taps; ++t) dw[c * taps + t] = static_cast<float>(cacc[t]);
      if (dbias) dbias[c] = static_cast<float>(cacc[taps]);
    }
  });
}

}  // namespace kiln
