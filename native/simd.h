// Thin SIMD vector types with one interface, so each leaf kernel is written
// once (native/vec_kernels_impl.h) and compiled per ISA: V512 in the
// -mavx512* library, V256 in the -mavx2 -mfma library, V1 (one lane, plain
// C++) in the baseline addon. Everything here has internal linkage: the same
// inline code compiled with different ISA flags must never be merged by the
// linker (an AVX-512 copy could otherwise run on a CPU without it).
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace kiln {
namespace {

inline float bitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t floatToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// One lane: the portable path for CPUs without AVX2 (and KILN_ISA=scalar).
struct V1 {
  using F = float;
  using M = bool;
  using D = double;
  static constexpr int W = 1;
  static F load(const float* p) { return *p; }
  static F loadN(const float* p, int) { return *p; }
  static void store(float* p, F v) { *p = v; }
  static void storeN(float* p, F v, int) { *p = v; }
  static F set(float v) { return v; }
  static F add(F a, F b) { return a + b; }
  static F sub(F a, F b) { return a - b; }
  static F mul(F a, F b) { return a * b; }
  static F div(F a, F b) { return a / b; }
  static F fma(F a, F b, F c) { return a * b + c; }
  // x86 semantics: the second operand when either is NaN.
  static F max(F a, F b) { return a > b ? a : b; }
  static F min(F a, F b) { return a < b ? a : b; }
  static F sqrt(F a) { return __builtin_sqrtf(a); }
  static F abs(F a) { return bitsToFloat(floatToBits(a) & 0x7fffffffu); }
  static F neg(F a) { return bitsToFloat(floatToBits(a) ^ 0x80000000u); }
  static F copySign(F mag, F sign) {
    return bitsToFloat((floatToBits(mag) & 0x7fffffffu) | (floatToBits(sign) & 0x80000000u));
  }
  static M lt(F a, F b) { return a < b; }
  static M le(F a, F b) { return a <= b; }
  static M gt(F a, F b) { return a > b; }
  static M ge(F a, F b) { return a >= b; }
  static M eq(F a, F b) { return a == b; }
  static M unord(F a, F b) { return a != a || b != b; }
  static M mand(M a, M b) { return a && b; }
  static M mor(M a, M b) { return a || b; }
  static bool all(M m) { return m; }
  static F iota() { return 0.0f; }
  static F loadEvenN(const float* p, int) { return *p; }
  static F select(M m, F t, F f) { return m ? t : f; }
  static M tailMask(int) { return true; }
  // Nearest integer for |x| < 2^22 (ties away from zero; callers only need "close").
  static F round(F x) { return static_cast<float>(static_cast<int32_t>(x >= 0 ? x + 0.5f : x - 0.5f)); }
  // 2^k for integer-valued k in [-126, 127].
  static F pow2(F k) { return bitsToFloat(static_cast<uint32_t>(static_cast<int32_t>(k) + 127) << 23); }
  // p * 2^k for integer-valued k in [-150, 128]: two steps, so subnormal
  // results and overflow to inf come out right.
  static F scale2(F p, F k) {
    F k1 = round(k * 0.5f);
    return p * pow2(k1) * pow2(k - k1);
  }
  // x = m * 2^e with m in [1, 2), for finite x > 0 (subnormals included).
  static void frexp(F x, F& m, F& e) {
    float scale = 0;
    if (x < 1.17549435e-38f) {
      x *= 8388608.0f;
      scale = 23;
    }
    uint32_t u = floatToBits(x);
    e = static_cast<float>(static_cast<int32_t>((u >> 23) & 0xff) - 127) - scale;
    m = bitsToFloat((u & 0x7fffffu) | 0x3f800000u);
  }
  static float hsum(F v) { return v; }
  static float hmax(F v) { return v; }
  static D dzero() { return 0.0; }
  static D dset(double v) { return v; }
  // One lane: the upper half is a zero that callers must not shift.
  static void widen(F x, D& lo, D& hi) {
    lo = x;
    hi = 0.0;
  }
  static D dload(const double* p) { return *p; }
  static void dstore(double* p, D v) { *p = v; }
  static D dadd(D a, D b) { return a + b; }
  static D dsub(D a, D b) { return a - b; }
  static D dfma(D a, D b, D c) { return a * b + c; }
  static double dhsum(D v) { return v; }
};

#if defined(__AVX512F__)
struct V512 {
  using F = __m512;
  using M = __mmask16;
  using D = __m512d;
  static constexpr int W = 16;
  static __mmask16 tail(int n) { return static_cast<__mmask16>((1u << n) - 1); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static F loadN(const float* p, int n) { return _mm512_maskz_loadu_ps(tail(n), p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static void storeN(float* p, F v, int n) { _mm512_mask_storeu_ps(p, tail(n), v); }
  static F set(float v) { return _mm512_set1_ps(v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F min(F a, F b) { return _mm512_min_ps(a, b); }
  static F sqrt(F a) { return _mm512_sqrt_ps(a); }
  static F abs(F a) { return _mm512_abs_ps(a); }
  static F neg(F a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
  static F copySign(F mag, F sign) {
    const __m512 s = _mm512_set1_ps(-0.0f);
    return _mm512_or_ps(_mm512_andnot_ps(s, mag), _mm512_and_ps(s, sign));
  }
  static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M le(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M ge(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static M eq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M unord(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
  static M mand(M a, M b) { return static_cast<M>(a & b); }
  static M mor(M a, M b) { return static_cast<M>(a | b); }
  static bool all(M m) { return m == 0xffff; }
  static F iota() { return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
  // p[0], p[2], ..., p[2n - 2] in the first n lanes (reads p[0 .. 2n - 2] only).
  static F loadEvenN(const float* p, int n) {
    int need = 2 * n - 1;
    __m512 lo = loadN(p, need < W ? need : W);
    __m512 hi = need > W ? loadN(p + W, need - W) : _mm512_setzero_ps();
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(lo, evens, hi);
  }
  static F select(M m, F t, F f) { return _mm512_mask_blend_ps(m, f, t); }
  static M tailMask(int n) { return tail(n); }
  static F round(F x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p * 2^k for integer-valued k, subnormals and overflow included, in one instruction.
  static F scale2(F p, F k) { return _mm512_scalef_ps(p, k); }
  static void frexp(F x, F& m, F& e) {
    e = _mm512_getexp_ps(x);  // floor(log2 x), subnormals included
    m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  }
  static float hsum(F v) { return _mm512_reduce_add_ps(v); }
  static float hmax(F v) { return _mm512_reduce_max_ps(v); }
  static D dzero() { return _mm512_setzero_pd(); }
  static D dset(double v) { return _mm512_set1_pd(v); }
  static void widen(F x, D& lo, D& hi) {
    lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1));
  }
  static D dload(const double* p) { return _mm512_loadu_pd(p); }
  static void dstore(double* p, D v) { _mm512_storeu_pd(p, v); }
  static D dadd(D a, D b) { return _mm512_add_pd(a, b); }
  static D dsub(D a, D b) { return _mm512_sub_pd(a, b); }
  static D dfma(D a, D b, D c) { return _mm512_fmadd_pd(a, b, c); }
  static double dhsum(D v) { return _mm512_reduce_add_pd(v); }
};
#endif

#if defined(__AVX2__) && defined(__FMA__)
struct V256 {
  using F = __m256;
  using M = __m256;
  using D = __m256d;
  static constexpr int W = 8;
  static __m256i tail(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static F loadN(const float* p, int n) { return _mm256_maskload_ps(p, tail(n)); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static void storeN(float* p, F v, int n) { _mm256_maskstore_ps(p, tail(n), v); }
  static F set(float v) { return _mm256_set1_ps(v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F min(F a, F b) { return _mm256_min_ps(a, b); }
  static F sqrt(F a) { return _mm256_sqrt_ps(a); }
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static F neg(F a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  static F copySign(F mag, F sign) {
    const __m256 s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign));
  }
  static M lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M le(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M ge(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static M eq(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static M unord(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
  static M mand(M a, M b) { return _mm256_and_ps(a, b); }
  static M mor(M a, M b) { return _mm256_or_ps(a, b); }
  static bool all(M m) { return _mm256_movemask_ps(m) == 0xff; }
  static F iota() { return _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7); }
  // p[0], p[2], ..., p[2n - 2] in the first n lanes (reads p[0 .. 2n - 2] only).
  static F loadEvenN(const float* p, int n) {
    int need = 2 * n - 1;
    __m256 lo = loadN(p, need < W ? need : W);
    __m256 hi = need > W ? loadN(p + W, need - W) : _mm256_setzero_ps();
    __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static F select(M m, F t, F f) { return _mm256_blendv_ps(f, t, m); }
  static M tailMask(int n) { return _mm256_castsi256_ps(tail(n)); }
  static F round(F x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F pow2(F k) {
    __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(i, 23));
  }
  // p * 2^k for integer-valued k in [-150, 128]: two steps, so subnormal
  // results and overflow to inf come out right.
  static F scale2(F p, F k) {
    F k1 = round(mul(k, set(0.5f)));
    return mul(mul(p, pow2(k1)), pow2(sub(k, k1)));
  }
  static void frexp(F x, F& m, F& e) {
    const __m256 tiny = _mm256_set1_ps(1.17549435e-38f);
    __m256 isSub = _mm256_cmp_ps(x, tiny, _CMP_LT_OQ);
    x = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(8388608.0f)), isSub);
    __m256i u = _mm256_castps_si256(x);
    __m256i ei = _mm256_sub_epi32(_mm256_and_si256(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(0xff)),
                                  _mm256_set1_epi32(127));
    e = _mm256_sub_ps(_mm256_cvtepi32_ps(ei), _mm256_and_ps(isSub, _mm256_set1_ps(23.0f)));
    m = _mm256_castsi256_ps(
        _mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffff)), _mm256_set1_epi32(0x3f800000)));
  }
  static float hsum(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  static float hmax(F v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  static D dzero() { return _mm256_setzero_pd(); }
  static D dset(double v) { return _mm256_set1_pd(v); }
  static void widen(F x, D& lo, D& hi) {
    lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
  }
  static D dload(const double* p) { return _mm256_loadu_pd(p); }
  static void dstore(double* p, D v) { _mm256_storeu_pd(p, v); }
  static D dadd(D a, D b) { return _mm256_add_pd(a, b); }
  static D dsub(D a, D b) { return _mm256_sub_pd(a, b); }
  static D dfma(D a, D b, D c) { return _mm256_fmadd_pd(a, b, c); }
  static double dhsum(D v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
};
#endif

}  // namespace
}  // namespace kiln
