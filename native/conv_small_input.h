// The forward convolution of an input with few channels (an RGB image: the
// first layer), computed directly rather than through im2col's GEMM. There
// the GEMM's depth is 27 (3x3) or 147 (7x7) and its operand rows few, so it
// spends its time packing and storing, not multiplying (yolov8n's 3->16
// stride-2 stem ran at 36 GFLOP/s). Here each output row is a sum over the
// kernel taps of input rows, read with the stride by splitting each padded
// input row into its `stride` phases first: tap kx reads phase kx*dil % s
// from column kx*dil / s on, contiguously. Every output is the sum over
// (input channel, ky, kx) in that order, so the thread count changes nothing.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv.h"
#include "gemm_driver.h"
#include "threadpool.h"
#include "vec_table.h"

namespace kiln {

constexpr int64_t kSmallInputMaxChannels = 4;

inline bool smallInputFits(const ConvGeometry& g) {
  return g.groups == 1 && g.cIn <= kSmallInputMaxChannels && g.taps() > 1 && g.outW >= 16;
}

inline void smallInputForward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                              int act, float alpha) {
  const int64_t s = g.strideW, taps = g.cIn * g.taps();
  // The padded row (every column a tap reads) and its phases, each long enough
  // for every tap's run of outW values.
  const int64_t padded = (g.outW - 1) * s + (g.kw - 1) * g.dilW + 1, phaseLength = ceilDiv(padded, s) + 1;
  const VecKernels& vk = vec();
  parallelRuns(g.n * g.outH, [&](int64_t row) {
    const int64_t n = row / g.outH, oy = row % g.outH;
    thread_local ScratchBuffer phaseBuf, zeroBuf;
    thread_local std::vector<const float*> src;
    float* phases = phaseBuf.get(static_cast<size_t>(g.cIn * g.kh * s * phaseLength));
    float* zeros = zeroBuf.get(static_cast<size_t>(phaseLength));
    std::fill(zeros, zeros + phaseLength, 0.0f);  // a row above or below the input
    src.resize(static_cast<size_t>(taps));
    for (int64_t ci = 0; ci < g.cIn; ++ci)
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        const int64_t iy = oy * g.strideH - g.padH + ky * g.dilH;
        float* ph = phases + (ci * g.kh + ky) * s * phaseLength;
        const bool inside = iy >= 0 && iy < g.h;
        if (inside) {
          const float* in = x + ((n * g.cIn + ci) * g.h + iy) * g.w;
          for (int64_t r = 0; r < s; ++r) {
            // Phase r holds columns m*s + r - padW: zeros, the row's columns, zeros.
            float* p = ph + r * phaseLength;
            const int64_t lo = std::clamp<int64_t>(ceilDiv(g.padW - r, s), 0, phaseLength);
            const int64_t hi = std::clamp<int64_t>(ceilDiv(g.w + g.padW - r, s), lo, phaseLength);
            const float* from = in + lo * s + r - g.padW;
            for (int64_t m = 0; m < lo; ++m) p[m] = 0.0f;
            for (int64_t m = lo; m < hi; ++m) p[m] = from[(m - lo) * s];
            for (int64_t m = hi; m < phaseLength; ++m) p[m] = 0.0f;
          }
        }
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const int64_t off = kx * g.dilW;
          src[static_cast<size_t>((ci * g.kh + ky) * g.kw + kx)] =
              inside ? ph + (off % s) * phaseLength + off / s : zeros;
        }
      }
    for (int64_t co0 = 0; co0 < g.cOut; co0 += 4) {
      const int channels = static_cast<int>(std::min<int64_t>(4, g.cOut - co0));
      float* out[4];
      for (int c = 0; c < channels; ++c) out[c] = y + ((n * g.cOut + co0 + c) * g.outH + oy) * g.outW;
      vk.tapRows(src.data(), w + co0 * taps, taps, channels, out, g.outW);
      if (bias || act != kActNone)
        for (int c = 0; c < channels; ++c) vk.biasAct(out[c], g.outW, bias ? bias[co0 + c] : 0.0f, act, alpha);
    }
  });
}

}  // namespace kiln
