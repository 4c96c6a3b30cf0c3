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

struct MicroKernel {
  int mr;
  int nr;
  MicroFn run;
  // SIMD packers for this ISA; null where the portable ones serve.
  PackFn packTransposed;
  PackFn packStraight;
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
