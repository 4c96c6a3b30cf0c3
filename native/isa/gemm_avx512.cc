// AVX-512 SGEMM kernels: the 14 x 32 micro-kernel (two zmm per row), 28
// accumulators, enough independent FMA chains for 2 FMA ports x 4 cycles of
// latency; the panel packers (16 x 16 register transposes) and the table-driven
// implicit im2col (masked loads). Compiled with -mavx512f/bw/dq/vl; called
// only on such CPUs.
#include <immintrin.h>

#include <algorithm>

#include "gemm.h"

namespace kiln {
namespace {

constexpr int kMR = 14, kNR = 32;

template <int R>
void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int nr) {
  __m512 lo[R], hi[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) lo[i] = hi[i] = _mm512_setzero_ps();
  auto steps = [&](int64_t count) {
#pragma GCC unroll 4
    for (int64_t p = 0; p < count; ++p) {
      const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        lo[i] = _mm512_fmadd_ps(ai, b0, lo[i]);
        hi[i] = _mm512_fmadd_ps(ai, b1, hi[i]);
      }
      a += kMR;
      b += kNR;
    }
  };
  // C's rows often lie a multiple of 4 KB apart, so they share L1 sets and
  // are evicted while the tile runs: fetch them during the last steps instead.
  const int64_t tailSteps = kc < 32 ? kc : 32;
  steps(kc - tailSteps);
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
  }
  steps(tailSteps);
  const __mmask16 m0 = nr >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : static_cast<__mmask16>((1u << (nr - 16)) - 1);
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      _mm512_mask_storeu_ps(c + i * ldc, m0, _mm512_mul_ps(va, lo[i]));
      _mm512_mask_storeu_ps(c + i * ldc + 16, m1, _mm512_mul_ps(va, hi[i]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      float* row = c + i * ldc;
      const __m512 old0 = _mm512_maskz_loadu_ps(m0, row), old1 = _mm512_maskz_loadu_ps(m1, row + 16);
      _mm512_mask_storeu_ps(row, m0, _mm512_fmadd_ps(va, lo[i], _mm512_mul_ps(vb, old0)));
      _mm512_mask_storeu_ps(row + 16, m1, _mm512_fmadd_ps(va, hi[i], _mm512_mul_ps(vb, old1)));
    }
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, float*, int64_t, float, float, int);
constexpr TileFn kTiles[kMR + 1] = {nullptr,  tile<1>,  tile<2>,  tile<3>,  tile<4>,  tile<5>,  tile<6>, tile<7>,
                                    tile<8>,  tile<9>,  tile<10>, tile<11>, tile<12>, tile<13>, tile<14>};

void run(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int mr, int nr) {
  kTiles[mr](kc, a, b, c, ldc, alpha, beta, nr);
}

inline __mmask16 firstLanes(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1);
}

// In-register transpose of a 16 x 16 block: r[i][j] becomes r[j][i].
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4g + c], 128-bit lane L: column 4L + c of rows 4g .. 4g+3.
  for (int g = 0; g < 16; g += 4) {
    u[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
    u[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
    u[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
    u[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 x0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), x1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
    const __m512 y0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44), y1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
    r[c] = _mm512_shuffle_f32x4(x0, y0, 0x88);
    r[4 + c] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
    r[8 + c] = _mm512_shuffle_f32x4(x1, y1, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
  }
}

// dst[p*width + i] = src[i*ld + p] (0 for i >= rows), 16 rows x 16 steps of k
// per register transpose.
void packTransposed(float* dst, int width, const float* src, int64_t ld, int rows, int64_t kc) {
  for (int i0 = 0; i0 < width; i0 += 16) {
    const int lanes = std::min(16, width - i0), live = std::max(0, std::min(16, rows - i0));
    const __mmask16 store = firstLanes(lanes);
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = i < live ? _mm512_loadu_ps(src + (i0 + i) * ld + p) : _mm512_setzero_ps();
      transpose16(r);
      for (int q = 0; q < 16; ++q) _mm512_mask_storeu_ps(dst + (p + q) * width + i0, store, r[q]);
    }
    for (; p < kc; ++p)
      for (int i = 0; i < lanes; ++i) dst[p * width + i0 + i] = i < live ? src[(i0 + i) * ld + p] : 0.0f;
  }
}

// dst[p*width + j] = src[p*ld + j] (0 for j >= cols).
void packStraight(float* dst, int width, const float* src, int64_t ld, int cols, int64_t kc) {
  for (int64_t p = 0; p < kc; ++p) {
    const float* s = src + p * ld;
    float* d = dst + p * width;
    // Rows lie far apart (often a page or more): fetch ahead of use.
    _mm_prefetch(reinterpret_cast<const char*>(s + 8 * ld), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(s + 8 * ld + width - 1), _MM_HINT_T0);
    for (int j = 0; j < width; j += 16) {
      const __m512 v = _mm512_maskz_loadu_ps(firstLanes(cols - j), s + j);
      _mm512_mask_storeu_ps(d + j, firstLanes(width - j), v);
    }
  }
}

// Masked loads never touch masked-off lanes, so padding costs nothing: lanes
// outside the input row read as zero.
void im2col(float* dst, int width, int64_t kc, int64_t p0, int64_t taps, int64_t chanStride, int stride,
            const float* x, const Im2colSegment* table, int segsPerTap) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  int64_t c = p0 / taps, tap = p0 % taps;
  for (int64_t p = 0; p < kc; ++p) {
    const float* base = x + c * chanStride;
    float* d = dst + p * width;
    const Im2colSegment* seg = table + tap * segsPerTap;
    if (stride == 1) {
      for (int s = 0; s < segsPerTap; ++s) {
        const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>(seg[s].mask), base + seg[s].offset);
        _mm512_mask_storeu_ps(d + seg[s].col, firstLanes(seg[s].len), v);
      }
    } else {
      for (int s = 0; s < segsPerTap; ++s) {
        const float* src = base + seg[s].offset;
        const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(seg[s].mask), src);
        const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(seg[s].mask >> 16), src + 16);
        _mm512_mask_storeu_ps(d + seg[s].col, firstLanes(seg[s].len), _mm512_permutex2var_ps(lo, even, hi));
      }
    }
    if (++tap == taps) tap = 0, ++c;
  }
}

}  // namespace

MicroKernel microKernelAvx512() { return MicroKernel{kMR, kNR, run, packTransposed, packStraight, im2col, "avx512 14x32"}; }

double fmaBurnAvx512(int64_t iters) {
  constexpr int kChains = 16;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 x = _mm512_set1_ps(0.9999999f), y = _mm512_set1_ps(0.0001f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  volatile float sink = lanes[0] + lanes[15];
  (void)sink;
  return static_cast<double>(iters) * kChains * 16 * 2;
}

}  // namespace kiln
