// Convolution over small padded planes as a sum over kernel taps, skipping
// the padding. On a 4x4 plane a 3x3 kernel with padding 1 reads zeros for 31 %
// of its multiplies, on a 2x2 plane for 56 %: im2col's GEMM does them all.
// Here the output pixels are split into classes that see the same taps (the
// corners, the edges, the inside), and each class is one GEMM whose depth runs
// over its valid taps only: C[cOut x (images * class pixels)] += W_tap * x
// shifted by the tap, tap by tap (channels within a tap in order).
//
// The forward pass and the backward-input pass (a forward pass of the flipped
// weights, see ConvForwardProblem) take it; the weight gradient has its own
// per-tap form (tapSumWeightGrad). Every output element is summed by one
// task in a fixed order, so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "conv.h"
#include "gemm_driver.h"
#include "kernel_util.h"
#include "threadpool.h"
#include "vec_table.h"

namespace kiln {

// Output rows (or columns) that see the same kernel rows [lo, hi).
struct TapAxisGroup {
  std::vector<int64_t> outs;
  int64_t lo, hi;
};

// Groups the outputs of one axis by the kernel taps that land inside the input.
inline std::vector<TapAxisGroup> tapAxisGroups(int64_t outSize, int64_t inSize, int64_t k, int64_t stride, int64_t pad,
                                               int64_t dil) {
  std::vector<TapAxisGroup> groups;
  for (int64_t o = 0; o < outSize; ++o) {
    const int64_t start = o * stride - pad;
    int64_t lo = 0, hi = k;
    while (lo < k && start + lo * dil < 0) ++lo;
    while (hi > lo && start + (hi - 1) * dil >= inSize) --hi;
    auto same = std::find_if(groups.begin(), groups.end(), [&](const TapAxisGroup& a) { return a.lo == lo && a.hi == hi; });
    if (same == groups.end()) groups.push_back({{o}, lo, hi});
    else same->outs.push_back(o);
  }
  return groups;
}

// The tap sum's micro-kernel work over the direct GEMM's, counted in column
// lanes (`lanes`-wide panels, rounded up) times taps. With the forward
// pass's pixel columns in NR lanes: the share of im2col's multiplies that
// read inside the input when every class fills its panels (batch 32 on
// resnet18's 4x4 planes: 0.69), more when classes of a few images leave most
// lanes empty (batch 8 on 2x2 planes: 1.78 with 32 lanes, where the direct
// GEMM wins). With 1 lane: that share itself. 0 when some output pixel sees
// no tap at all (left to the direct path).
inline double tapSumWorkRatio(const ConvGeometry& g, int64_t lanes) {
  const auto rows = tapAxisGroups(g.outH, g.h, g.kh, g.strideH, g.padH, g.dilH);
  const auto cols = tapAxisGroups(g.outW, g.w, g.kw, g.strideW, g.padW, g.dilW);
  double tapSum = 0.0;
  for (const TapAxisGroup& r : rows)
    for (const TapAxisGroup& c : cols) {
      if (r.hi <= r.lo || c.hi <= c.lo) return 0.0;
      const int64_t columns = g.n * static_cast<int64_t>(r.outs.size() * c.outs.size());
      tapSum += static_cast<double>((r.hi - r.lo) * (c.hi - c.lo) * ceilDiv(columns, lanes) * lanes);
    }
  return tapSum / static_cast<double>(g.taps() * ceilDiv(g.n * g.outPlane(), lanes) * lanes);
}

// Worth it where the work ratio is small, or fairly small on output planes of
// at most 16 pixels (where im2col's tiles straddle images), and each tap's
// depth (the input channels) keeps the micro-kernel busy between its loads
// and stores of C. Measured at 2 threads on resnet18's 3x3 layers at batch
// 32: 4x4 planes (0.69) and 2x2 (0.44) gain 20-40 % in all three passes;
// 8x8 -> 4x4 at stride 2 (0.84) gains 15 % forward; 8x8 at stride 1 (0.84)
// loses 5-8 %.
constexpr double kTapSumMaxRatio = 0.75;
constexpr int64_t kTapSumSmallPlane = 16;
constexpr double kTapSumSmallPlaneMaxRatio = 0.85;
constexpr int64_t kTapSumMinChannels = 64;
// The weight gradient's lanes are channels, whatever the batch, so it goes by
// the padding share; but a single image gives each tap's GEMM a depth of a
// few pixels (measured at batch 1: 4x4 planes 24 % slower than direct, 2x2
// even; from batch 2 on the tap sums win, by 26 % at batch 8 on 2x2).
constexpr int64_t kTapSumWeightGradMinImages = 2;

inline bool tapSumWorthIt(const ConvGeometry& g, double ratio) {
  if (g.groups != 1 || g.taps() == 1 || g.cIn < kTapSumMinChannels || g.cOut * g.n * g.outPlane() > (4 << 20))
    return false;
  return ratio > 0.0 &&
         (ratio <= kTapSumMaxRatio || (g.outPlane() <= kTapSumSmallPlane && ratio <= kTapSumSmallPlaneMaxRatio));
}

// The forward pass (and backward input as one).
inline bool tapSumFits(const ConvGeometry& g) { return tapSumWorthIt(g, tapSumWorkRatio(g, activeMicroKernel().nr)); }

inline bool tapSumWeightGradFits(const ConvGeometry& g) {
  const double share = tapSumWorkRatio(g, 1);
  return tapSumWorthIt(g, share) && g.n >= kTapSumWeightGradMinImages;
}

// One class of output pixels: the same valid taps for all of them.
struct TapClass {
  std::vector<int64_t> pixels;   // q = oy * outW + ox, in order
  std::vector<int64_t> taps;     // ky * kw + kx, in order
  std::vector<int64_t> colBase;  // per GEMM column (image, pixel): x offset of tap (0, 0), channel 0
  int64_t columns = 0;           // images * pixels
  int64_t stagingOffset = 0;     // of this class's [cOut x columns] block
  int64_t bOffset = 0;           // of this class's packed B
};

inline std::vector<TapClass> tapClasses(const ConvGeometry& g) {
  const auto rows = tapAxisGroups(g.outH, g.h, g.kh, g.strideH, g.padH, g.dilH);
  const auto cols = tapAxisGroups(g.outW, g.w, g.kw, g.strideW, g.padW, g.dilW);
  std::vector<TapClass> classes;
  int64_t staging = 0;
  for (const TapAxisGroup& r : rows)
    for (const TapAxisGroup& c : cols) {
      TapClass k;
      for (int64_t oy : r.outs)
        for (int64_t ox : c.outs) k.pixels.push_back(oy * g.outW + ox);
      for (int64_t ky = r.lo; ky < r.hi; ++ky)
        for (int64_t kx = c.lo; kx < c.hi; ++kx) k.taps.push_back(ky * g.kw + kx);
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t q : k.pixels) {
          const int64_t oy = q / g.outW, ox = q % g.outW;
          k.colBase.push_back(n * g.cIn * g.inPlane() + (oy * g.strideH - g.padH) * g.w + ox * g.strideW - g.padW);
        }
      k.columns = static_cast<int64_t>(k.colBase.size());
      k.stagingOffset = staging;
      staging += g.cOut * k.columns;
      classes.push_back(std::move(k));
    }
  return classes;
}

// Packed weights a forward task holds at once (640 KB of the 1 MB L2).
constexpr int64_t kTapSumPackedA = 160 << 10;
// Depth steps the flipped weights' packer reads at a time (16 x 14 x 9 floats: in L1).
constexpr int64_t kFlipChunk = 16;

// dst[r*width + i] = src[r*srcStride + i] for r < count, i < width: a fixed
// width where the micro-kernel's MR allows (whole-vector copies).
template <int Width>
inline void copyRowsOf(float* __restrict dst, const float* __restrict src, int64_t srcStride, int64_t count) {
  for (int64_t r = 0; r < count; ++r)
    for (int i = 0; i < Width; ++i) dst[r * Width + i] = src[r * srcStride + i];
}
inline void copyRows(float* dst, const float* src, int64_t srcStride, int64_t count, int width) {
  if (width == 14) return copyRowsOf<14>(dst, src, srcStride, count);
  if (width == 6) return copyRowsOf<6>(dst, src, srcStride, count);
  for (int64_t r = 0; r < count; ++r)
    for (int i = 0; i < width; ++i) dst[r * width + i] = src[r * srcStride + i];
}

// y = act(conv(x, w) + bias). With flippedWeights, w is the original
// convolution's weight read as for ConvForwardProblem (g is the swapped
// geometry of a backward-input pass).
inline void tapSumForward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int act,
                          float alpha, bool flippedWeights) {
  const MicroKernel& uk = activeMicroKernel();
  const int MR = uk.mr, NR = uk.nr;
  const int64_t taps = g.taps(), cIn = g.cIn, cOut = g.cOut, P = g.outPlane();
  const APanels panels(cOut, MR);
  const int64_t depthBlocks = ceilDiv(cIn, kKC);
  // A: the weights of one MR-row panel, every tap of every depth block, packed
  // by the task that uses them into its own buffer ([block][tap][channel p][row i]):
  // they never go out to memory and back, and each weight is read once.
  auto aPanel = [&](float* local, int64_t tap, int64_t blk) {
    return local + taps * MR * blk * kKC + tap * MR * std::min(kKC, cIn - blk * kKC);
  };
  auto packA = [&](int64_t ip, float* local) {
    const int64_t i0 = panels.start(ip);
    const int rows = panels.rows(ip);
    for (int64_t blk = 0; blk < depthBlocks; ++blk) {
      const int64_t c0 = blk * kKC, kc = std::min(kKC, cIn - c0);
      float* dst = aPanel(local, 0, blk);
      if (flippedWeights) {
        // Depth p (original output channel) holds the panel's rows (original
        // input channels) with their taps side by side: a small transpose
        // straight into the taps' panels, the original's taps in reverse.
        // In chunks of depth steps, tap by tap, so that the stores run down one
        // panel at a time (the taps' panels lie a multiple of 4 KB apart).
        if (rows < MR) std::memset(dst, 0, sizeof(float) * static_cast<size_t>(taps * kc * MR));
        const int64_t lines = (rows * taps + 15) / 16;
        for (int64_t p0 = 0; p0 < kc; p0 += kFlipChunk) {
          const int64_t p1 = std::min(kc, p0 + kFlipChunk);
          // Each depth step reads a new page (cOut * taps floats on): fetch the next chunk.
          for (int64_t p = p1; p < std::min(kc, p1 + kFlipChunk); ++p)
            for (int64_t l = 0; l < lines; ++l) __builtin_prefetch(w + ((c0 + p) * cOut + i0) * taps + 16 * l);
          for (int64_t tap = 0; tap < taps; ++tap)
            for (int64_t p = p0; p < p1; ++p) {
              const float* src = w + ((c0 + p) * cOut + i0) * taps + taps - 1 - tap;
              float* d = dst + (tap * kc + p) * MR;
              for (int i = 0; i < rows; ++i) d[i] = src[i * taps];
            }
        }
        continue;
      }
      // The SIMD packer transposes the panel's rows with the taps interleaved
      // ([channel][tap] rows of MR floats); each tap's rows are then copied out.
      thread_local ScratchBuffer interleavedBuf;
      float* interleaved = interleavedBuf.get(static_cast<size_t>(kc * taps * MR));
      packTransposed(interleaved, MR, w + (i0 * cIn + c0) * taps, cIn * taps, rows, kc * taps);
      for (int64_t tap = 0; tap < taps; ++tap) copyRows(dst + tap * kc * MR, interleaved + tap * MR, taps * MR, kc, MR);
    }
  };
  thread_local ScratchBuffer bBuf, stagingBuf;

  // B: for each class, tap and depth block, x at the class's pixels shifted by the tap, in NR-column panels.
  std::vector<TapClass> classes = tapClasses(g);
  int64_t bFloats = 0;
  for (TapClass& k : classes) {
    k.bOffset = bFloats;
    bFloats += static_cast<int64_t>(k.taps.size()) * ceilDiv(k.columns, NR) * NR * cIn;
  }
  float* bPack = bBuf.get(static_cast<size_t>(bFloats));
  auto bPanel = [&](const TapClass& k, int64_t tapIndex, int64_t blk, int64_t jp) {
    const int64_t panelsB = ceilDiv(k.columns, NR), kc = std::min(kKC, cIn - blk * kKC);
    return bPack + k.bOffset + (tapIndex * cIn + blk * kKC) * panelsB * NR + jp * NR * kc;
  };
  struct Item {
    int64_t cls, tapIndex, blk, jp;
  };
  std::vector<Item> bItems;
  for (int64_t c = 0; c < static_cast<int64_t>(classes.size()); ++c)
    for (int64_t ti = 0; ti < static_cast<int64_t>(classes[c].taps.size()); ++ti)
      for (int64_t blk = 0; blk < depthBlocks; ++blk)
        for (int64_t jp = 0; jp < ceilDiv(classes[c].columns, NR); ++jp) bItems.push_back({c, ti, blk, jp});
  parallelFor(static_cast<int64_t>(bItems.size()), [&](int64_t t) {
    const Item& it = bItems[t];
    const TapClass& k = classes[it.cls];
    const int64_t tap = k.taps[it.tapIndex], c0 = it.blk * kKC, kc = std::min(kKC, cIn - c0), j0 = it.jp * NR;
    const int cols = static_cast<int>(std::min<int64_t>(NR, k.columns - j0));
    const float* xs = x + c0 * g.inPlane() + (tap / g.kw) * g.dilH * g.w + (tap % g.kw) * g.dilW;
    const int64_t* base = k.colBase.data() + j0;
    float* dst = bPanel(k, it.tapIndex, it.blk, it.jp);
    for (int64_t p = 0; p < kc; ++p) {
      float* d = dst + p * NR;
      const float* src = xs + p * g.inPlane();
      for (int j = 0; j < cols; ++j) d[j] = src[base[j]];
      for (int j = cols; j < NR; ++j) d[j] = 0.0f;
    }
  });

  // C: tasks take an even share of the A panels, as many as fit ~640 KB of
  // packed weights, and run every class over them: each B panel is loaded
  // once per task, not once per A panel. Each tile sums over its class's taps
  // and depth blocks in order, whichever task runs it.
  float* staging = stagingBuf.get(static_cast<size_t>(cOut * g.n * P));
  const int64_t panelFloats = taps * MR * cIn, threads = numThreads();
  const int64_t perTaskMax = std::max<int64_t>(1, kTapSumPackedA / panelFloats);
  const int64_t tasks = std::min(panels.count, ceilDiv(ceilDiv(panels.count, perTaskMax), threads) * threads);
  parallelFor(tasks, [&](int64_t t) {
    const int64_t ip0 = panels.count * t / tasks, ip1 = panels.count * (t + 1) / tasks;
    thread_local ScratchBuffer aBuf;
    float* local = aBuf.get(static_cast<size_t>((ip1 - ip0) * panelFloats));
    for (int64_t ip = ip0; ip < ip1; ++ip) packA(ip, local + (ip - ip0) * panelFloats);
    for (const TapClass& k : classes) {
      const int64_t panelsB = ceilDiv(k.columns, NR);
      for (int64_t ti = 0; ti < static_cast<int64_t>(k.taps.size()); ++ti)
        for (int64_t blk = 0; blk < depthBlocks; ++blk) {
          const int64_t kc = std::min(kKC, cIn - blk * kKC);
          const float beta = ti == 0 && blk == 0 ? 0.0f : 1.0f;
          for (int64_t ip = ip0; ip < ip1; ++ip) {
            const float* ap = aPanel(local + (ip - ip0) * panelFloats, k.taps[ti], blk);
            float* c = staging + k.stagingOffset + panels.start(ip) * k.columns;
            for (int64_t jp = 0; jp < panelsB; ++jp) {
              const int cols = static_cast<int>(std::min<int64_t>(NR, k.columns - jp * NR));
              uk.run(kc, ap, bPanel(k, ti, blk, jp), c + jp * NR, k.columns, 1.0f, beta, panels.rows(ip), cols);
            }
          }
        }
    }
  });

  // staging[class][co][n * pixels + i] -> y[n][co][pixel i], with the epilogue.
  parallelRuns(cOut, [&](int64_t co) {
    for (const TapClass& k : classes) {
      const int64_t count = static_cast<int64_t>(k.pixels.size());
      const float* src = staging + k.stagingOffset + co * k.columns;
      for (int64_t n = 0; n < g.n; ++n) {
        float* dst = y + (n * cOut + co) * P;
        for (int64_t i = 0; i < count; ++i) dst[k.pixels[i]] = src[n * count + i];
      }
    }
    if (bias || act != kActNone)
      for (int64_t n = 0; n < g.n; ++n) vec().biasAct(y + (n * cOut + co) * P, P, bias ? bias[co] : 0.0f, act, alpha);
  });
}

// [n][rows][cols] -> [n][cols][rows]: each image's channels made the fastest axis.
inline void channelsLast(const float* src, int64_t n, int64_t rows, int64_t cols, float* dst) {
  parallelFor(n, [&](int64_t img) {
    copyTiles(src + img * rows * cols, dst + img * rows * cols, 1, rows, rows, cols, 0, cols);
  });
}

// dw = the weight gradient, one GEMM per tap over the output pixels where the
// tap lands inside the input: dW_tap[cOut x cIn] = dy[cOut x valid pixels] *
// x shifted by the tap [valid pixels x cIn], pixels (image, pixel) in order.
inline void tapSumWeightGrad(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  const MicroKernel& uk = activeMicroKernel();
  const int MR = uk.mr, NR = uk.nr;
  const int64_t taps = g.taps(), cIn = g.cIn, cOut = g.cOut, P = g.outPlane();
  // Channels last, so that a packed panel's step is one contiguous run.
  thread_local ScratchBuffer dyBuf, xBuf, aBuf, bBuf;
  float* dyT = dyBuf.get(static_cast<size_t>(g.n * cOut * P));
  float* xT = xBuf.get(static_cast<size_t>(g.n * cIn * g.inPlane()));
  channelsLast(dy, g.n, cOut, P, dyT);
  channelsLast(x, g.n, cIn, g.inPlane(), xT);

  // Each tap's valid output pixels and the input pixel each reads.
  struct TapPixels {
    std::vector<int64_t> out, in;
    int64_t depth = 0, aOffset = 0, bOffset = 0;
  };
  std::vector<TapPixels> perTap(static_cast<size_t>(taps));
  const APanels panels(cOut, MR);
  const int64_t bPanels = ceilDiv(cIn, NR);
  int64_t aFloats = 0, bFloats = 0;
  for (int64_t tap = 0; tap < taps; ++tap) {
    TapPixels& t = perTap[tap];
    const int64_t ky = tap / g.kw, kx = tap % g.kw;
    for (int64_t oy = 0; oy < g.outH; ++oy)
      for (int64_t ox = 0; ox < g.outW; ++ox) {
        const int64_t iy = oy * g.strideH - g.padH + ky * g.dilH, ix = ox * g.strideW - g.padW + kx * g.dilW;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
        t.out.push_back(oy * g.outW + ox);
        t.in.push_back(iy * g.w + ix);
      }
    t.depth = g.n * static_cast<int64_t>(t.out.size());
    t.aOffset = aFloats;
    t.bOffset = bFloats;
    aFloats += panels.count * MR * ceilDiv(t.depth, kKC) * kKC;
    bFloats += bPanels * NR * ceilDiv(t.depth, kKC) * kKC;
  }
  float* aPack = aBuf.get(static_cast<size_t>(aFloats));
  float* bPack = bBuf.get(static_cast<size_t>(bFloats));
  auto aPanel = [&](const TapPixels& t, int64_t blk, int64_t ip) {
    return aPack + t.aOffset + blk * panels.count * MR * kKC + ip * MR * std::min(kKC, t.depth - blk * kKC);
  };
  auto bPanel = [&](const TapPixels& t, int64_t blk, int64_t jp) {
    return bPack + t.bOffset + blk * bPanels * NR * kKC + jp * NR * std::min(kKC, t.depth - blk * kKC);
  };

  // Packing: A panels hold dy (rows: output channels), B panels x (columns:
  // input channels); depth step p is pixel p % count of image p / count.
  struct Pack {
    int64_t tap, blk, panel;
    bool isA;
  };
  std::vector<Pack> packs;
  for (int64_t tap = 0; tap < taps; ++tap)
    for (int64_t blk = 0; blk < ceilDiv(perTap[tap].depth, kKC); ++blk) {
      for (int64_t ip = 0; ip < panels.count; ++ip) packs.push_back({tap, blk, ip, true});
      for (int64_t jp = 0; jp < bPanels; ++jp) packs.push_back({tap, blk, jp, false});
    }
  parallelFor(static_cast<int64_t>(packs.size()), [&](int64_t i) {
    const Pack& pk = packs[i];
    const TapPixels& t = perTap[pk.tap];
    const int64_t count = static_cast<int64_t>(t.out.size()), p0 = pk.blk * kKC, kc = std::min(kKC, t.depth - p0);
    const int64_t first = pk.isA ? panels.start(pk.panel) : pk.panel * NR;
    const int width = pk.isA ? MR : NR;
    const int len = pk.isA ? panels.rows(pk.panel) : static_cast<int>(std::min<int64_t>(NR, cIn - first));
    float* dst = pk.isA ? aPanel(t, pk.blk, pk.panel) : bPanel(t, pk.blk, pk.panel);
    for (int64_t p = 0; p < kc; ++p) {
      const int64_t n = (p0 + p) / count, k = (p0 + p) % count;
      const float* src = pk.isA ? dyT + (n * P + t.out[k]) * cOut + first : xT + (n * g.inPlane() + t.in[k]) * cIn + first;
      float* d = dst + p * width;
      for (int j = 0; j < len; ++j) d[j] = src[j];
      for (int j = len; j < width; ++j) d[j] = 0.0f;
    }
  });

  // One task per A panel (MR output channels): every tap's GEMM over it into
  // the task's own [tap][row][cIn] block (in L2), then that block moved into
  // the panel's rows of dw ([co][c][tap]), each written once.
  parallelFor(panels.count, [&](int64_t ip) {
    const int rows = panels.rows(ip);
    thread_local ScratchBuffer localBuf;
    float* local = localBuf.get(static_cast<size_t>(taps * MR * cIn));
    for (int64_t tap = 0; tap < taps; ++tap) {
      const TapPixels& t = perTap[tap];
      float* c = local + tap * MR * cIn;
      if (t.depth == 0) {  // a tap that never lands inside the input
        for (int64_t e = 0; e < rows * cIn; ++e) c[e] = 0.0f;
        continue;
      }
      for (int64_t blk = 0; blk < ceilDiv(t.depth, kKC); ++blk) {
        const int64_t kc = std::min(kKC, t.depth - blk * kKC);
        const float* ap = aPanel(t, blk, ip);
        for (int64_t jp = 0; jp < bPanels; ++jp)
          uk.run(kc, ap, bPanel(t, blk, jp), c + jp * NR, cIn, 1.0f, blk == 0 ? 0.0f : 1.0f, rows,
                 static_cast<int>(std::min<int64_t>(NR, cIn - jp * NR)));
      }
    }
    for (int i = 0; i < rows; ++i) {
      float* d = dw + (panels.start(ip) + i) * cIn * taps;
      for (int64_t c = 0; c < cIn; ++c)
        for (int64_t tap = 0; tap < taps; ++tap) d[c * taps + tap] = local[(tap * MR + i) * cIn + c];
    }
  });
}

}  // namespace kiln
