// AVX2/FMA SGEMM micro-kernel: 6 rows x 16 columns (two ymm per row), 12
// accumulators in the 16 ymm registers. Compiled with -mavx2 -mfma; called
// only on such CPUs.
#include <immintrin.h>

#include "gemm.h"

namespace kiln {
namespace {

constexpr int kMR = 6, kNR = 16;

// Lane masks for the first n of 8 lanes (maskload/maskstore read the sign bit).
inline __m256i laneMask(int n) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
}

template <int R>
void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int nr) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) lo[i] = hi[i] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      lo[i] = _mm256_fmadd_ps(ai, b0, lo[i]);
      hi[i] = _mm256_fmadd_ps(ai, b1, hi[i]);
    }
    a += kMR;
    b += kNR;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  if (nr == kNR) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      float* row = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(va, lo[i]), r1 = _mm256_mul_ps(va, hi[i]);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(va, lo[i], _mm256_mul_ps(vb, _mm256_loadu_ps(row)));
        r1 = _mm256_fmadd_ps(va, hi[i], _mm256_mul_ps(vb, _mm256_loadu_ps(row + 8)));
      }
      _mm256_storeu_ps(row, r0);
      _mm256_storeu_ps(row + 8, r1);
    }
    return;
  }
  const __m256i m0 = laneMask(nr), m1 = laneMask(nr - 8);
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    float* row = c + i * ldc;
    __m256 r0 = _mm256_mul_ps(va, lo[i]), r1 = _mm256_mul_ps(va, hi[i]);
    if (beta != 0.0f) {
      r0 = _mm256_fmadd_ps(va, lo[i], _mm256_mul_ps(vb, _mm256_maskload_ps(row, m0)));
      r1 = _mm256_fmadd_ps(va, hi[i], _mm256_mul_ps(vb, _mm256_maskload_ps(row + 8, m1)));
    }
    _mm256_maskstore_ps(row, m0, r0);
    _mm256_maskstore_ps(row + 8, m1, r1);
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, float*, int64_t, float, float, int);
constexpr TileFn kTiles[kMR + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

void run(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int mr, int nr) {
  kTiles[mr](kc, a, b, c, ldc, alpha, beta, nr);
}

}  // namespace

MicroKernel microKernelAvx2() { return MicroKernel{kMR, kNR, run, nullptr, nullptr, nullptr, "avx2 6x16"}; }

double fmaBurnAvx2(int64_t iters) {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 x = _mm256_set1_ps(0.9999999f), y = _mm256_set1_ps(0.0001f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  volatile float sink = lanes[0] + lanes[7];
  (void)sink;
  return static_cast<double>(iters) * kChains * 8 * 2;
}

}  // namespace kiln
