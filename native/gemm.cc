// Batched SGEMM (the `gemm` kernel), the portable micro-kernel, the run-time
// choice of micro-kernel, and `peakGflops` (the CPU's measured FP32 peak).
#include "gemm.h"

#include <chrono>
#include <string>

#include "cpu.h"
#include "gemm_driver.h"
#include "napi_util.h"
#include "registry.h"
#include "threadpool.h"

namespace kiln {
namespace {

// Portable micro-kernel: 4 x 16, plain loops the compiler may vectorise.
constexpr int kScalarMR = 4, kScalarNR = 16;

void microScalar(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int mr,
                 int nr) {
  float acc[kScalarMR][kScalarNR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const float* bp = b + p * kScalarNR;
    for (int i = 0; i < kScalarMR; ++i) {
      const float ai = a[p * kScalarMR + i];
      for (int j = 0; j < kScalarNR; ++j) acc[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < nr; ++j) row[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < nr; ++j) row[j] = alpha * acc[i][j] + beta * row[j];
    }
  }
}

MicroKernel chooseMicroKernel() {
#if defined(__x86_64__)
  switch (activeIsa()) {
    case Isa::Avx512: return microKernelAvx512();
    case Isa::Avx2: return microKernelAvx2();
    default: break;
  }
#endif
  return MicroKernel{kScalarMR, kScalarNR, microScalar, nullptr, nullptr, nullptr, "scalar"};
}

// C = alpha * op(A) op(B) + beta * C on plain row-major matrices.
struct MatrixProblem {
  const float* a;
  const float* b;
  float* c;
  bool transA, transB;
  int64_t m, n, k;
  float alpha, beta;

  void packA(float* dst, int width, int64_t i0, int rows, int64_t p0, int64_t kc) const {
    if (transA) packStraight(dst, width, a + p0 * m + i0, m, rows, kc);
    else packTransposed(dst, width, a + i0 * k + p0, k, rows, kc);
  }
  void packB(float* dst, int width, int64_t p0, int64_t kc, int64_t j0, int cols) const {
    if (transB) packTransposed(dst, width, b + j0 * k + p0, k, cols, kc);
    else packStraight(dst, width, b + p0 * n + j0, n, cols, kc);
  }
  void tile(const MicroKernel& uk, const float* ap, const float* bp, int64_t kc, int64_t i0, int64_t j0, int rows,
            int cols, bool firstK, bool) const {
    uk.run(kc, ap, bp, c + i0 * n + j0, n, alpha, firstK ? beta : 1.0f, rows, cols);
  }
};

// C = beta * C (the K == 0 case); beta == 0 clears even NaN.
void scaleMatrix(float* c, int64_t count, float beta) {
  for (int64_t i = 0; i < count; ++i) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
}

void checkFits(const Span& s, int64_t batch, int64_t stride, int64_t size, const char* what) {
  if (batch <= 0 || size <= 0) return;
  int64_t last = (batch - 1) * stride + size;
  if (stride < 0 || static_cast<uint64_t>(last) > s.length)
    throw JsError(std::string("kiln: gemm: ") + what + " is too short for batch, stride and shape");
}

void gemmExport(const Args& args) {
  const int64_t batch = args.integer(0);
  const bool transA = args.boolean(1), transB = args.boolean(2);
  const int64_t m = args.integer(3), n = args.integer(4), k = args.integer(5);
  const float alpha = static_cast<float>(args.number(6));
  Span a = args.f32(7);
  const int64_t strideA = args.integer(8);
  Span b = args.f32(9);
  const int64_t strideB = args.integer(10);
  const float beta = static_cast<float>(args.number(11));
  Span c = args.f32(12);
  const int64_t strideC = args.integer(13);
  require(batch >= 0 && m >= 0 && n >= 0 && k >= 0, "gemm: sizes must be non-negative");
  checkFits(a, batch, strideA, m * k, "a");
  checkFits(b, batch, strideB, k * n, "b");
  checkFits(c, batch, strideC, m * n, "c");
  require(batch <= 1 || m * n == 0 || strideC >= m * n, "gemm: strideC must not overlap outputs");
  gemmBatched(batch, transA, transB, m, n, k, alpha, a.data, strideA, b.data, strideB, beta, c.data, strideC);
}

double burnOnce(int64_t iters) {
#if defined(__x86_64__)
  switch (activeIsa()) {
    case Isa::Avx512: return fmaBurnAvx512(iters);
    case Isa::Avx2: return fmaBurnAvx2(iters);
    default: break;
  }
#endif
  // Portable: independent multiply-add chains the compiler may vectorise.
  float acc[32];
  for (int i = 0; i < 32; ++i) acc[i] = 0.001f * static_cast<float>(i);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 32; ++i) acc[i] = acc[i] * 0.9999999f + 0.0001f;
  volatile float sink = 0;
  for (int i = 0; i < 32; ++i) sink = sink + acc[i];
  return static_cast<double>(iters) * 32 * 2;
}

// Peak FP32 rate: every thread of the pool runs independent FMA chains at once
// (the widest FMA of the active ISA, more chains than FMA latency x ports);
// the sum of each thread's own rate, timed inside the thread, so that a worker
// waking late from its sleep does not count as slow hardware (timing the whole
// job from outside read 8 % under the FMA units' rate on this 2-core VM).
napi_value peakGflopsExport(const Args& args) {
  const int threads = numThreads();
  const int64_t iters = 20'000'000;
  double rate[1024] = {};
  for (int round = 0; round < 2; ++round) {  // the first warms up the clock, the vector units and the workers
    parallelFor(threads, [&](int64_t t) {
      auto start = std::chrono::steady_clock::now();
      const double flops = burnOnce(iters);
      rate[t] = flops / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
  }
  double total = 0;
  for (int t = 0; t < threads; ++t) total += rate[t];
  napi_value out;
  napi_create_double(args.env(), total / 1e9, &out);
  return out;
}

}  // namespace

const MicroKernel& activeMicroKernel() {
  static const MicroKernel uk = chooseMicroKernel();
  return uk;
}

void gemmBatched(int64_t batch, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t strideA, const float* b, int64_t strideB, float beta, float* c,
                 int64_t strideC) {
  if (batch <= 0 || m == 0 || n == 0) return;
  const MicroKernel& uk = activeMicroKernel();
  auto one = [&](int64_t i) {
    float* ci = c + i * strideC;
    if (k == 0) return scaleMatrix(ci, m * n, beta);
    MatrixProblem pr{a + i * strideA, b + i * strideB, ci, transA, transB, m, n, k, alpha, beta};
    runBlockedGemm(uk, pr, m, n, k);
  };
  // Many small products: one per task (each then runs serially inside).
  if (batch > 1 && static_cast<double>(m) * n * k < 128.0 * 128 * 128) {
    parallelFor(batch, one);
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

void registerGemm(napi_env env, napi_value exports) {
  exportFn(env, exports, "gemm", wrap<gemmExport>);
  exportFn(env, exports, "peakGflops", wrapValue<peakGflopsExport>);
}

}  // namespace kiln
