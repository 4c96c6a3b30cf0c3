// Batch norm over NCHW (per channel, statistics over N and H*W): training
// forward, inference forward, backward.
//
// Each channel's sums are taken plane by plane (one (n, c) plane of H*W) and
// the plane sums are added in plane order, in double, so results never depend
// on the thread count. With enough channels one task owns a channel and
// applies the result while its data is still in cache (one pass from memory
// for the sums, the second mostly from L2); with few channels the planes are
// summed in parallel first and applied in a second parallel pass.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernel_util.h"
#include "napi_util.h"
#include "registry.h"
#include "vec_table.h"

namespace kiln {
namespace {

// Below this plane size, sums are plain double loops rather than leaf calls.
constexpr int64_t kTinyPlane = 32;

struct Geometry {
  int64_t n, c, hw;
  int64_t planes() const { return n * c; }
  int64_t count() const { return n * hw; }  // values per channel
  int64_t planeOffset(int64_t ch, int64_t i) const { return (i * c + ch) * hw; }
};

// Computes every channel's sums (sumPlane(ch, i, double[2]) per plane, added
// in plane order), then finish(ch, s[2]) once per channel, then
// applyPlane(ch, i) for every plane.
template <class SumPlane, class Finish, class ApplyPlane>
void perChannel(const Geometry& g, const SumPlane& sumPlane, const Finish& finish, const ApplyPlane& applyPlane) {
  if (g.planes() == 0) return;
  if (g.c >= 2 * numThreads()) {
    parallelRuns(g.c, [&](int64_t ch) {
      double s[2] = {0, 0};
      for (int64_t i = 0; i < g.n; ++i) {
        double p[2];
        sumPlane(ch, i, p);
        s[0] += p[0];
        s[1] += p[1];
      }
      finish(ch, s);
      for (int64_t i = 0; i < g.n; ++i) applyPlane(ch, i);
    });
    return;
  }
  std::vector<double>& partial = callScratch();
  partial.resize(static_cast<size_t>(g.planes() * 2));
  const int64_t planesPerTask = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(g.hw, 1));
  // Items are channel-major (ch * n + i), so a task's planes share a channel.
  parallelRanges(g.planes(), planesPerTask, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) sumPlane(k / g.n, k % g.n, &partial[static_cast<size_t>(k * 2)]);
  });
  for (int64_t ch = 0; ch < g.c; ++ch) {
    double s[2] = {0, 0};
    for (int64_t i = 0; i < g.n; ++i) {
      s[0] += partial[static_cast<size_t>((ch * g.n + i) * 2)];
      s[1] += partial[static_cast<size_t>((ch * g.n + i) * 2 + 1)];
    }
    finish(ch, s);
  }
  parallelRanges(g.planes(), planesPerTask, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) applyPlane(k / g.n, k % g.n);
  });
}

Geometry geometryArgs(const Args& a, const char* kernel) {
  Geometry g{sizeArg(a, 0, kernel, "n"), sizeArg(a, 1, kernel, "c"), sizeArg(a, 2, kernel, "hw")};
  require(g.n < (int64_t{1} << 31) && g.c < (int64_t{1} << 31) && g.hw < (int64_t{1} << 40),
          "batch norm: sizes too large");
  return g;
}

void requireChannels(const Span& s, int64_t c, const char* kernel, const char* name) {
  if (s.data) requireLength(s.length, c, kernel, name);
}

// An activation fused after the normalisation (an Act code, -1 for none):
// applied to each plane while it is still in cache, instead of another pass
// over the whole tensor from memory, with the same vector kernels the
// separate ops use, so the numbers are the same bit for bit.
constexpr int kNoAct = -1;

int actArg(const Args& a, size_t i) {
  int64_t act = a.integer(i);
  require(act == kNoAct || act == 0 || act == 1 || act == 2 || act == 3 || act == 6,
          "batch norm: act must be -1 (none), 0 relu, 1 relu6, 2 leaky relu, 3 silu or 6 hardswish");
  return static_cast<int>(act);
}

// batchNormTrain(n, c, hw, x, weight, bias, eps, momentum, runningMean, runningVar, y, saveMean, saveInvStd,
//                act, alpha, z): y = act(z), z = the normalised x; z (may be null) keeps z for the backward of
//                activations whose gradient needs their input (silu, hardswish).
void batchNormTrain(const Args& a) {
  const char* k = "batchNormTrain";
  Geometry g = geometryArgs(a, k);
  Span x = a.f32(3), w = a.f32OrNull(4), b = a.f32OrNull(5);
  double eps = a.number(6), momentum = a.number(7);
  Span rm = a.f32OrNull(8), rv = a.f32OrNull(9), y = a.f32(10), sm = a.f32(11), si = a.f32(12);
  const int act = actArg(a, 13);
  const float alpha = static_cast<float>(a.number(14));
  Span z = a.f32OrNull(15);
  requireLength(x.length, g.planes() * g.hw, k, "x");
  requireLength(y.length, g.planes() * g.hw, k, "y");
  if (z.data) requireLength(z.length, g.planes() * g.hw, k, "z");
  requireLength(sm.length, g.c, k, "saveMean");
  requireLength(si.length, g.c, k, "saveInvStd");
  requireChannels(w, g.c, k, "weight");
  requireChannels(b, g.c, k, "bias");
  requireChannels(rm, g.c, k, "runningMean");
  requireChannels(rv, g.c, k, "runningVar");
  require(g.count() > 0 || g.c == 0, "batchNormTrain: each channel needs at least one value");
  const VecKernels& v = vec();
  thread_local std::vector<float> coefScratch;
  coefScratch.resize(static_cast<size_t>(g.c * 2));
  float* scaleShift = coefScratch.data();  // per channel: y = x * scale + shift
  const double m = static_cast<double>(g.count());
  perChannel(
      g,
      [&](int64_t ch, int64_t i, double* s) {
        // Shifted by the channel's first value: keeps E[x^2] - E[x]^2 exact enough when |mean| >> std.
        double shift = x.data[g.planeOffset(ch, 0)];
        const float* p = x.data + g.planeOffset(ch, i);
        if (g.hw >= kTinyPlane) {
          v.moments(p, g.hw, shift, &s[0], &s[1]);
        } else {
          s[0] = s[1] = 0;
          for (int64_t j = 0; j < g.hw; ++j) {
            double d = p[j] - shift;
            s[0] += d;
            s[1] += d * d;
          }
        }
      },
      [&](int64_t ch, const double* s) {
        double shift = x.data[g.planeOffset(ch, 0)];
        double meanShifted = s[0] / m;
        double var = std::max(s[1] / m - meanShifted * meanShifted, 0.0);
        double mean = shift + meanShifted;
        double invStd = 1.0 / std::sqrt(var + eps);
        sm.data[ch] = static_cast<float>(mean);
        si.data[ch] = static_cast<float>(invStd);
        if (rm.data) rm.data[ch] = static_cast<float>(momentum * mean + (1.0 - momentum) * rm.data[ch]);
        if (rv.data) {
          double unbiased = var * m / (m - 1.0);
          rv.data[ch] = static_cast<float>(momentum * unbiased + (1.0 - momentum) * rv.data[ch]);
        }
        float scale = static_cast<float>(invStd * (w.data ? w.data[ch] : 1.0f));
        scaleShift[ch * 2] = scale;
        scaleShift[ch * 2 + 1] = static_cast<float>((b.data ? b.data[ch] : 0.0f) - mean * scale);
      },
      [&](int64_t ch, int64_t i) {
        int64_t off = g.planeOffset(ch, i);
        const float scale = scaleShift[ch * 2], shift = scaleShift[ch * 2 + 1];
        float* normed = (z.data ? z.data : y.data) + off;
        if (g.hw >= kTinyPlane) {
          v.unary(15, x.data + off, normed, g.hw, scale, shift);
        } else {
          for (int64_t j = 0; j < g.hw; ++j) normed[j] = x.data[off + j] * scale + shift;
        }
        if (act != kNoAct) v.unary(act, normed, y.data + off, g.hw, alpha, 0.0f);
      });
}

// batchNormInference(n, c, hw, x, weight, bias, runningMean, runningVar, eps, y)
void batchNormInference(const Args& a) {
  const char* k = "batchNormInference";
  Geometry g = geometryArgs(a, k);
  Span x = a.f32(3), w = a.f32OrNull(4), b = a.f32OrNull(5), rm = a.f32(6), rv = a.f32(7);
  double eps = a.number(8);
  Span y = a.f32(9);
  requireLength(x.length, g.planes() * g.hw, k, "x");
  requireLength(y.length, g.planes() * g.hw, k, "y");
  requireChannels(w, g.c, k, "weight");
  requireChannels(b, g.c, k, "bias");
  requireLength(rm.length, g.c, k, "runningMean");
  requireLength(rv.length, g.c, k, "runningVar");
  const VecKernels& v = vec();
  const int64_t planesPerTask = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(g.hw, 1));
  parallelRanges(g.planes(), planesPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      int64_t ch = p % g.c;
      double invStd = 1.0 / std::sqrt(static_cast<double>(rv.data[ch]) + eps);
      float scale = static_cast<float>(invStd * (w.data ? w.data[ch] : 1.0f));
      float shift = static_cast<float>((b.data ? b.data[ch] : 0.0f) - rm.data[ch] * static_cast<double>(scale));
      v.unary(15, x.data + p * g.hw, y.data + p * g.hw, g.hw, scale, shift);
    }
  });
}

// batchNormBackward(n, c, hw, x, dy, weight, saveMean, saveInvStd, dx, dweight, dbias, act, alpha, actX):
// with a fused activation, dy is the gradient of act's output, and actX is the
// activation's input z (or, for relu, relu6 and leaky relu, its output, which
// gives the same mask); each plane's dz = dy * act'(z) is formed in dx, summed
// and turned into dx in place.
void batchNormBackward(const Args& a) {
  const char* k = "batchNormBackward";
  Geometry g = geometryArgs(a, k);
  Span x = a.f32(3), dyIn = a.f32(4), w = a.f32OrNull(5), sm = a.f32(6), si = a.f32(7), dx = a.f32(8);
  Span dw = a.f32OrNull(9), db = a.f32OrNull(10);
  const int act = actArg(a, 11);
  const float alpha = static_cast<float>(a.number(12));
  Span actX = a.f32OrNull(13);
  int64_t total = g.planes() * g.hw;
  require(act == kNoAct || actX.data, "batchNormBackward: a fused activation needs actX");
  if (act != kNoAct) requireLength(actX.length, total, k, "actX");
  // The gradient the normalisation sees: dy itself, or dz written into dx.
  Span dy = act == kNoAct ? dyIn : dx;
  requireLength(x.length, total, k, "x");
  requireLength(dyIn.length, total, k, "dy");
  requireLength(dx.length, total, k, "dx");
  requireLength(sm.length, g.c, k, "saveMean");
  requireLength(si.length, g.c, k, "saveInvStd");
  requireChannels(w, g.c, k, "weight");
  requireChannels(dw, g.c, k, "dweight");
  requireChannels(db, g.c, k, "dbias");
  const VecKernels& v = vec();
  thread_local std::vector<float> coefScratch;
  coefScratch.resize(static_cast<size_t>(g.c * 3));
  float* coef = coefScratch.data();  // per channel: a, b, c of dx = a*dy + b*(x - mean) + c
  const double m = static_cast<double>(g.count());
  perChannel(
      g,
      [&](int64_t ch, int64_t i, double* s) {
        int64_t off = g.planeOffset(ch, i);
        double mean = sm.data[ch];
        if (act != kNoAct) {
          v.unaryBackward(act, actX.data + off, actX.data + off, dyIn.data + off, dx.data + off, g.hw, alpha, 0.0f);
        }
        if (g.hw >= kTinyPlane) {
          v.bnBackwardSums(x.data + off, dy.data + off, g.hw, mean, &s[0], &s[1]);
        } else {
          s[0] = s[1] = 0;
          for (int64_t j = 0; j < g.hw; ++j) {
            s[0] += dy.data[off + j];
            s[1] += static_cast<double>(dy.data[off + j]) * (x.data[off + j] - mean);
          }
        }
      },
      [&](int64_t ch, const double* s) {
        double invStd = si.data[ch];
        double scale = invStd * (w.data ? w.data[ch] : 1.0f);
        if (db.data) db.data[ch] = static_cast<float>(s[0]);
        if (dw.data) dw.data[ch] = static_cast<float>(s[1] * invStd);
        coef[ch * 3] = static_cast<float>(scale);
        coef[ch * 3 + 1] = static_cast<float>(-scale * invStd * invStd * s[1] / m);
        coef[ch * 3 + 2] = static_cast<float>(-scale * s[0] / m);
      },
      [&](int64_t ch, int64_t i) {
        int64_t off = g.planeOffset(ch, i);
        const float mean = sm.data[ch], ca = coef[ch * 3], cb = coef[ch * 3 + 1], cc = coef[ch * 3 + 2];
        if (g.hw >= kTinyPlane) {
          v.bnBackwardApply(x.data + off, dy.data + off, dx.data + off, g.hw, mean, ca, cb, cc);
        } else {
          for (int64_t j = 0; j < g.hw; ++j) dx.data[off + j] = ca * dy.data[off + j] + (cb * (x.data[off + j] - mean) + cc);
        }
      });
}

}  // namespace

void registerNorm(napi_env env, napi_value exports) {
  exportFn(env, exports, "batchNormTrain", wrap<batchNormTrain>);
  exportFn(env, exports, "batchNormInference", wrap<batchNormInference>);
  exportFn(env, exports, "batchNormBackward", wrap<batchNormBackward>);
}

}  // namespace kiln
