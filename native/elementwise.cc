// Element-wise kernels: unary, unaryBackward, binary (broadcasting), axpy,
// fill; and the choice of the per-ISA leaf table (vec()).
#include <algorithm>

#include "cpu.h"
#include "kernel_util.h"
#include "napi_util.h"
#include "registry.h"
#include "strided.h"
#include "vec_kernels_impl.h"  // instantiates the portable one-lane table

namespace kiln {

const VecKernels& vec() {
  static const VecKernels* table = [] {
#if defined(__x86_64__)
    if (activeIsa() == Isa::Avx512) return vecKernelsAvx512();
    if (activeIsa() == Isa::Avx2) return vecKernelsAvx2();
#endif
    return &kVecTable<V1>;
  }();
  return *table;
}

namespace {

constexpr int kUnaryOps = 17;
constexpr int kBinaryOps = 6;

// unary(op, x, y, alpha, beta)
void unary(const Args& a) {
  int64_t op = a.integer(0);
  require(op >= 0 && op < kUnaryOps, "unary: unknown op code");
  Span x = a.f32(1), y = a.f32(2);
  requireLength(y.length, static_cast<int64_t>(x.length), "unary", "y");
  float alpha = static_cast<float>(a.number(3)), beta = static_cast<float>(a.number(4));
  const VecKernels& v = vec();
  parallelRanges(static_cast<int64_t>(x.length), kElementwiseGrain, [&](int64_t b, int64_t e) {
    v.unary(static_cast<int>(op), x.data + b, y.data + b, e - b, alpha, beta);
  });
}

// Which of x and y = f(x) each op's gradient reads.
bool backwardReadsX(int op) { return op <= 3 || op == 6 || op == 7 || op == 9 || op == 12 || op == 13 || op == 14; }
bool backwardReadsY(int op) { return op == 4 || op == 5 || op == 8 || op == 10 || op == 16; }

// unaryBackward(op, x, y, dy, dx, alpha, beta)
void unaryBackward(const Args& a) {
  int64_t op = a.integer(0);
  require(op >= 0 && op < kUnaryOps, "unaryBackward: unknown op code");
  Span x = a.f32(1), y = a.f32(2), dy = a.f32(3), dx = a.f32(4);
  int64_t n = static_cast<int64_t>(dy.length);
  requireLength(dx.length, n, "unaryBackward", "dx");
  // An array the op does not read may be any size: dy stands in for it.
  const float* xp = dy.data;
  const float* yp = dy.data;
  if (backwardReadsX(static_cast<int>(op))) {
    requireLength(x.length, n, "unaryBackward", "x");
    xp = x.data;
  }
  if (backwardReadsY(static_cast<int>(op))) {
    requireLength(y.length, n, "unaryBackward", "y");
    yp = y.data;
  }
  float alpha = static_cast<float>(a.number(5)), beta = static_cast<float>(a.number(6));
  const VecKernels& v = vec();
  parallelRanges(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    v.unaryBackward(static_cast<int>(op), xp + b, yp + b, dy.data + b, dx.data + b, e - b, alpha, beta);
  });
}

// Scalar forms of the binary ops, for strided or very short rows; passed as
// types so each loop is compiled with its op inline.
struct AddOp {
  float operator()(float x, float y) const { return x + y; }
};
struct SubOp {
  float operator()(float x, float y) const { return x - y; }
};
struct MulOp {
  float operator()(float x, float y) const { return x * y; }
};
struct DivOp {
  float operator()(float x, float y) const { return x / y; }
};
struct MaximumOp {
  float operator()(float x, float y) const { return (x != x || y != y) ? x + y : (x > y ? x : y); }
};
struct MinimumOp {
  float operator()(float x, float y) const { return (x != x || y != y) ? x + y : (x < y ? x : y); }
};

template <class Fn>
void withScalarOp(int op, const Fn& fn) {
  switch (op) {
    case 0: fn(AddOp{}); break;
    case 1: fn(SubOp{}); break;
    case 2: fn(MulOp{}); break;
    case 3: fn(DivOp{}); break;
    case 4: fn(MaximumOp{}); break;
    default: fn(MinimumOp{}); break;
  }
}

// Rows shorter than this skip the vector leaf (its call costs more than the work).
constexpr int64_t kShortRow = 16;

// binary(op, a, aStrides, b, bStrides, out, shape)
void binary(const Args& args) {
  int64_t op = args.integer(0);
  require(op >= 0 && op < kBinaryOps, "binary: unknown op code");
  Span a = args.f32(1), b = args.f32(3), out = args.f32(5);
  ISpan as = args.i32(2), bs = args.i32(4), shape = args.i32(6);
  int rank = static_cast<int>(shape.length);
  require(as.length == shape.length && bs.length == shape.length, "binary: stride lists must match the shape's rank");
  require(rank <= kMaxRank, "binary: rank above 16 is not supported");
  int64_t total = checkedProduct(shape.data, shape.length, "binary");
  requireLength(out.length, total, "binary", "out");
  if (total == 0) return;
  int64_t dims[kMaxRank], sa[kMaxRank], sb[kMaxRank], so[kMaxRank];
  int64_t run = 1;
  for (int d = rank - 1; d >= 0; --d) {
    dims[d] = shape.data[d];
    sa[d] = as.data[d];
    sb[d] = bs.data[d];
    so[d] = run;
    run *= dims[d];
  }
  const int64_t* strides[3] = {sa, sb, so};
  Strided<3> s = collapseStrided<3>(rank, dims, strides, "binary");
  s.requireInBounds(0, 0, a.length, "binary", "a");
  s.requireInBounds(1, 0, b.length, "binary", "b");
  const int64_t inner = s.size[s.rank - 1];
  const int64_t ia = s.stride[0][s.rank - 1], ib = s.stride[1][s.rank - 1];
  const bool leaf = (ia == 0 || ia == 1) && (ib == 0 || ib == 1);
  const VecKernels& v = vec();
  const int o = static_cast<int>(op);
  // Work is split over flat output ranges; each range walks whole or partial rows.
  withScalarOp(o, [&](auto f) {
    parallelRanges(total, kElementwiseGrain, [&](int64_t begin, int64_t end) {
      RowCursor<3> row(s, begin / inner);
      for (int64_t pos = begin, col = begin % inner; pos < end; row.next(), col = 0) {
        int64_t len = std::min(inner - col, end - pos);
        const float* pa = a.data + row.off[0] + col * ia;
        const float* pb = b.data + row.off[1] + col * ib;
        float* po = out.data + pos;
        if (leaf && len >= kShortRow) {
          v.binary(o, pa, static_cast<int>(ia), pb, static_cast<int>(ib), po, len);
        } else {
          for (int64_t i = 0; i < len; ++i) po[i] = f(pa[i * ia], pb[i * ib]);
        }
        pos += len;
      }
    });
  });
}

// axpy(alpha, x, y): y += alpha * x
void axpy(const Args& a) {
  float alpha = static_cast<float>(a.number(0));
  Span x = a.f32(1), y = a.f32(2);
  requireLength(y.length, static_cast<int64_t>(x.length), "axpy", "y");
  const VecKernels& v = vec();
  parallelRanges(static_cast<int64_t>(x.length), kElementwiseGrain,
                 [&](int64_t b, int64_t e) { v.axpy(alpha, x.data + b, y.data + b, e - b); });
}

// fill(out, value)
void fill(const Args& a) {
  Span out = a.f32(0);
  float value = static_cast<float>(a.number(1));
  parallelRanges(static_cast<int64_t>(out.length), kElementwiseGrain * 4,
                 [&](int64_t b, int64_t e) { std::fill(out.data + b, out.data + e, value); });
}

}  // namespace

void registerElementwise(napi_env env, napi_value exports) {
  exportFn(env, exports, "unary", wrap<unary>);
  exportFn(env, exports, "unaryBackward", wrap<unaryBackward>);
  exportFn(env, exports, "binary", wrap<binary>);
  exportFn(env, exports, "axpy", wrap<axpy>);
  exportFn(env, exports, "fill", wrap<fill>);
}

}  // namespace kiln
