// SGEMM building blocks shared by gemm.cc and conv.cc: the register-blocked
// micro-kernels (one per ISA, chosen at run time) and the packed-panel layout
// they read.
//
// Packed layout (BLIS-style): an A micro-panel holds MR rows of A for kc steps
// of k, stored k-major (a[p*MR + i]); a B micro-panel holds NR columns of B,
// stored k-major (b[p*NR + j]). Rows/columns past the matrix edge are zero.
#pragma once
#include <cstdint>

namespace kiln {

// c[i*ldc + j] = alpha * sum_p a[p*MR+i] * b[p*NR+j] (+ beta * c[i*ldc + j] when
// beta != 0; beta == 0 never reads c) for i < mr, j < nr. The sum runs over p in
// increasing order, one accumulator per element, so each element's value does
// not depend on mr, nr or where the tile sits.
using MicroFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta,
                         int mr, int nr);

// Packs `count` (<= width) matrix rows into k-major panel order, zero-filling
// up to width: transposed, dst[p*width + i] = src[i*ld + p]; straight,
// dst[p*width + j] = src[p*ld + j]; for p < kc.
using PackFn = void (*)(float* dst, int width, const float* src, int64_t ld, int count, int64_t kc);

// Implicit im2col, table-driven: a panel's columns split into segments of at
// most 16 output pixels that read one input row with a fixed stride (1 or 2).
// A segment's lanes are valid where `mask` has a bit: for stride 1, bit t
// covers source element offset + t; for stride 2, bit i covers offset + i
// (i < 32) and lane t reads offset + 2t. Invalid lanes read as zero.
struct Im2colSegment {
  int64_t offset;  // from the channel-0 base of the depth row's image
  uint32_t mask;
  int32_t col;  // first panel column written
  int32_t len;  // columns written (<= 16)
};

// For each depth row p < kc (global row p0 + p: channel c = row / taps, tap =
// row % taps), writes dst[p*width + col + t] from x + c*chanStride + offset
// for every segment of that tap (table[tap*segsPerTap ...]).
using Im2colFn = void (*)(float* dst, int width, int64_t kc, int64_t p0, int64_t taps, int64_t chanStride,
                          int stride, const float* x, const Im2colSegment* table, int segsPerTap);

struct MicroKernel {
  int mr;
  int nr;
  MicroFn run;
  // SIMD packers for this ISA; null where the portable ones serve.
  PackFn packTransposed;
  PackFn packStraight;
  Im2colFn im2col;
  const char* name;
};

// The micro-kernel for activeIsa() (KILN_ISA can force a lower one).
const MicroKernel& activeMicroKernel();

// The `gemm` kernel (see src/engine/kernels.ts): for each i < batch,
// C_i = alpha * op(A_i) op(B_i) + beta * C_i, row-major, multi-threaded.
void gemmBatched(int64_t batch, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t strideA, const float* b, int64_t strideB, float beta, float* c,
                 int64_t strideC);

#if defined(__x86_64__)
// Defined in native/isa/gemm_avx512.cc and native/isa/gemm_avx2.cc (compiled
// with their ISA flags); call only when the CPU supports the ISA.
MicroKernel microKernelAvx512();
MicroKernel microKernelAvx2();
// Runs `iters` rounds of independent FMA chains on the calling thread and
// returns the floating-point operations done (2 per lane per FMA).
double fmaBurnAvx512(int64_t iters);
double fmaBurnAvx2(int64_t iters);
#endif

}  // namespace kiln
