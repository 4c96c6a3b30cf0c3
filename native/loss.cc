// Softmax / log-softmax and their backward, fused softmax cross-entropy with
// label smoothing and ignore_index, BCE with logits. Rows are split across
// threads; every sum lies within one row, in a fixed order.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernel_util.h"
#include "napi_util.h"
#include "registry.h"
#include "vec_table.h"

namespace kiln {
namespace {

constexpr int kAffine = 15, kExp = 8, kLog = 9, kReciprocal = 16;
constexpr int kSub = 1, kMul = 2, kAdd = 0, kMaximum = 4;
constexpr int64_t kColumns = 1024;  // inner positions per task when inner > 1

struct SoftmaxShape {
  int64_t outer, dim, inner;
  int64_t total() const { return outer * dim * inner; }
};

SoftmaxShape softmaxShape(const Args& a, const char* k) {
  SoftmaxShape s{sizeArg(a, 0, k, "outer"), sizeArg(a, 1, k, "dim"), sizeArg(a, 2, k, "inner")};
  require(s.outer < (int64_t{1} << 40) && s.dim < (int64_t{1} << 31) && s.inner < (int64_t{1} << 40),
          "softmax: sizes too large");
  return s;
}

// Calls body(o, j0, len) over every row (inner == 1: len is 0) or column chunk.
template <class Body>
void forSoftmaxWork(const SoftmaxShape& s, const Body& body) {
  if (s.inner == 1) {
    int64_t per = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(s.dim, 1));
    parallelRanges(s.outer, per, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) body(o, 0, 0);
    });
    return;
  }
  int64_t chunks = (s.inner + kColumns - 1) / kColumns;
  parallelTasks(s.outer * chunks, [&](int64_t t) {
    int64_t o = t / chunks, j0 = (t % chunks) * kColumns;
    body(o, j0, std::min(kColumns, s.inner - j0));
  });
}

std::vector<float>& floatScratch() {
  thread_local std::vector<float> v;
  return v;
}

// softmax(outer, dim, inner, x, y, log)
void softmax(const Args& a) {
  const char* k = "softmax";
  SoftmaxShape s = softmaxShape(a, k);
  Span x = a.f32(3), y = a.f32(4);
  bool log = a.boolean(5);
  requireLength(x.length, s.total(), k, "x");
  requireLength(y.length, s.total(), k, "y");
  if (s.dim == 0) return;
  const VecKernels& v = vec();
  forSoftmaxWork(s, [&](int64_t o, int64_t j0, int64_t len) {
    if (len == 0) {  // one contiguous row
      const float* xr = x.data + o * s.dim;
      float* yr = y.data + o * s.dim;
      float m = v.max(xr, s.dim);
      float sum = v.expShifted(xr, m, yr, s.dim);
      if (log) v.unary(kAffine, xr, yr, s.dim, 1.0f, -(m + std::log(sum)));
      else v.unary(kAffine, yr, yr, s.dim, 1.0f / sum, 0.0f);
      return;
    }
    // Columns: statistics per inner position, rows of the chunk at stride `inner`.
    std::vector<float>& scratch = floatScratch();
    scratch.resize(static_cast<size_t>(2 * len));
    float* m = scratch.data();
    float* sum = m + len;
    const float* xb = x.data + o * s.dim * s.inner + j0;
    float* yb = y.data + o * s.dim * s.inner + j0;
    std::copy(xb, xb + len, m);
    for (int64_t d = 1; d < s.dim; ++d) v.binary(kMaximum, m, 1, xb + d * s.inner, 1, m, len);
    std::fill(sum, sum + len, 0.0f);
    for (int64_t d = 0; d < s.dim; ++d) {
      float* yr = yb + d * s.inner;
      v.binary(kSub, xb + d * s.inner, 1, m, 1, yr, len);
      v.unary(kExp, yr, yr, len, 0, 0);
      v.binary(kAdd, sum, 1, yr, 1, sum, len);
    }
    if (log) {
      v.unary(kLog, sum, sum, len, 0, 0);
      for (int64_t d = 0; d < s.dim; ++d) {
        float* yr = yb + d * s.inner;
        v.binary(kSub, xb + d * s.inner, 1, m, 1, yr, len);
        v.binary(kSub, yr, 1, sum, 1, yr, len);
      }
    } else {
      v.unary(kReciprocal, sum, sum, len, 0, 0);
      for (int64_t d = 0; d < s.dim; ++d) v.binary(kMul, yb + d * s.inner, 1, sum, 1, yb + d * s.inner, len);
    }
  });
}

// softmaxBackward(outer, dim, inner, y, dy, dx, log):
// softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy).
void softmaxBackward(const Args& a) {
  const char* k = "softmaxBackward";
  SoftmaxShape s = softmaxShape(a, k);
  Span y = a.f32(3), dy = a.f32(4), dx = a.f32(5);
  bool log = a.boolean(6);
  requireLength(y.length, s.total(), k, "y");
  requireLength(dy.length, s.total(), k, "dy");
  requireLength(dx.length, s.total(), k, "dx");
  if (s.dim == 0) return;
  const VecKernels& v = vec();
  forSoftmaxWork(s, [&](int64_t o, int64_t j0, int64_t len) {
    const int64_t base = o * s.dim * s.inner + j0;
    const float* yb = y.data + base;
    const float* gb = dy.data + base;
    float* db = dx.data + base;
    std::vector<float>& scratch = floatScratch();
    if (len == 0) {  // one contiguous row; its sum in double
      double t = 0;
      for (int64_t d = 0; d < s.dim; ++d) t += log ? gb[d] : static_cast<double>(gb[d]) * yb[d];
      const float tf = static_cast<float>(t);
      if (log) {  // exp vectorised through a row of scratch
        scratch.resize(static_cast<size_t>(s.dim));
        float* e = scratch.data();
        v.unary(kExp, yb, e, s.dim, 0, 0);
        for (int64_t d = 0; d < s.dim; ++d) db[d] = gb[d] - e[d] * tf;
      } else {
        for (int64_t d = 0; d < s.dim; ++d) db[d] = (gb[d] - tf) * yb[d];
      }
      return;
    }
    // Columns: one running sum per inner position, rows at stride `inner`.
    scratch.resize(static_cast<size_t>(len));
    float* acc = scratch.data();
    std::fill(acc, acc + len, 0.0f);
    for (int64_t d = 0; d < s.dim; ++d) {
      const float* yr = yb + d * s.inner;
      const float* gr = gb + d * s.inner;
      if (log) {
        for (int64_t j = 0; j < len; ++j) acc[j] += gr[j];
      } else {
        for (int64_t j = 0; j < len; ++j) acc[j] += gr[j] * yr[j];
      }
    }
    for (int64_t d = 0; d < s.dim; ++d) {
      const float* yr = yb + d * s.inner;
      const float* gr = gb + d * s.inner;
      float* dr = db + d * s.inner;
      if (log) {
        for (int64_t j = 0; j < len; ++j) dr[j] = gr[j] - std::exp(yr[j]) * acc[j];
      } else {
        for (int64_t j = 0; j < len; ++j) dr[j] = (gr[j] - acc[j]) * yr[j];
      }
    }
  });
}

// Every target must be a class index or the ignore index.
void checkTargets(const ISpan& t, int64_t c, int64_t ignoreIndex, const char* kernel) {
  for (size_t i = 0; i < t.length; ++i) {
    int64_t v = t.data[i];
    if (v != ignoreIndex && (v < 0 || v >= c))
      throw JsError(std::string("kiln: ") + kernel + ": target " + std::to_string(v) + " at row " + std::to_string(i) +
                    " is outside [0, " + std::to_string(c) + ") and is not the ignore index " +
                    std::to_string(ignoreIndex));
  }
}

// crossEntropy(n, c, logits, targets, labelSmoothing, ignoreIndex, losses, probs)
void crossEntropy(const Args& a) {
  const char* k = "crossEntropy";
  int64_t n = sizeArg(a, 0, k, "n"), c = sizeArg(a, 1, k, "c");
  Span logits = a.f32(2), losses = a.f32(6), probs = a.f32(7);
  ISpan targets = a.i32(3);
  double ls = a.number(4);
  int64_t ignoreIndex = a.integer(5);
  require(c > 0 || n == 0, "crossEntropy: c must be positive");
  requireLength(logits.length, n * c, k, "logits");
  requireLength(probs.length, n * c, k, "probs");
  requireLength(targets.length, n, k, "targets");
  requireLength(losses.length, n, k, "losses");
  checkTargets(targets, c, ignoreIndex, k);
  const VecKernels& v = vec();
  int64_t per = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(c, 1));
  parallelRanges(n, per, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* x = logits.data + i * c;
      float* p = probs.data + i * c;
      float m = v.max(x, c);
      float sum = v.expShifted(x, m, p, c);
      v.unary(kAffine, p, p, c, 1.0f / sum, 0.0f);
      int64_t t = targets.data[i];
      if (t == ignoreIndex) {
        losses.data[i] = 0.0f;
        continue;
      }
      double lse = m + std::log(static_cast<double>(sum));
      double loss = (1.0 - ls) * (lse - x[t]);
      if (ls != 0.0) loss += ls * (lse - v.sum(x, c) / static_cast<double>(c));
      losses.data[i] = static_cast<float>(loss);
    }
  });
}

// crossEntropyBackward(n, c, probs, targets, labelSmoothing, ignoreIndex, dloss, dlogits)
void crossEntropyBackward(const Args& a) {
  const char* k = "crossEntropyBackward";
  int64_t n = sizeArg(a, 0, k, "n"), c = sizeArg(a, 1, k, "c");
  Span probs = a.f32(2), dloss = a.f32(6), dlogits = a.f32(7);
  ISpan targets = a.i32(3);
  double ls = a.number(4);
  int64_t ignoreIndex = a.integer(5);
  require(c > 0 || n == 0, "crossEntropyBackward: c must be positive");
  requireLength(probs.length, n * c, k, "probs");
  requireLength(dlogits.length, n * c, k, "dlogits");
  requireLength(targets.length, n, k, "targets");
  requireLength(dloss.length, n, k, "dloss");
  checkTargets(targets, c, ignoreIndex, k);
  const VecKernels& v = vec();
  const float off = static_cast<float>(ls / static_cast<double>(c));          // q off the target
  const float onTarget = static_cast<float>(1.0 - ls + ls / static_cast<double>(c));  // q at the target
  int64_t per = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(c, 1));
  parallelRanges(n, per, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* p = probs.data + i * c;
      float* d = dlogits.data + i * c;
      int64_t t = targets.data[i];
      if (t == ignoreIndex) {
        std::fill(d, d + c, 0.0f);
        continue;
      }
      float g = dloss.data[i];
      v.unary(kAffine, p, d, c, g, -g * off);  // g * (p - off)
      d[t] = g * (p[t] - onTarget);
    }
  });
}

// bceWithLogits(x, t, out)
void bceWithLogits(const Args& a) {
  Span x = a.f32(0), t = a.f32(1), out = a.f32(2);
  int64_t n = static_cast<int64_t>(x.length);
  requireLength(t.length, n, "bceWithLogits", "t");
  requireLength(out.length, n, "bceWithLogits", "out");
  const VecKernels& v = vec();
  parallelRanges(n, kElementwiseGrain, [&](int64_t b, int64_t e) { v.bce(x.data + b, t.data + b, out.data + b, e - b); });
}

// bceWithLogitsBackward(x, t, dout, dx)
void bceWithLogitsBackward(const Args& a) {
  Span x = a.f32(0), t = a.f32(1), dout = a.f32(2), dx = a.f32(3);
  int64_t n = static_cast<int64_t>(x.length);
  requireLength(t.length, n, "bceWithLogitsBackward", "t");
  requireLength(dout.length, n, "bceWithLogitsBackward", "dout");
  requireLength(dx.length, n, "bceWithLogitsBackward", "dx");
  const VecKernels& v = vec();
  parallelRanges(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    v.bceBackward(x.data + b, t.data + b, dout.data + b, dx.data + b, e - b);
  });
}

}  // namespace

void registerLoss(napi_env env, napi_value exports) {
  exportFn(env, exports, "softmax", wrap<softmax>);
  exportFn(env, exports, "softmaxBackward", wrap<softmaxBackward>);
  exportFn(env, exports, "crossEntropy", wrap<crossEntropy>);
  exportFn(env, exports, "crossEntropyBackward", wrap<crossEntropyBackward>);
  exportFn(env, exports, "bceWithLogits", wrap<bceWithLogits>);
  exportFn(env, exports, "bceWithLogitsBackward", wrap<bceWithLogitsBackward>);
}

}  // namespace kiln
