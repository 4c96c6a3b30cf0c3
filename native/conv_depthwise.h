// Direct kernels for depthwise convolution (groups == cIn == cOut): one
// channel plane at a time, the inner loops running along the output row (unit
// stride for stride 1, so the compiler vectorises them). Each plane is
// written by one task in a fixed order, so results do not depend on threads.
#pragma once
#include <algorithm>
#include <cstdint>

#include "conv.h"
#include "conv_gemm.h"
#include "threadpool.h"

namespace kiln {

// Output columns ox whose input column ox*stride + off lies inside [0, w).
inline void validColumns(const ConvGeometry& g, int64_t off, int64_t& lo, int64_t& hi) {
  const int64_t s = g.strideW;
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = g.w - off <= 0 ? 0 : std::min<int64_t>(g.outW, (g.w - off + s - 1) / s);
  if (hi < lo) hi = lo;
}

inline void depthwiseForward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                             int act, float alpha) {
  const int64_t taps = g.taps();
  parallelFor(g.n * g.cOut, [&](int64_t plane) {
    const int64_t c = plane % g.cOut;
    const float* xp = x + plane * g.inPlane();
    const float* wc = w + c * taps;
    float* yp = y + plane * g.outPlane();
    for (int64_t oy = 0; oy < g.outH; ++oy) {
      float* yr = yp + oy * g.outW;
      for (int64_t ox = 0; ox < g.outW; ++ox) yr[ox] = 0.0f;
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        const int64_t iy = oy * g.strideH - g.padH + ky * g.dilH;
        if (iy < 0 || iy >= g.h) continue;
        const float* xr = xp + iy * g.w;
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const float wv = wc[ky * g.kw + kx];
          const int64_t off = kx * g.dilW - g.padW;
          int64_t lo, hi;
          validColumns(g, off, lo, hi);
          if (g.strideW == 1) {
            const float* xs = xr + off;
            for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xs[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox * g.strideW + off];
          }
        }
      }
      finishRow(yr, g.outW, bias ? bias[c] : 0.0f, act, alpha);
    }
  });
}

inline void depthwiseBackwardInput(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const int64_t taps = g.taps();
  parallelFor(g.n * g.cIn, [&](int64_t plane) {
    const int64_t c = plane % g.cIn;
    const float* dyp = dy + plane * g.outPlane();
    const float* wc = w + c * taps;
    float* dxp = dx + plane * g.inPlane();
    for (int64_t i = 0; i < g.inPlane(); ++i) dxp[i] = 0.0f;
    for (int64_t oy = 0; oy < g.outH; ++oy) {
      const float* dyr = dyp + oy * g.outW;
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        const int64_t iy = oy * g.strideH - g.padH + ky * g.dilH;
        if (iy < 0 || iy >= g.h) continue;
        float* dxr = dxp + iy * g.w;
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const float wv = wc[ky * g.kw + kx];
          const int64_t off = kx * g.dilW - g.padW;
          int64_t lo, hi;
          validColumns(g, off, lo, hi);
          if (g.strideW == 1) {
            float* xs = dxr + off;
            for (int64_t ox = lo; ox < hi; ++ox) xs[ox] += wv * dyr[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) dxr[ox * g.strideW + off] += wv * dyr[ox];
          }
        }
      }
    }
  });
}

// dw[c, tap] = sum over images and output pixels; per channel, images in
// order, each row's dot product in float, accumulated in double.
inline void depthwiseBackwardWeight(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* dbias) {
  const int64_t taps = g.taps();
  parallelFor(g.cOut, [&](int64_t c) {
    double acc[64 * 64];
    double biasAcc = 0.0;
    for (int64_t t = 0; t < taps; ++t) acc[t] = 0.0;
    for (int64_t n = 0; n < g.n; ++n) {
      const float* xp = x + (n * g.cIn + c) * g.inPlane();
      const float* dyp = dy + (n * g.cOut + c) * g.outPlane();
      for (int64_t oy = 0; oy < g.outH; ++oy) {
        const float* dyr = dyp + oy * g.outW;
        if (dbias) {
          float s = 0.0f;
          for (int64_t ox = 0; ox < g.outW; ++ox) s += dyr[ox];
          biasAcc += s;
        }
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.strideH - g.padH + ky * g.dilH;
          if (iy < 0 || iy >= g.h) continue;
          const float* xr = xp + iy * g.w;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t off = kx * g.dilW - g.padW;
            int64_t lo, hi;
            validColumns(g, off, lo, hi);
            float s = 0.0f;
            for (int64_t ox = lo; ox < hi; ++ox) s += dyr[ox] * xr[ox * g.strideW + off];
            acc[ky * g.kw + kx] += s;
          }
        }
      }
    }
    for (int64_t t = 0; t < taps; ++t) dw[c * taps + t] = static_cast<float>(acc[t]);
    if (dbias) dbias[c] = static_cast<float>(biasAcc);
  });
}

}  // namespace kiln
