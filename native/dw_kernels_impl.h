// The depthwise convolution leaf kernels of vec_table.h (DwRows, DwWeightRows),
// written once over a vector type V of simd.h. conv_depthwise.h lays each
// plane out so that every tap is one fixed offset into a buffer, which makes
// the loads contiguous and unmasked for any stride and dilation. Included only
// by vec_kernels_impl.h (internal linkage throughout).
#pragma once
#include "simd.h"
#include "vec_table.h"

namespace kiln {
namespace {

// N independent output vectors ("units") at once, so the fma chains overlap:
// unit k reads src + k*srcStep (+ each tap's offset) and writes y + k*yStep,
// `lanes` lanes each, the last unit `lastLanes`.
template <class V, int N>
inline void dwUnits(const DwRows& p, const float* src, int64_t srcStep, float* y, int64_t yStep, int lanes,
                    int lastLanes) {
  using F = typename V::F;
  F acc[N];
#pragma GCC unroll 16
  for (int k = 0; k < N; ++k) acc[k] = V::set(0.0f);
  for (int64_t t = 0; t < p.taps; ++t) {
    const F wv = V::set(p.w[t]);
    const float* s = src + p.off[t];
#pragma GCC unroll 16
    for (int k = 0; k < N; ++k) acc[k] = V::fma(wv, V::load(s + k * srcStep), acc[k]);
  }
  const F bias = V::set(p.bias), zero = V::set(0.0f), six = V::set(6.0f), alpha = V::set(p.alpha);
  // The same NaN behaviour as finishRow (conv_gemm.h).
  auto finish = [&](auto f) {
#pragma GCC unroll 16
    for (int k = 0; k < N; ++k) {
      const F v = f(V::add(acc[k], bias));
      const int n = k < N - 1 ? lanes : lastLanes;
      if (n == V::W) {
        V::store(y + k * yStep, v);
      } else {
        V::storeN(y + k * yStep, v, n);
      }
    }
  };
  switch (p.act) {
    case 0: finish([&](F v) { return V::max(v, zero); }); break;               // relu: NaN -> 0
    case 1: finish([&](F v) { return V::min(six, V::max(zero, v)); }); break;  // relu6: NaN stays
    case 2: finish([&](F v) { return V::select(V::gt(v, zero), v, V::mul(v, alpha)); }); break;
    default: finish([&](F v) { return v; }); break;
  }
}

// 1 to 8 units (count).
template <class V>
inline void dwUnitsN(int count, const DwRows& p, const float* src, int64_t srcStep, float* y, int64_t yStep,
                     int lanes, int lastLanes) {
  switch (count) {
    case 8: dwUnits<V, 8>(p, src, srcStep, y, yStep, lanes, lastLanes); break;
    case 7: dwUnits<V, 7>(p, src, srcStep, y, yStep, lanes, lastLanes); break;
    case 6: dwUnits<V, 6>(p, src, srcStep, y, yStep, lanes, lastLanes); break;
    case 5: dwUnits<V, 5>(p, src, srcStep, y, yStep, lanes, lastLanes); break;
    case 4: dwUnits<V, 4>(p, src, srcStep, y, yStep, lanes, lastLanes); break;
    case 3: dwUnits<V, 3>(p, src, srcStep, y, yStep, lanes, lastLanes); break;
    case 2: dwUnits<V, 2>(p, src, srcStep, y, yStep, lanes, lastLanes); break;
    default: dwUnits<V, 1>(p, src, srcStep, y, yStep, lanes, lastLanes); break;
  }
}

template <class V>
void dwRowsKernel(const DwRows& p) {
  constexpr int N = 8;
  constexpr int W = V::W;
  if (p.rows == 1) {  // one long row: blocks of up to N consecutive vectors
    const int64_t vectors = (p.cols + W - 1) / W;
    const int tail = static_cast<int>(p.cols - (vectors - 1) * W);
    for (int64_t v = 0; v < vectors; v += N) {
      const int count = static_cast<int>(vectors - v < N ? vectors - v : N);
      dwUnitsN<V>(count, p, p.src + v * W, W, p.y + v * W, W, W, v + count == vectors ? tail : W);
    }
    return;
  }
  // Blocks of N rows, one vector column at a time.
  for (int64_t r = 0; r < p.rows; r += N) {
    const int count = static_cast<int>(p.rows - r < N ? p.rows - r : N);
    const float* s = p.src + r * p.srcPitch;
    float* y = p.y + r * p.yPitch;
    for (int64_t c = 0; c < p.cols; c += W) {
      const int lanes = p.cols - c < W ? static_cast<int>(p.cols - c) : W;
      dwUnitsN<V>(count, p, s + c, p.srcPitch, y + c, p.yPitch, lanes, lanes);
    }
  }
}

// G taps from t0: per-tap vector sums, each then summed into double. Tail
// vectors load both operands masked, so lanes past a row's end contribute
// exactly nothing (even where src holds inf or NaN); with kValid, neither do
// lanes where p.valid is 0.
template <class V, int G, bool kDySum, bool kValid>
inline void dwWeightTaps(const DwWeightRows& p, int64_t t0) {
  using F = typename V::F;
  constexpr int W = V::W;
  const F zero = V::set(0.0f);
  F acc[G];
#pragma GCC unroll 16
  for (int k = 0; k < G; ++k) acc[k] = zero;
  F dsum = zero;
  int64_t off[G];
#pragma GCC unroll 16
  for (int k = 0; k < G; ++k) off[k] = p.off[t0 + k];
  const int64_t full = p.cols / W * W;
  const int tail = static_cast<int>(p.cols - full);
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* d = p.dy + r * p.dyPitch;
    const float* s = p.src + r * p.srcPitch;
    const float* ok = kValid ? p.valid + r * p.dyPitch : nullptr;
    for (int64_t c = 0; c < full; c += W) {
      const F dv = V::load(d + c);
      if (kDySum) dsum = V::add(dsum, dv);
      if (kValid) {
        const auto m = V::gt(V::load(ok + c), zero);
#pragma GCC unroll 16
        for (int k = 0; k < G; ++k) acc[k] = V::fma(dv, V::select(m, V::load(s + off[k] + c), zero), acc[k]);
      } else {
#pragma GCC unroll 16
        for (int k = 0; k < G; ++k) acc[k] = V::fma(dv, V::load(s + off[k] + c), acc[k]);
      }
    }
    if (tail) {
      const F dv = V::loadN(d + full, tail);
      if (kDySum) dsum = V::add(dsum, dv);
      if (kValid) {
        const auto m = V::gt(V::loadN(ok + full, tail), zero);
#pragma GCC unroll 16
        for (int k = 0; k < G; ++k)
          acc[k] = V::fma(dv, V::select(m, V::loadN(s + off[k] + full, tail), zero), acc[k]);
      } else {
#pragma GCC unroll 16
        for (int k = 0; k < G; ++k) acc[k] = V::fma(dv, V::loadN(s + off[k] + full, tail), acc[k]);
      }
    }
  }
#pragma GCC unroll 16
  for (int k = 0; k < G; ++k) p.acc[t0 + k] += static_cast<double>(V::hsum(acc[k]));
  if (kDySum) *p.dySum += static_cast<double>(V::hsum(dsum));
}

template <class V, int G>
inline void dwWeightTapsN(const DwWeightRows& p, int64_t t0, bool dySum) {
  if (p.valid) {
    if (dySum) {
      dwWeightTaps<V, G, true, true>(p, t0);
    } else {
      dwWeightTaps<V, G, false, true>(p, t0);
    }
  } else if (dySum) {
    dwWeightTaps<V, G, true, false>(p, t0);
  } else {
    dwWeightTaps<V, G, false, false>(p, t0);
  }
}

template <class V>
void dwWeightRowsKernel(const DwWeightRows& p) {
  constexpr int G = 9;
  int64_t t = 0;
  bool dySum = p.dySum != nullptr;
  for (; t + G <= p.taps; t += G, dySum = false) dwWeightTapsN<V, G>(p, t, dySum);
  switch (p.taps - t) {
    case 8: dwWeightTapsN<V, 8>(p, t, dySum); break;
    case 7: dwWeightTapsN<V, 7>(p, t, dySum); break;
    case 6: dwWeightTapsN<V, 6>(p, t, dySum); break;
    case 5: dwWeightTapsN<V, 5>(p, t, dySum); break;
    case 4: dwWeightTapsN<V, 4>(p, t, dySum); break;
    case 3: dwWeightTapsN<V, 3>(p, t, dySum); break;
    case 2: dwWeightTapsN<V, 2>(p, t, dySum); break;
    case 1: dwWeightTapsN<V, 1>(p, t, dySum); break;
    default: break;
  }
}

}  // namespace
}  // namespace kiln
