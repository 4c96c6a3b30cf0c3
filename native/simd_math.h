// Vectorised exp, log, tanh and sigmoid over the types of simd.h.
// Polynomial coefficients were fitted for this file (weighted least squares
// driven toward minimax on Chebyshev nodes); their approximation error is far
// below float rounding, so the results are within 2 ulp of the true values on
// the FMA paths (checked against Math.exp / Math.log in the tests); the scalar
// path, without FMA, adds at most about one more ulp.
#pragma once
#include "simd.h"

namespace kiln {
namespace {

// exp(x): x = k ln2 + r, |r| <= ln2/2 (ln2 split in two so k*ln2 is exact
// without FMA); exp(r) = 1 + r + r^2 P(r) with P of degree 4 (relative error
// 3e-9); 2^k applied so that subnormal results and overflow to inf come out
// right (V::scale2). NaN in, NaN out.
template <class V>
inline typename V::F vexp(typename V::F x) {
  using F = typename V::F;
  x = V::max(V::set(-104.0f), x);  // operand order keeps NaN
  x = V::min(V::set(89.0f), x);
  F k = V::round(V::mul(x, V::set(1.44269504f)));
  F r = V::fma(k, V::set(-0.693359375f), x);
  r = V::fma(k, V::set(2.12194440e-4f), r);
  F p = V::set(0.001381461275741458f);
  p = V::fma(p, r, V::set(0.008368710055947304f));
  p = V::fma(p, r, V::set(0.04166838899254799f));
  p = V::fma(p, r, V::set(0.1666652113199234f));
  p = V::fma(p, r, V::set(0.4999999403953552f));
  p = V::fma(p, V::mul(r, r), V::add(r, V::set(1.0f)));
  return V::scale2(p, k);
}

// log(x): x = m 2^e with m in [sqrt(1/2), sqrt(2)); log(1+f) = f - f^2/2 +
// f^3 Q(f) with Q of degree 7 (relative error 6e-9); e*ln2 added in two parts.
// log(0) = -inf, log(x<0) = NaN, log(inf) = inf.
template <class V>
inline typename V::F vlog(typename V::F x) {
  using F = typename V::F;
  const F zero = V::set(0.0f);
  F m, e;
  V::frexp(V::max(x, V::set(1e-45f)), m, e);
  auto big = V::gt(m, V::set(1.41421356f));
  m = V::select(big, V::mul(m, V::set(0.5f)), m);
  e = V::select(big, V::add(e, V::set(1.0f)), e);
  F f = V::sub(m, V::set(1.0f));
  F q = V::set(-0.07634492963552475f);
  q = V::fma(q, f, V::set(0.12761574983596802f));
  q = V::fma(q, f, V::set(-0.13160182535648346f));
  q = V::fma(q, f, V::set(0.14201758801937103f));
  q = V::fma(q, f, V::set(-0.16623356938362122f));
  q = V::fma(q, f, V::set(0.20001226663589478f));
  q = V::fma(q, f, V::set(-0.2500081956386566f));
  q = V::fma(q, f, V::set(0.3333333134651184f));
  F f2 = V::mul(f, f);
  F r = V::fma(V::mul(q, f2), f, V::mul(f2, V::set(-0.5f)));
  r = V::fma(e, V::set(-2.12194440e-4f), r);
  r = V::add(r, f);
  r = V::fma(e, V::set(0.693359375f), r);
  // Special values: 0 -> -inf, negative or NaN -> NaN, +inf -> +inf.
  r = V::select(V::eq(x, zero), V::set(-__builtin_inff()), r);
  r = V::select(V::lt(x, zero), V::set(__builtin_nanf("")), r);
  r = V::select(V::eq(x, V::set(__builtin_inff())), x, r);
  return V::select(V::unord(x, x), x, r);
}

// log(1 + e) for e in [0, 1], accurate when e is tiny (1 + e rounds to 1):
// log1p(e) = log(u) * e / (u - 1) with u = 1 + e, and e itself when u == 1.
template <class V>
inline typename V::F vlog1pSmall(typename V::F e) {
  using F = typename V::F;
  const F one = V::set(1.0f);
  F u = V::add(one, e);
  F d = V::sub(u, one);
  F r = V::div(V::mul(vlog<V>(u), e), V::select(V::eq(d, V::set(0.0f)), one, d));
  return V::select(V::eq(d, V::set(0.0f)), e, r);
}

// sigmoid(x) = 1 / (1 + exp(-x)): exact limits 0 and 1, NaN propagates.
template <class V>
inline typename V::F vsigmoid(typename V::F x) {
  return V::div(V::set(1.0f), V::add(V::set(1.0f), vexp<V>(V::neg(x))));
}

// tanh: an odd polynomial for |x| < 0.55 (no cancellation near 0, relative
// error 3e-11), else sign(x) * (1 - 2 / (exp(2|x|) + 1)).
template <class V>
inline typename V::F vtanh(typename V::F x) {
  using F = typename V::F;
  F a = V::abs(x);
  F x2 = V::mul(x, x);
  F p = V::set(0.0023958224337548018f);
  p = V::fma(p, x2, V::set(-0.008413957431912422f));
  p = V::fma(p, x2, V::set(0.021782826632261276f));
  p = V::fma(p, x2, V::set(-0.05395964905619621f));
  p = V::fma(p, x2, V::set(0.13333293795585632f));
  p = V::fma(p, x2, V::set(-0.3333333134651184f));
  F small = V::fma(V::mul(p, x2), x, x);
  F e = vexp<V>(V::add(a, a));
  F large = V::sub(V::set(1.0f), V::div(V::set(2.0f), V::add(e, V::set(1.0f))));
  large = V::copySign(large, x);
  F r = V::select(V::lt(a, V::set(0.55f)), small, large);
  return V::select(V::unord(x, x), x, r);
}

}  // namespace
}  // namespace kiln
