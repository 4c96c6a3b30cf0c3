// Winograd F(2x2, 3x3) for inference: a 3x3 stride-1 convolution computed on
// 4x4 input tiles transformed so that each 2x2 output tile needs 16
// multiplies per (input, output) channel pair instead of 36: 16 GEMMs
// [cOut x cIn] x [cIn x tiles] in the transformed domain, between an input
// and an output transform (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2015). Only for fused inference convolutions, whose
// weights are transformed and packed once (convPackWeights): training keeps
// the direct convolution, which matches PyTorch's sums more closely.
#pragma once
#include <algorithm>
#include <cstdint>

#include "conv.h"
#include "gemm_driver.h"
#include "threadpool.h"
#include "vec_table.h"

namespace kiln {

constexpr int kWinoTile = 2;     // output tile side
constexpr int kWinoElems = 16;   // 4x4 transformed values per tile

// Worth it where there are tiles enough for the GEMMs' panels and channels
// enough that the transforms stay small next to them. Measured at 2 threads
// (batch 1): 10x10 planes (25 tiles) gain ~1.5x, 7x7 (16 tiles) lose to the
// direct convolution, and 16 channels lose at any size.
// The transformed input and output (16 x (cIn + cOut) floats a tile) are
// held for at most this many floats (64 MB) at once: a batch is done a few
// images at a time, and a plane too large for it takes the direct path.
constexpr int64_t kWinoMaxFloats = 16 << 20;

inline int64_t winogradTilesPerImage(const ConvGeometry& g) { return ((g.outH + 1) / 2) * ((g.outW + 1) / 2); }
inline int64_t winogradFloatsPerImage(const ConvGeometry& g) {
  return kWinoElems * (g.cIn + g.cOut) * winogradTilesPerImage(g);
}

inline bool winogradFits(const ConvGeometry& g) {
  const int64_t tiles = g.n * winogradTilesPerImage(g);
  return g.kh == 3 && g.kw == 3 && g.strideH == 1 && g.strideW == 1 && g.dilH == 1 && g.dilW == 1 && g.groups == 1 &&
         tiles >= 25 && g.cIn >= 32 && g.cOut >= 32 && winogradFloatsPerImage(g) <= kWinoMaxFloats;
}

// U = G g G^T for every (co, ci): u[e][co][ci], e = 4*row + col.
inline void winogradWeights(const ConvGeometry& g, const float* w, float* u) {
  const int64_t cOut = g.cOut, cIn = g.cIn;
  parallelRuns(cOut, [&](int64_t co) {
    for (int64_t ci = 0; ci < cIn; ++ci) {
      const float* k = w + (co * cIn + ci) * 9;
      double t[4][3];  // G g
      for (int c = 0; c < 3; ++c) {
        const double a = k[c], b = k[3 + c], d = k[6 + c];
        t[0][c] = a;
        t[1][c] = 0.5 * (a + b + d);
        t[2][c] = 0.5 * (a - b + d);
        t[3][c] = d;
      }
      for (int r = 0; r < 4; ++r) {  // (G g) G^T
        const double a = t[r][0], b = t[r][1], d = t[r][2];
        const double row[4] = {a, 0.5 * (a + b + d), 0.5 * (a - b + d), d};
        for (int c = 0; c < 4; ++c) u[((r * 4 + c) * cOut + co) * cIn + ci] = static_cast<float>(row[c]);
      }
    }
  });
}

// A GEMM of the transformed domain: C[M x N] = A[M x K] B[K x N], all
// row-major; B's and C's rows are n floats apart (N may be a slice of them).
// The transformed input and output hold a channel's 16 elements side by side
// ([channel][element][tile]): the transforms then write and read 16 rows a
// few KB apart, not 16 matrices apart (the input transform had been a third
// of a batch-1 call on yolov8n's 20x20 planes).
struct WinogradGemm {
  const float* a;  // U_e [cOut x cIn] (only when packing)
  const float* b;  // V_e [cIn x tiles], from the slice's first column
  float* c;        // M_e [cOut x tiles], from the slice's first column
  int64_t k, n;
  void packA(float* dst, int width, int64_t i0, int rows, int64_t p0, int64_t kc) const {
    packTransposed(dst, width, a + i0 * k + p0, k, rows, kc);
  }
  void packB(float* dst, int width, int64_t p0, int64_t kc, int64_t j0, int cols) const {
    packStraight(dst, width, b + p0 * n + j0, n, cols, kc);
  }
  void tile(const MicroKernel& uk, const float* ap, const float* bp, int64_t kc, int64_t i0, int64_t j0, int rows,
            int cols, bool firstK, bool) const {
    uk.run(kc, ap, bp, c + i0 * n + j0, n, 1.0f, firstK ? 0.0f : 1.0f, rows, cols);
  }
};

inline int64_t winogradPackedLength(const ConvGeometry& g) {
  return kWinoElems * packedLength(g.cOut, activeMicroKernel().mr, g.cIn);
}

// The transformed weights packed as the 16 GEMMs' A operands.
inline void winogradPack(const ConvGeometry& g, const float* w, float* packed) {
  thread_local ScratchBuffer uBuf;
  float* u = uBuf.get(static_cast<size_t>(kWinoElems * g.cOut * g.cIn));
  winogradWeights(g, w, u);
  const MicroKernel& uk = activeMicroKernel();
  const int64_t each = packedLength(g.cOut, uk.mr, g.cIn);
  for (int e = 0; e < kWinoElems; ++e)
    packAllA(uk, WinogradGemm{u + e * g.cOut * g.cIn, nullptr, nullptr, g.cIn, 0}, g.cOut, g.cIn, packed + e * each);
}

// y = act(conv3x3(x) + bias) for the images of g (a chunk of the batch).
inline void winogradImages(const ConvGeometry& g, const float* x, const float* packed, const float* bias, float* y,
                           int act, float alpha) {
  const int64_t th = (g.outH + 1) / 2, tw = (g.outW + 1) / 2, perImage = th * tw, tiles = g.n * perImage;
  const int64_t cIn = g.cIn, cOut = g.cOut;
  thread_local ScratchBuffer vBuf, mBuf;
  float* v = vBuf.get(static_cast<size_t>(kWinoElems * cIn * tiles));
  float* m = mBuf.get(static_cast<size_t>(kWinoElems * cOut * tiles));

  const VecKernels& vk = vec();
  // Input transform, per (image, channel) plane: V = B^T d B for each 4x4
  // patch d. The plane's rows, zero-padded, are split into even and odd
  // columns first, so that the kernel reads every patch column contiguously.
  const int64_t rows = 2 * th + 2, half = tw + 1;
  parallelRuns(g.n * cIn, [&](int64_t plane) {
    const int64_t n = plane / cIn, c = plane % cIn;
    const float* src = x + plane * g.inPlane();
    thread_local ScratchBuffer splitBuf;
    float* split = splitBuf.get(static_cast<size_t>(rows * 2 * half));  // row R: even half, then odd half
    for (int64_t R = 0; R < rows; ++R) {
      float* even = split + R * 2 * half;
      float* odd = even + half;
      const int64_t iy = R - g.padH;
      for (int64_t k = 0; k < half; ++k) {
        const int64_t ix0 = 2 * k - g.padW, ix1 = ix0 + 1;
        const bool rowIn = iy >= 0 && iy < g.h;
        even[k] = rowIn && ix0 >= 0 && ix0 < g.w ? src[iy * g.w + ix0] : 0.0f;
        odd[k] = rowIn && ix1 >= 0 && ix1 < g.w ? src[iy * g.w + ix1] : 0.0f;
      }
    }
    for (int64_t ty = 0; ty < th; ++ty) {
      const float* e[4];
      const float* o[4];
      for (int i = 0; i < 4; ++i) {
        e[i] = split + (2 * ty + i) * 2 * half;
        o[i] = e[i] + half;
      }
      vk.winogradIn(e, o, v + c * kWinoElems * tiles + n * perImage + ty * tw, tiles, tw);
    }
  });

  // The 16 GEMMs, split into column chunks, as one job of serial GEMMs: one
  // hand-off for all of them instead of a few per GEMM (small planes have
  // little work per GEMM; 10x10 planes lost to the direct convolution at 2
  // threads before).
  const MicroKernel& uk = activeMicroKernel();
  const int64_t each = packedLength(cOut, uk.mr, cIn);
  const int64_t chunks = ceilDiv(tiles, 256);
  parallelFor(kWinoElems * chunks, [&](int64_t task) {
    const int64_t e = task / chunks, part = task % chunks;
    const int64_t j0 = tiles * part / chunks, j1 = tiles * (part + 1) / chunks;
    Prepacked pre;
    pre.a = packed + e * each;
    const WinogradGemm gemm{nullptr, v + e * tiles + j0, m + e * tiles + j0, cIn, kWinoElems * tiles};
    runBlockedGemm(uk, gemm, cOut, j1 - j0, cIn, pre);
  });

  // Output transform, per (image, channel) plane: Y = A^T M A, a row of
  // tiles at a time into even and odd columns, interleaved into the plane
  // (clipped at its edge), then the bias and activation.
  parallelRuns(g.n * cOut, [&](int64_t plane) {
    const int64_t n = plane / cOut, co = plane % cOut;
    float* dst = y + plane * g.outPlane();
    thread_local ScratchBuffer rowBuf;
    float* quad = rowBuf.get(static_cast<size_t>(4 * tw));
    float* const parts[4] = {quad, quad + tw, quad + 2 * tw, quad + 3 * tw};
    for (int64_t ty = 0; ty < th; ++ty) {
      vk.winogradOut(m + co * kWinoElems * tiles + n * perImage + ty * tw, tiles, parts, tw);
      for (int i = 0; i < 2 && 2 * ty + i < g.outH; ++i) {
        float* out = dst + (2 * ty + i) * g.outW;
        const float* c0 = parts[2 * i];
        const float* c1 = parts[2 * i + 1];
        for (int64_t t = 0; t < g.outW / 2; ++t) {
          out[2 * t] = c0[t];
          out[2 * t + 1] = c1[t];
        }
        if (g.outW % 2) out[g.outW - 1] = c0[g.outW / 2];
      }
    }
    vk.biasAct(dst, g.outPlane(), bias ? bias[co] : 0.0f, act, alpha);
  });
}

// y = act(conv3x3(x) + bias) from weights packed by winogradPack, a few
// images at a time (kWinoMaxFloats of transformed data at most).
inline void winogradForward(const ConvGeometry& g, const float* x, const float* packed, const float* bias, float* y,
                            int act, float alpha) {
  const int64_t chunk = std::max<int64_t>(1, kWinoMaxFloats / winogradFloatsPerImage(g));
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    ConvGeometry part = g;
    part.n = std::min(chunk, g.n - n0);
    winogradImages(part, x + n0 * g.cIn * g.inPlane(), packed, bias, y + n0 * g.cOut * g.outPlane(), act, alpha);
  }
}

}  // namespace kiln
