// Convolution geometry shared by the convolution kernels (conv.cc and its
// helpers): the 16 ints of a ConvGeom (src/engine/kernels.ts) plus the sizes
// derived from them.
#pragma once
#include <cstdint>

namespace kiln {

struct ConvGeometry {
  int64_t n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilH, dilW, groups, outH, outW;

  int64_t cInG() const { return cIn / groups; }
  int64_t cOutG() const { return cOut / groups; }
  int64_t inPlane() const { return h * w; }
  int64_t outPlane() const { return outH * outW; }
  int64_t taps() const { return kh * kw; }
  // Depth of the convolution's GEMM: one row per (input channel, tap) of a group.
  int64_t depth() const { return cInG() * kh * kw; }
  bool depthwise() const { return groups == cIn && groups == cOut && groups > 1; }
  bool pointwise() const {
    return kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0 && outH == h && outW == w;
  }
};

// Activation codes of the fused epilogue (kernels.ts `Act`).
enum ActCode { kActNone = -1, kActRelu = 0, kActRelu6 = 1, kActLeakyRelu = 2, kActSilu = 3, kActHardswish = 6 };

}  // namespace kiln
