// The leaf kernels of vec_table.h, written once over a vector type V of
// simd.h and instantiated per ISA: `kVecTable<V>` is the table. Included only
// by the translation units that build a table (internal linkage throughout).
#pragma once
#include "simd.h"
#include "simd_math.h"
#include "vec_table.h"
#include "dw_kernels_impl.h"

namespace kiln {
namespace {

// ---- loop shapes: full vectors, then one masked tail ------------------------

template <class V, class Fn>
inline void map1(const float* x, float* y, int64_t n, Fn f) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(y + i, f(V::load(x + i)));
  if (i < n) {
    int r = static_cast<int>(n - i);
    V::storeN(y + i, f(V::loadN(x + i, r)), r);
  }
}

template <class V, class Fn>
inline void map2(const float* a, const float* b, float* y, int64_t n, Fn f) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(y + i, f(V::load(a + i), V::load(b + i)));
  if (i < n) {
    int r = static_cast<int>(n - i);
    V::storeN(y + i, f(V::loadN(a + i, r), V::loadN(b + i, r)), r);
  }
}

template <class V, class Fn>
inline void map3(const float* a, const float* b, const float* c, float* y, int64_t n, Fn f) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::store(y + i, f(V::load(a + i), V::load(b + i), V::load(c + i)));
  if (i < n) {
    int r = static_cast<int>(n - i);
    V::storeN(y + i, f(V::loadN(a + i, r), V::loadN(b + i, r), V::loadN(c + i, r)), r);
  }
}

// ---- unary ---------------------------------------------------------------------

template <class V>
void unaryKernel(int op, const float* x, float* y, int64_t n, float alpha, float beta) {
  using F = typename V::F;
  const F zero = V::set(0.0f), three = V::set(3.0f), six = V::set(6.0f);
  const F al = V::set(alpha), be = V::set(beta);
  switch (op) {
    case 0: map1<V>(x, y, n, [&](F v) { return V::max(zero, v); }); break;
    case 1: map1<V>(x, y, n, [&](F v) { return V::min(six, V::max(zero, v)); }); break;
    case 2: map1<V>(x, y, n, [&](F v) { return V::select(V::gt(v, zero), v, V::mul(v, al)); }); break;
    case 3: map1<V>(x, y, n, [&](F v) { return V::div(v, V::add(V::set(1.0f), vexp<V>(V::neg(v)))); }); break;
    case 4: map1<V>(x, y, n, [&](F v) { return vsigmoid<V>(v); }); break;
    case 5: map1<V>(x, y, n, [&](F v) { return vtanh<V>(v); }); break;
    case 6:
      map1<V>(x, y, n, [&](F v) { return V::div(V::mul(v, V::min(six, V::max(zero, V::add(v, three)))), six); });
      break;
    case 7: map1<V>(x, y, n, [&](F v) { return V::div(V::min(six, V::max(zero, V::add(v, three))), six); }); break;
    case 8: map1<V>(x, y, n, [&](F v) { return vexp<V>(v); }); break;
    case 9: map1<V>(x, y, n, [&](F v) { return vlog<V>(v); }); break;
    case 10: map1<V>(x, y, n, [&](F v) { return V::sqrt(v); }); break;
    case 11: map1<V>(x, y, n, [&](F v) { return V::neg(v); }); break;
    case 12: map1<V>(x, y, n, [&](F v) { return V::abs(v); }); break;
    case 13: map1<V>(x, y, n, [&](F v) { return V::min(be, V::max(al, v)); }); break;
    case 14: map1<V>(x, y, n, [&](F v) { return V::mul(v, v); }); break;
    case 15: map1<V>(x, y, n, [&](F v) { return V::fma(al, v, be); }); break;
    case 16: map1<V>(x, y, n, [&](F v) { return V::div(V::set(1.0f), v); }); break;
    default: break;  // op codes are validated by the caller
  }
}

// Gradients follow PyTorch's backward formulas (and their float rounding order).
template <class V>
void unaryBackwardKernel(int op, const float* x, const float* y, const float* dy, float* dx, int64_t n, float alpha,
                         float beta) {
  using F = typename V::F;
  const F zero = V::set(0.0f), one = V::set(1.0f), three = V::set(3.0f), six = V::set(6.0f);
  const F al = V::set(alpha), be = V::set(beta);
  auto run = [&](auto f) { map3<V>(x, y, dy, dx, n, f); };
  switch (op) {
    case 0: run([&](F xv, F, F g) { return V::select(V::gt(xv, zero), g, zero); }); break;
    case 1: run([&](F xv, F, F g) { return V::select(V::mand(V::gt(xv, zero), V::lt(xv, six)), g, zero); }); break;
    case 2: run([&](F xv, F, F g) { return V::select(V::gt(xv, zero), g, V::mul(g, al)); }); break;
    case 3:
      run([&](F xv, F, F g) {
        F s = vsigmoid<V>(xv);
        return V::mul(V::mul(g, s), V::fma(xv, V::sub(one, s), one));
      });
      break;
    case 4: run([&](F, F yv, F g) { return V::mul(g, V::mul(V::sub(one, yv), yv)); }); break;
    case 5: run([&](F, F yv, F g) { return V::mul(g, V::sub(one, V::mul(yv, yv))); }); break;
    case 6:
      run([&](F xv, F, F g) {
        F mid = V::mul(g, V::add(V::div(xv, three), V::set(0.5f)));
        return V::select(V::lt(xv, V::neg(three)), zero, V::select(V::le(xv, three), mid, g));
      });
      break;
    case 7:
      run([&](F xv, F, F g) {
        auto inside = V::mand(V::gt(xv, V::neg(three)), V::lt(xv, three));
        return V::select(inside, V::mul(g, V::set(1.0f / 6.0f)), zero);
      });
      break;
    case 8: run([&](F, F yv, F g) { return V::mul(g, yv); }); break;
    case 9: run([&](F xv, F, F g) { return V::div(g, xv); }); break;
    case 10: run([&](F, F yv, F g) { return V::div(g, V::mul(V::set(2.0f), yv)); }); break;
    case 11: run([&](F, F, F g) { return V::neg(g); }); break;
    case 12:
      run([&](F xv, F, F g) {
        F sign = V::select(V::gt(xv, zero), one, V::select(V::lt(xv, zero), V::neg(one), zero));
        return V::mul(g, sign);
      });
      break;
    case 13: run([&](F xv, F, F g) { return V::select(V::mand(V::ge(xv, al), V::le(xv, be)), g, zero); }); break;
    case 14: run([&](F xv, F, F g) { return V::mul(g, V::mul(V::set(2.0f), xv)); }); break;
    case 15: run([&](F, F, F g) { return V::mul(g, al); }); break;
    case 16: run([&](F, F yv, F g) { return V::mul(g, V::neg(V::mul(yv, yv))); }); break;
    default: break;
  }
}

// ---- binary --------------------------------------------------------------------

// maximum/minimum propagate NaN from either side, as torch.maximum does.
template <class V>
struct BinaryOps {
  using F = typename V::F;
  static F add(F a, F b) { return V::add(a, b); }
  static F sub(F a, F b) { return V::sub(a, b); }
  static F mul(F a, F b) { return V::mul(a, b); }
  static F div(F a, F b) { return V::div(a, b); }
  static F maximum(F a, F b) { return V::select(V::unord(a, b), V::add(a, b), V::max(a, b)); }
  static F minimum(F a, F b) { return V::select(V::unord(a, b), V::add(a, b), V::min(a, b)); }
};

template <class V, class Op>
void binaryRun(const float* a, int aStep, const float* b, int bStep, float* out, int64_t n, Op op) {
  using F = typename V::F;
  if (aStep && bStep) {
    map2<V>(a, b, out, n, op);
  } else if (aStep) {
    const F bv = V::set(*b);
    map1<V>(a, out, n, [&](F v) { return op(v, bv); });
  } else if (bStep) {
    const F av = V::set(*a);
    map1<V>(b, out, n, [&](F v) { return op(av, v); });
  } else {
    const F r = op(V::set(*a), V::set(*b));
    map1<V>(out, out, n, [&](F) { return r; });
  }
}

template <class V>
void binaryKernel(int op, const float* a, int aStep, const float* b, int bStep, float* out, int64_t n) {
  using O = BinaryOps<V>;
  switch (op) {
    case 0: binaryRun<V>(a, aStep, b, bStep, out, n, O::add); break;
    case 1: binaryRun<V>(a, aStep, b, bStep, out, n, O::sub); break;
    case 2: binaryRun<V>(a, aStep, b, bStep, out, n, O::mul); break;
    case 3: binaryRun<V>(a, aStep, b, bStep, out, n, O::div); break;
    case 4: binaryRun<V>(a, aStep, b, bStep, out, n, O::maximum); break;
    case 5: binaryRun<V>(a, aStep, b, bStep, out, n, O::minimum); break;
    default: break;
  }
}

template <class V>
void axpyKernel(float alpha, const float* x, float* y, int64_t n) {
  using F = typename V::F;
  const F al = V::set(alpha);
  map2<V>(x, y, y, n, [&](F xv, F yv) { return V::fma(al, xv, yv); });
}

template <class V>
void axpbyKernel(float alpha, const float* x, float beta, float* y, int64_t n) {
  using F = typename V::F;
  const F al = V::set(alpha), be = V::set(beta);
  map2<V>(x, y, y, n, [&](F xv, F yv) { return V::fma(al, xv, V::mul(be, yv)); });
}

// ---- reductions (vector body in a fixed lane order, then a scalar tail) ----------

template <class V>
double sumKernel(const float* x, int64_t n) {
  using D = typename V::D;
  D a0 = V::dzero(), a1 = V::dzero(), b0 = V::dzero(), b1 = V::dzero();
  int64_t i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    D lo, hi, lo2, hi2;
    V::widen(V::load(x + i), lo, hi);
    V::widen(V::load(x + i + V::W), lo2, hi2);
    a0 = V::dadd(a0, lo);
    a1 = V::dadd(a1, hi);
    b0 = V::dadd(b0, lo2);
    b1 = V::dadd(b1, hi2);
  }
  double s = V::dhsum(V::dadd(V::dadd(a0, a1), V::dadd(b0, b1)));
  double t = 0;
  for (; i < n; ++i) t += x[i];
  return s + t;
}

template <class V>
void addToRowKernel(const float* x, double* acc, int64_t n) {
  int64_t i = 0;
  if constexpr (V::W > 1) {
    constexpr int H = V::W / 2;
    for (; i + V::W <= n; i += V::W) {
      typename V::D lo, hi;
      V::widen(V::load(x + i), lo, hi);
      V::dstore(acc + i, V::dadd(V::dload(acc + i), lo));
      V::dstore(acc + i + H, V::dadd(V::dload(acc + i + H), hi));
    }
  }
  for (; i < n; ++i) acc[i] += x[i];
}

template <class V>
double sumSquaresKernel(const float* x, int64_t n) {
  using D = typename V::D;
  D a0 = V::dzero(), a1 = V::dzero();
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) {
    D lo, hi;
    V::widen(V::load(x + i), lo, hi);
    a0 = V::dfma(lo, lo, a0);
    a1 = V::dfma(hi, hi, a1);
  }
  double s = V::dhsum(V::dadd(a0, a1));
  double t = 0;
  for (; i < n; ++i) t += static_cast<double>(x[i]) * x[i];
  return s + t;
}

template <class V>
bool allFiniteKernel(const float* x, int64_t n) {
  using F = typename V::F;
  const F zero = V::set(0.0f);
  int64_t i = 0;
  // x - x is 0 exactly when x is finite (inf - inf and NaN give NaN).
  while (i + V::W <= n) {
    int64_t end = i + 64 * V::W < n ? i + 64 * V::W : n;
    auto ok = V::eq(zero, zero);
    for (; i + V::W <= end; i += V::W) {
      F v = V::load(x + i);
      ok = V::mand(ok, V::eq(V::sub(v, v), zero));
    }
    if (!V::all(ok)) return false;
  }
  for (; i < n; ++i)
    if (!(x[i] - x[i] == 0.0f)) return false;
  return true;
}

template <class V>
float maxKernel(const float* x, int64_t n) {
  using F = typename V::F;
  F m0 = V::set(-__builtin_inff()), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    m0 = V::max(m0, V::load(x + i));
    m1 = V::max(m1, V::load(x + i + V::W));
  }
  float m = V::hmax(V::max(m0, m1));
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <class V>
float expShiftedKernel(const float* x, float shift, float* y, int64_t n) {
  using F = typename V::F;
  const F s = V::set(shift);
  F a0 = V::set(0.0f), a1 = a0;
  int64_t i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    F e0 = vexp<V>(V::sub(V::load(x + i), s));
    F e1 = vexp<V>(V::sub(V::load(x + i + V::W), s));
    V::store(y + i, e0);
    V::store(y + i + V::W, e1);
    a0 = V::add(a0, e0);
    a1 = V::add(a1, e1);
  }
  for (; i < n; i += V::W) {
    int r = n - i < V::W ? static_cast<int>(n - i) : V::W;
    F e = vexp<V>(V::sub(V::loadN(x + i, r), s));
    V::storeN(y + i, e, r);
    a0 = V::add(a0, V::select(V::tailMask(r), e, V::set(0.0f)));
  }
  return V::hsum(V::add(a0, a1));
}

// ---- batch norm ----------------------------------------------------------------

template <class V>
void momentsKernel(const float* x, int64_t n, double shift, double* s1, double* s2) {
  using D = typename V::D;
  const D sh = V::dset(shift);
  D a0 = V::dzero(), a1 = V::dzero(), q0 = V::dzero(), q1 = V::dzero();
  int64_t i = 0;
  // One lane has no upper half to widen into: the scalar tail does it all.
  for (; V::W > 1 && i + V::W <= n; i += V::W) {
    D lo, hi;
    V::widen(V::load(x + i), lo, hi);
    lo = V::dsub(lo, sh);
    hi = V::dsub(hi, sh);
    a0 = V::dadd(a0, lo);
    a1 = V::dadd(a1, hi);
    q0 = V::dfma(lo, lo, q0);
    q1 = V::dfma(hi, hi, q1);
  }
  double t1 = 0, t2 = 0;
  for (; i < n; ++i) {
    double d = x[i] - shift;
    t1 += d;
    t2 += d * d;
  }
  *s1 = V::dhsum(V::dadd(a0, a1)) + t1;
  *s2 = V::dhsum(V::dadd(q0, q1)) + t2;
}

template <class V>
void bnBackwardSumsKernel(const float* x, const float* dy, int64_t n, double mean, double* sdy, double* sdyx) {
  using D = typename V::D;
  const D mu = V::dset(mean);
  D a0 = V::dzero(), a1 = V::dzero(), q0 = V::dzero(), q1 = V::dzero();
  int64_t i = 0;
  for (; V::W > 1 && i + V::W <= n; i += V::W) {
    D xl, xh, gl, gh;
    V::widen(V::load(x + i), xl, xh);
    V::widen(V::load(dy + i), gl, gh);
    a0 = V::dadd(a0, gl);
    a1 = V::dadd(a1, gh);
    q0 = V::dfma(gl, V::dsub(xl, mu), q0);
    q1 = V::dfma(gh, V::dsub(xh, mu), q1);
  }
  double t1 = 0, t2 = 0;
  for (; i < n; ++i) {
    t1 += dy[i];
    t2 += static_cast<double>(dy[i]) * (x[i] - mean);
  }
  *sdy = V::dhsum(V::dadd(a0, a1)) + t1;
  *sdyx = V::dhsum(V::dadd(q0, q1)) + t2;
}

template <class V>
void bnBackwardApplyKernel(const float* x, const float* dy, float* dx, int64_t n, float mean, float a, float b,
                           float c) {
  using F = typename V::F;
  const F mu = V::set(mean), av = V::set(a), bv = V::set(b), cv = V::set(c);
  map2<V>(x, dy, dx, n, [&](F xv, F g) { return V::fma(av, g, V::fma(bv, V::sub(xv, mu), cv)); });
}

// ---- max pooling ---------------------------------------------------------------

// A running maximum over `count` lanes: lane o takes v = src[o*stride] (at
// position pos0 + o*posStep) when v > m[o] or v is NaN.
template <class V>
void maxStepKernel(const float* src, int64_t stride, int64_t count, float* m, float* at, float pos0, float posStep) {
  using F = typename V::F;
  const F step = V::set(posStep * V::W), lane = V::mul(V::iota(), V::set(posStep));
  F pos = V::add(V::set(pos0), lane);
  for (int64_t i = 0; i < count; i += V::W) {
    const int r = count - i < V::W ? static_cast<int>(count - i) : V::W;
    const bool full = r == V::W;
    F v;
    if (stride == 1) {
      v = full ? V::load(src + i) : V::loadN(src + i, r);
    } else if (stride == 2) {  // two loads and a shuffle: gathers are slow on many CPUs
      v = V::loadEvenN(src + 2 * i, r);
    } else {
      float lanes[V::W] = {};
      for (int l = 0; l < r; ++l) lanes[l] = src[(i + l) * stride];
      v = V::loadN(lanes, r);
    }
    F mv = full ? V::load(m + i) : V::loadN(m + i, r);
    F av = full ? V::load(at + i) : V::loadN(at + i, r);
    auto take = V::mor(V::gt(v, mv), V::unord(v, v));
    mv = V::select(take, v, mv);
    av = V::select(take, pos, av);
    if (full) {
      V::store(m + i, mv);
      V::store(at + i, av);
    } else {
      V::storeN(m + i, mv, r);
      V::storeN(at + i, av, r);
    }
    pos = V::add(pos, step);
  }
}

// Same, with v = src[o] at position idx[o] + add.
template <class V>
void maxStepIndexedKernel(const float* src, const float* idx, float add, int64_t count, float* m, float* at) {
  using F = typename V::F;
  const F a = V::set(add);
  for (int64_t i = 0; i < count; i += V::W) {
    const int r = count - i < V::W ? static_cast<int>(count - i) : V::W;
    const bool full = r == V::W;
    F v = full ? V::load(src + i) : V::loadN(src + i, r);
    F mv = full ? V::load(m + i) : V::loadN(m + i, r);
    F av = full ? V::load(at + i) : V::loadN(at + i, r);
    F iv = full ? V::load(idx + i) : V::loadN(idx + i, r);
    auto take = V::mor(V::gt(v, mv), V::unord(v, v));
    mv = V::select(take, v, mv);
    av = V::select(take, V::add(iv, a), av);
    if (full) {
      V::store(m + i, mv);
      V::store(at + i, av);
    } else {
      V::storeN(m + i, mv, r);
      V::storeN(at + i, av, r);
    }
  }
}

// Separable max pooling of one plane: a horizontal pass takes each input row's
// window maxima (value and position), a vertical pass the maximum of those over
// each window's rows. A value replaces the running maximum only when greater
// (or NaN, as PyTorch), rows and columns are visited in increasing order, so
// the first maximum in row-major order wins, as in the direct scan. Positions
// are floats, exact for planes under 2^24 values (checked by the caller).
template <class V>
void maxPoolPlaneKernel(const MaxPoolPlane& g, const float* in, float* out, int32_t* ind, float* scratch) {
  const float negInf = -__builtin_inff();
  float* rowMax = scratch;
  float* rowArg = rowMax + g.h * g.ow;
  float* best = rowArg + g.h * g.ow;
  for (int64_t ih = 0; ih < g.h; ++ih) {
    const float* row = in + ih * g.w;
    float* m = rowMax + ih * g.ow;
    float* at = rowArg + ih * g.ow;
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      m[ow] = negInf;
      at[ow] = static_cast<float>(g.colBegin[ow]);
      if (ow >= g.interiorBegin && ow < g.interiorEnd) continue;
      for (int64_t iw = g.colBegin[ow]; iw < g.colEnd[ow]; iw += g.dw) {
        float v = row[iw];
        if (v > m[ow] || v != v) {
          m[ow] = v;
          at[ow] = static_cast<float>(iw);
        }
      }
    }
    for (int64_t j = 0; j < g.kw && g.interiorEnd > g.interiorBegin; ++j) {
      const int64_t first = g.interiorBegin * g.sw + j * g.dw - g.pw;
      maxStepKernel<V>(row + first, g.sw, g.interiorEnd - g.interiorBegin, m + g.interiorBegin, at + g.interiorBegin,
                       static_cast<float>(first), static_cast<float>(g.sw));
    }
  }
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    int64_t h0 = oh * g.sh - g.ph;
    int64_t h1 = h0 + (g.kh - 1) * g.dh + 1;
    h1 = h1 < g.h ? h1 : g.h;
    while (h0 < 0) h0 += g.dh;
    float* m = out + oh * g.ow;
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      m[ow] = negInf;
      best[ow] = static_cast<float>(h0 * g.w + g.colBegin[ow]);
    }
    for (int64_t ih = h0; ih < h1; ih += g.dh)
      maxStepIndexedKernel<V>(rowMax + ih * g.ow, rowArg + ih * g.ow, static_cast<float>(ih * g.w), g.ow, m, best);
    for (int64_t ow = 0; ow < g.ow; ++ow) ind[oh * g.ow + ow] = static_cast<int32_t>(best[ow]);
  }
}

// PyTorch's rule in the general kernel's scan order (a b / c d): a later value
// wins when it is greater or NaN. Indices ride as floats (exact: planes are
// below 2^24 values) and are converted when stored.
template <class V>
void maxPool2x2PlanesKernel(const float* in, float* out, int32_t* ind, int64_t planes, int64_t h, int64_t w) {
  using F = typename V::F;
  using M = typename V::M;
  const int64_t oh = h / 2, ow = w / 2;
  const F two = V::set(2.0f), one = V::set(1.0f), down = V::set(static_cast<float>(w));
  const F lanes = V::mul(V::iota(), two);
  float at[V::W];
  auto take = [](F v, F& m, F& i, F vi) {
    M t = V::mor(V::gt(v, m), V::unord(v, v));
    m = V::select(t, v, m);
    i = V::select(t, vi, i);
  };
  for (int64_t p = 0; p < planes; ++p) {
    const float* plane = in + p * h * w;
    for (int64_t y = 0; y < oh; ++y) {
      const float* r0 = plane + 2 * y * w;
      const float* r1 = r0 + w;
      float* o = out + (p * oh + y) * ow;
      int32_t* oi = ind + (p * oh + y) * ow;
      for (int64_t x = 0; x < ow; x += V::W) {
        const int n = static_cast<int>(ow - x < V::W ? ow - x : V::W);
        F m = V::loadEvenN(r0 + 2 * x, n);
        F i = V::add(V::set(static_cast<float>(2 * y * w + 2 * x)), lanes);
        const F base = i;
        take(V::loadEvenN(r0 + 2 * x + 1, n), m, i, V::add(base, one));
        take(V::loadEvenN(r1 + 2 * x, n), m, i, V::add(base, down));
        take(V::loadEvenN(r1 + 2 * x + 1, n), m, i, V::add(V::add(base, down), one));
        V::storeN(o + x, m, n);
        V::storeN(at, i, n);
        for (int j = 0; j < n; ++j) oi[x + j] = static_cast<int32_t>(at[j]);
      }
    }
  }
}

// ---- losses --------------------------------------------------------------------

template <class V>
void bceKernel(const float* x, const float* t, float* out, int64_t n) {
  using F = typename V::F;
  const F zero = V::set(0.0f);
  map2<V>(x, t, out, n, [&](F xv, F tv) {
    F soft = vlog1pSmall<V>(vexp<V>(V::neg(V::abs(xv))));
    return V::add(V::sub(V::max(zero, xv), V::mul(xv, tv)), soft);
  });
}

template <class V>
void bceBackwardKernel(const float* x, const float* t, const float* dout, float* dx, int64_t n) {
  using F = typename V::F;
  map3<V>(x, t, dout, dx, n, [&](F xv, F tv, F g) { return V::mul(g, V::sub(vsigmoid<V>(xv), tv)); });
}

// ---- optimizers (PyTorch's update order: see src/engine/kernels.ts) --------------

template <class V>
void sgdKernel(float* p, const float* g, float* buf, int64_t n, const SgdParams& s) {
  using F = typename V::F;
  const F wd = V::set(s.weightDecay), mom = V::set(s.momentum), damp = V::set(s.oneMinusDampening);
  const F negLr = V::set(-s.lr);
  const bool decay = s.weightDecay != 0.0f, useMomentum = s.momentum != 0.0f;
  auto step = [&](F pv, F gv, F& bv) {
    F d = decay ? V::fma(pv, wd, gv) : gv;
    if (useMomentum) {
      bv = s.firstStep ? d : V::fma(d, damp, V::mul(bv, mom));
      d = s.nesterov ? V::fma(bv, mom, d) : bv;
    }
    return V::fma(d, negLr, pv);
  };
  int64_t i = 0;
  for (; i < n; i += V::W) {
    int r = n - i < V::W ? static_cast<int>(n - i) : V::W;
    if (r == V::W) {
      F bv = useMomentum && !s.firstStep ? V::load(buf + i) : V::set(0.0f);
      V::store(p + i, step(V::load(p + i), V::load(g + i), bv));
      if (useMomentum) V::store(buf + i, bv);
    } else {
      F bv = useMomentum && !s.firstStep ? V::loadN(buf + i, r) : V::set(0.0f);
      V::storeN(p + i, step(V::loadN(p + i, r), V::loadN(g + i, r), bv), r);
      if (useMomentum) V::storeN(buf + i, bv, r);
    }
  }
}

template <class V>
void adamKernel(float* p, const float* g, float* m, float* v, int64_t n, const AdamParams& s) {
  using F = typename V::F;
  const F wd = V::set(s.weightDecay), shrink = V::set(s.decayFactor);
  const F b1 = V::set(s.beta1), b2 = V::set(s.beta2), c1 = V::set(s.oneMinusBeta1), c2 = V::set(s.oneMinusBeta2);
  const F negStep = V::set(-s.stepSize), bc2 = V::set(s.biasCorr2Sqrt), eps = V::set(s.eps);
  const bool decay = s.weightDecay != 0.0f;
  auto step = [&](F pv, F gv, F& mv, F& vv) {
    if (decay && s.decoupled) pv = V::mul(pv, shrink);
    if (decay && !s.decoupled) gv = V::fma(pv, wd, gv);
    mv = V::fma(gv, c1, V::mul(mv, b1));
    vv = V::add(V::mul(vv, b2), V::mul(V::mul(c2, gv), gv));
    F denom = V::add(V::div(V::sqrt(vv), bc2), eps);
    return V::add(pv, V::div(V::mul(negStep, mv), denom));
  };
  for (int64_t i = 0; i < n; i += V::W) {
    int r = n - i < V::W ? static_cast<int>(n - i) : V::W;
    if (r == V::W) {
      F mv = V::load(m + i), vv = V::load(v + i);
      V::store(p + i, step(V::load(p + i), V::load(g + i), mv, vv));
      V::store(m + i, mv);
      V::store(v + i, vv);
    } else {
      F mv = V::loadN(m + i, r), vv = V::loadN(v + i, r);
      V::storeN(p + i, step(V::loadN(p + i, r), V::loadN(g + i, r), mv, vv), r);
      V::storeN(m + i, mv, r);
      V::storeN(v + i, vv, r);
    }
  }
}

// ---- Winograd F(2x2, 3x3) transforms --------------------------------------------

template <class V>
void winogradInKernel(const float* const* e, const float* const* o, float* out, int64_t stride, int64_t count) {
  using F = typename V::F;
  for (int64_t t = 0; t < count; t += V::W) {
    const int r = static_cast<int>(count - t < V::W ? count - t : V::W);
    auto ld = [&](const float* p) { return r == V::W ? V::load(p) : V::loadN(p, r); };
    auto st = [&](float* p, F v) { r == V::W ? V::store(p, v) : V::storeN(p, v, r); };
    F d[4][4];
    for (int i = 0; i < 4; ++i) {
      d[i][0] = ld(e[i] + t);
      d[i][1] = ld(o[i] + t);
      d[i][2] = ld(e[i] + t + 1);
      d[i][3] = ld(o[i] + t + 1);
    }
    for (int j = 0; j < 4; ++j) {  // B^T d, in place
      const F d0 = d[0][j], d1 = d[1][j], d2 = d[2][j], d3 = d[3][j];
      d[0][j] = V::sub(d0, d2);
      d[1][j] = V::add(d1, d2);
      d[2][j] = V::sub(d2, d1);
      d[3][j] = V::sub(d1, d3);
    }
    for (int i = 0; i < 4; ++i) {  // (B^T d) B
      const F q0 = d[i][0], q1 = d[i][1], q2 = d[i][2], q3 = d[i][3];
      st(out + (4 * i + 0) * stride + t, V::sub(q0, q2));
      st(out + (4 * i + 1) * stride + t, V::add(q1, q2));
      st(out + (4 * i + 2) * stride + t, V::sub(q2, q1));
      st(out + (4 * i + 3) * stride + t, V::sub(q1, q3));
    }
  }
}

template <class V>
void winogradOutKernel(const float* m, int64_t stride, float* const* y, int64_t count) {
  using F = typename V::F;
  for (int64_t t = 0; t < count; t += V::W) {
    const int r = static_cast<int>(count - t < V::W ? count - t : V::W);
    auto ld = [&](const float* p) { return r == V::W ? V::load(p) : V::loadN(p, r); };
    auto st = [&](float* p, F v) { r == V::W ? V::store(p, v) : V::storeN(p, v, r); };
    F s[2][4];  // A^T m
    for (int j = 0; j < 4; ++j) {
      const F m0 = ld(m + j * stride + t), m1 = ld(m + (4 + j) * stride + t), m2 = ld(m + (8 + j) * stride + t),
              m3 = ld(m + (12 + j) * stride + t);
      s[0][j] = V::add(V::add(m0, m1), m2);
      s[1][j] = V::sub(V::sub(m1, m2), m3);
    }
    for (int i = 0; i < 2; ++i) {  // (A^T m) A
      st(y[2 * i] + t, V::add(V::add(s[i][0], s[i][1]), s[i][2]));
      st(y[2 * i + 1] + t, V::sub(V::sub(s[i][1], s[i][2]), s[i][3]));
    }
  }
}

// ---- convolution epilogue ------------------------------------------------------

template <class V>
void biasActKernel(float* row, int64_t n, float bias, int act, float alpha) {
  using F = typename V::F;
  const F b = V::set(bias), zero = V::set(0.0f), one = V::set(1.0f), three = V::set(3.0f), six = V::set(6.0f);
  const F al = V::set(alpha);
  switch (act) {
    case 0: map1<V>(row, row, n, [&](F v) { return V::max(V::add(v, b), zero); }); break;
    case 1: map1<V>(row, row, n, [&](F v) { return V::min(six, V::max(zero, V::add(v, b))); }); break;
    case 2:
      map1<V>(row, row, n, [&](F v) {
        v = V::add(v, b);
        return V::select(V::gt(v, zero), v, V::mul(v, al));
      });
      break;
    case 3:
      map1<V>(row, row, n, [&](F v) {
        v = V::add(v, b);
        return V::div(v, V::add(one, vexp<V>(V::neg(v))));
      });
      break;
    case 6:
      map1<V>(row, row, n, [&](F v) {
        v = V::add(v, b);
        return V::div(V::mul(v, V::min(six, V::max(zero, V::add(v, three)))), six);
      });
      break;
    default: map1<V>(row, row, n, [&](F v) { return V::add(v, b); }); break;
  }
}

// C channels (compile-time, so the accumulators stay in registers) over
// `count` columns: 4 vectors at a time, then the rest a (masked) vector at a time.
template <class V, int C>
void tapRowsChannels(const float* const* src, const float* w, int64_t taps, float* const* out, int64_t count) {
  using F = typename V::F;
  int64_t t0 = 0;
  for (; t0 + 4 * V::W <= count; t0 += 4 * V::W) {
    F acc[C][4];
    for (int c = 0; c < C; ++c)
      for (int v = 0; v < 4; ++v) acc[c][v] = V::set(0.0f);
    for (int64_t k = 0; k < taps; ++k) {
      const float* row = src[k] + t0;
      const F x0 = V::load(row), x1 = V::load(row + V::W), x2 = V::load(row + 2 * V::W), x3 = V::load(row + 3 * V::W);
      for (int c = 0; c < C; ++c) {
        const F wk = V::set(w[c * taps + k]);
        acc[c][0] = V::fma(wk, x0, acc[c][0]);
        acc[c][1] = V::fma(wk, x1, acc[c][1]);
        acc[c][2] = V::fma(wk, x2, acc[c][2]);
        acc[c][3] = V::fma(wk, x3, acc[c][3]);
      }
    }
    for (int c = 0; c < C; ++c)
      for (int v = 0; v < 4; ++v) V::store(out[c] + t0 + v * V::W, acc[c][v]);
  }
  for (; t0 < count; t0 += V::W) {
    const int lanes = static_cast<int>(count - t0 < V::W ? count - t0 : V::W);
    F acc[C];
    for (int c = 0; c < C; ++c) acc[c] = V::set(0.0f);
    for (int64_t k = 0; k < taps; ++k) {
      const F x = lanes == V::W ? V::load(src[k] + t0) : V::loadN(src[k] + t0, lanes);
      for (int c = 0; c < C; ++c) acc[c] = V::fma(V::set(w[c * taps + k]), x, acc[c]);
    }
    for (int c = 0; c < C; ++c) {
      if (lanes == V::W) V::store(out[c] + t0, acc[c]);
      else V::storeN(out[c] + t0, acc[c], lanes);
    }
  }
}

template <class V>
void tapRowsKernel(const float* const* src, const float* w, int64_t taps, int channels, float* const* out,
                   int64_t count) {
  switch (channels) {
    case 1: return tapRowsChannels<V, 1>(src, w, taps, out, count);
    case 2: return tapRowsChannels<V, 2>(src, w, taps, out, count);
    case 3: return tapRowsChannels<V, 3>(src, w, taps, out, count);
    default: return tapRowsChannels<V, 4>(src, w, taps, out, count);
  }
}

template <class V>
constexpr VecKernels kVecTable = {
    &unaryKernel<V>,        &unaryBackwardKernel<V>,  &binaryKernel<V>,          &axpyKernel<V>,
    &axpbyKernel<V>,        &sumKernel<V>,            &addToRowKernel<V>,        &sumSquaresKernel<V>,
    &allFiniteKernel<V>,    &maxKernel<V>,            &expShiftedKernel<V>,      &momentsKernel<V>,
    &bnBackwardSumsKernel<V>, &bnBackwardApplyKernel<V>, &maxPoolPlaneKernel<V>, &maxPool2x2PlanesKernel<V>,
    &bceKernel<V>,          &bceBackwardKernel<V>,
    &sgdKernel<V>,          &adamKernel<V>,
    &dwRowsKernel<V>,       &dwWeightRowsKernel<V>,
    &winogradInKernel<V>,   &winogradOutKernel<V>,
    &tapRowsKernel<V>,      &biasActKernel<V>,
};

}  // namespace
}  // namespace kiln
