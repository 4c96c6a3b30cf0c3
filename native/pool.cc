// Pooling and resampling over NCHW planes: max pool (with argmax indices),
// average pool, adaptive average pool, nearest upsampling, and their
// backwards. Work is split over (n, c) planes; each plane is written by one
// task, so backward scatter-adds are deterministic.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "kernel_util.h"
#include "napi_util.h"
#include "registry.h"
#include "vec_table.h"

namespace kiln {
namespace {

struct PoolGeom {
  int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
  int64_t planes() const { return n * c; }
  int64_t inPlane() const { return h * w; }
  int64_t outPlane() const { return oh * ow; }
};

PoolGeom poolGeom(const Args& a, size_t i, const char* kernel) {
  ISpan g = a.i32(i);
  if (g.length != 14) throw JsError(std::string("kiln: ") + kernel + ": pool geometry must have 14 entries");
  const int32_t* v = g.data;
  PoolGeom p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]};
  bool ok = p.n >= 0 && p.c >= 0 && p.h >= 0 && p.w >= 0 && p.kh >= 1 && p.kw >= 1 && p.sh >= 1 && p.sw >= 1 &&
            p.ph >= 0 && p.pw >= 0 && p.dh >= 1 && p.dw >= 1 && p.oh >= 0 && p.ow >= 0;
  if (!ok) throw JsError(std::string("kiln: ") + kernel + ": invalid pool geometry");
  return p;
}

// Splits planes over tasks of roughly 16 K values each.
template <class Body>
void forPlanes(int64_t planes, int64_t valuesPerPlane, const Body& body) {
  int64_t per = std::max<int64_t>(1, 16384 / std::max<int64_t>(valuesPerPlane, 1));
  parallelRanges(planes, per, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) body(p);
  });
}

// maxPool2d(g, x, y, indices): PyTorch's rule (first maximum wins, NaN wins,
// padding is -inf); the plane kernel is separable and vectorised (vec_kernels_impl.h).
void maxPool2d(const Args& a) {
  const char* k = "maxPool2d";
  PoolGeom g = poolGeom(a, 0, k);
  Span x = a.f32(1), y = a.f32(2);
  ISpan idx = a.i32(3);
  requireLength(x.length, g.planes() * g.inPlane(), k, "x");
  requireLength(y.length, g.planes() * g.outPlane(), k, "y");
  requireLength(idx.length, g.planes() * g.outPlane(), k, "indices");
  require(g.inPlane() < (int64_t{1} << 24), "maxPool2d: input planes of 2^24 values or more are not supported");
  const VecKernels& v = vec();
  if (g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1 &&
      g.oh == g.h / 2 && g.ow == g.w / 2) {
    parallelRanges(g.planes(), std::max<int64_t>(1, 16384 / std::max<int64_t>(g.inPlane(), 1)), [&](int64_t b, int64_t e) {
      v.maxPool2x2Planes(x.data + b * g.inPlane(), y.data + b * g.outPlane(), idx.data + b * g.outPlane(), e - b, g.h, g.w);
    });
    return;
  }
  // Column window of each output column, clipped to the input.
  thread_local std::vector<int64_t> colBegin, colEnd;
  colBegin.resize(static_cast<size_t>(g.ow));
  colEnd.resize(static_cast<size_t>(g.ow));
  for (int64_t ow = 0; ow < g.ow; ++ow) {
    int64_t w0 = ow * g.sw - g.pw;
    colEnd[static_cast<size_t>(ow)] = std::min(w0 + (g.kw - 1) * g.dw + 1, g.w);
    while (w0 < 0) w0 += g.dw;
    colBegin[static_cast<size_t>(ow)] = w0;
  }
  MaxPoolPlane plane{g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.oh, g.ow,
                     colBegin.data(), colEnd.data(), 0, 0};
  // Output columns whose whole window lies inside the row.
  plane.interiorBegin = std::min<int64_t>(g.ow, (g.pw + g.sw - 1) / g.sw);
  const int64_t lastStart = g.w - 1 - (g.kw - 1) * g.dw + g.pw;
  plane.interiorEnd =
      std::max(plane.interiorBegin, lastStart < 0 ? int64_t{0} : std::min<int64_t>(g.ow, lastStart / g.sw + 1));
  forPlanes(g.planes(), g.inPlane() + g.outPlane(), [&](int64_t p) {
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<size_t>(2 * g.h * g.ow + g.ow));
    v.maxPoolPlane(plane, x.data + p * g.inPlane(), y.data + p * g.outPlane(), idx.data + p * g.outPlane(),
                   scratch.data());
  });
}

// maxPool2dBackward(g, dy, indices, dx)
void maxPool2dBackward(const Args& a) {
  const char* k = "maxPool2dBackward";
  PoolGeom g = poolGeom(a, 0, k);
  Span dy = a.f32(1), dx = a.f32(3);
  ISpan idx = a.i32(2);
  requireLength(dy.length, g.planes() * g.outPlane(), k, "dy");
  requireLength(idx.length, g.planes() * g.outPlane(), k, "indices");
  requireLength(dx.length, g.planes() * g.inPlane(), k, "dx");
  std::atomic<bool> bad{false};
  const int64_t plane = g.inPlane();
  forPlanes(g.planes(), g.inPlane() + g.outPlane(), [&](int64_t p) {
    float* gin = dx.data + p * plane;
    const float* gout = dy.data + p * g.outPlane();
    const int32_t* ind = idx.data + p * g.outPlane();
    std::fill(gin, gin + plane, 0.0f);
    for (int64_t o = 0; o < g.outPlane(); ++o) {
      int64_t i = ind[o];
      if (i < 0 || i >= plane) {
        bad.store(true, std::memory_order_relaxed);
        continue;
      }
      gin[i] += gout[o];
    }
  });
  require(!bad.load(), "maxPool2dBackward: an index lies outside its input plane");
}

// Average pooling windows along one axis, clipped as PyTorch does: `padded`
// is the extent clipped to the padded input (the divisor with
// count_include_pad), [begin, end) the part inside the input.
struct AvgExtent {
  int64_t begin, end, padded;
};

void avgExtents(int64_t out, int64_t in, int64_t k, int64_t stride, int64_t pad, std::vector<AvgExtent>& e) {
  e.resize(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    int64_t b = o * stride - pad;
    int64_t end = std::min(b + k, in + pad);
    e[static_cast<size_t>(o)] = {std::max<int64_t>(b, 0), std::min(end, in), end - b};
  }
}

// The windows of a call: per output row and column, and each output's divisor
// (0 for a window with no input inside, whose output is 0).
struct AvgPlan {
  std::vector<AvgExtent> rows, cols;
  std::vector<float> divisor;
};

const AvgPlan& avgPlan(const PoolGeom& g, bool includePad) {
  thread_local AvgPlan plan;
  avgExtents(g.oh, g.h, g.kh, g.sh, g.ph, plan.rows);
  avgExtents(g.ow, g.w, g.kw, g.sw, g.pw, plan.cols);
  plan.divisor.resize(static_cast<size_t>(g.outPlane()));
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      const AvgExtent& r = plan.rows[static_cast<size_t>(oh)];
      const AvgExtent& c = plan.cols[static_cast<size_t>(ow)];
      int64_t inside = std::max<int64_t>(r.end - r.begin, 0) * std::max<int64_t>(c.end - c.begin, 0);
      int64_t div = inside == 0 ? 0 : includePad ? r.padded * c.padded : inside;
      plan.divisor[static_cast<size_t>(oh * g.ow + ow)] = static_cast<float>(div);
    }
  }
  return plan;
}

// avgPool2d(g, countIncludePad, x, y). Separable: window sums of each input
// row first, then sums of those over each window's rows.
void avgPool2d(const Args& a) {
  const char* k = "avgPool2d";
  PoolGeom g = poolGeom(a, 0, k);
  require(g.dh == 1 && g.dw == 1, "avgPool2d: dilation must be 1");
  bool includePad = a.boolean(1);
  Span x = a.f32(2), y = a.f32(3);
  requireLength(x.length, g.planes() * g.inPlane(), k, "x");
  requireLength(y.length, g.planes() * g.outPlane(), k, "y");
  const AvgPlan& plan = avgPlan(g, includePad);
  forPlanes(g.planes(), g.inPlane() + g.outPlane(), [&](int64_t p) {
    const float* in = x.data + p * g.inPlane();
    float* out = y.data + p * g.outPlane();
    thread_local std::vector<float> rowSums;
    rowSums.resize(static_cast<size_t>(g.h * g.ow));
    for (int64_t ih = 0; ih < g.h; ++ih) {
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const AvgExtent& c = plan.cols[static_cast<size_t>(ow)];
        float s = 0;
        for (int64_t iw = c.begin; iw < c.end; ++iw) s += in[ih * g.w + iw];
        rowSums[static_cast<size_t>(ih * g.ow + ow)] = s;
      }
    }
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const AvgExtent& r = plan.rows[static_cast<size_t>(oh)];
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        float s = 0;
        for (int64_t ih = r.begin; ih < r.end; ++ih) s += rowSums[static_cast<size_t>(ih * g.ow + ow)];
        float div = plan.divisor[static_cast<size_t>(oh * g.ow + ow)];
        out[oh * g.ow + ow] = div == 0.0f ? 0.0f : s / div;
      }
    }
  });
}

// avgPool2dBackward(g, countIncludePad, dy, dx). Separable like the forward:
// each gradient share is spread over the window's rows, then its columns.
void avgPool2dBackward(const Args& a) {
  const char* k = "avgPool2dBackward";
  PoolGeom g = poolGeom(a, 0, k);
  require(g.dh == 1 && g.dw == 1, "avgPool2dBackward: dilation must be 1");
  bool includePad = a.boolean(1);
  Span dy = a.f32(2), dx = a.f32(3);
  requireLength(dy.length, g.planes() * g.outPlane(), k, "dy");
  requireLength(dx.length, g.planes() * g.inPlane(), k, "dx");
  const AvgPlan& plan = avgPlan(g, includePad);
  forPlanes(g.planes(), g.inPlane() + g.outPlane(), [&](int64_t p) {
    float* gin = dx.data + p * g.inPlane();
    const float* gout = dy.data + p * g.outPlane();
    thread_local std::vector<float> rowShares;
    rowShares.assign(static_cast<size_t>(g.h * g.ow), 0.0f);
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const AvgExtent& r = plan.rows[static_cast<size_t>(oh)];
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        float div = plan.divisor[static_cast<size_t>(oh * g.ow + ow)];
        if (div == 0.0f) continue;
        float d = gout[oh * g.ow + ow] / div;
        for (int64_t ih = r.begin; ih < r.end; ++ih) rowShares[static_cast<size_t>(ih * g.ow + ow)] += d;
      }
    }
    std::fill(gin, gin + g.inPlane(), 0.0f);
    for (int64_t ih = 0; ih < g.h; ++ih) {
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const AvgExtent& c = plan.cols[static_cast<size_t>(ow)];
        float d = rowShares[static_cast<size_t>(ih * g.ow + ow)];
        for (int64_t iw = c.begin; iw < c.end; ++iw) gin[ih * g.w + iw] += d;
      }
    }
  });
}

struct ResampleGeom {
  int64_t n, c, h, w, oh, ow;
  int64_t planes() const { return n * c; }
  int64_t inPlane() const { return h * w; }
  int64_t outPlane() const { return oh * ow; }
};

ResampleGeom resampleArgs(const Args& a, const char* kernel) {
  ResampleGeom g{sizeArg(a, 0, kernel, "n"), sizeArg(a, 1, kernel, "c"), sizeArg(a, 2, kernel, "h"),
                 sizeArg(a, 3, kernel, "w"), sizeArg(a, 4, kernel, "outH"), sizeArg(a, 5, kernel, "outW")};
  require(g.n < (int64_t{1} << 31) && g.c < (int64_t{1} << 31) && g.h < (int64_t{1} << 31) &&
              g.w < (int64_t{1} << 31) && g.oh < (int64_t{1} << 31) && g.ow < (int64_t{1} << 31),
          "resampling: sizes too large");
  return g;
}

// Adaptive bins: [floor(i*in/out), ceil((i+1)*in/out)).
int64_t binStart(int64_t i, int64_t in, int64_t out) { return i * in / out; }
int64_t binEnd(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// adaptiveAvgPool2d(n, c, h, w, outH, outW, x, y)
void adaptiveAvgPool2d(const Args& a) {
  const char* k = "adaptiveAvgPool2d";
  ResampleGeom g = resampleArgs(a, k);
  Span x = a.f32(6), y = a.f32(7);
  requireLength(x.length, g.planes() * g.inPlane(), k, "x");
  requireLength(y.length, g.planes() * g.outPlane(), k, "y");
  require(g.inPlane() > 0 || g.outPlane() == 0 || g.planes() == 0, "adaptiveAvgPool2d: empty input plane");
  const VecKernels& v = vec();
  forPlanes(g.planes(), g.inPlane() + g.outPlane(), [&](int64_t p) {
    const float* in = x.data + p * g.inPlane();
    float* out = y.data + p * g.outPlane();
    if (g.oh == 1 && g.ow == 1) {  // global average pooling
      out[0] = static_cast<float>(v.sum(in, g.inPlane()) / static_cast<double>(g.inPlane()));
      return;
    }
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      int64_t h0 = binStart(oh, g.h, g.oh), h1 = binEnd(oh, g.h, g.oh);
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        int64_t w0 = binStart(ow, g.w, g.ow), w1 = binEnd(ow, g.w, g.ow);
        float s = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) s += in[ih * g.w + iw];
        out[oh * g.ow + ow] = s / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

// adaptiveAvgPool2dBackward(n, c, h, w, outH, outW, dy, dx)
void adaptiveAvgPool2dBackward(const Args& a) {
  const char* k = "adaptiveAvgPool2dBackward";
  ResampleGeom g = resampleArgs(a, k);
  Span dy = a.f32(6), dx = a.f32(7);
  requireLength(dy.length, g.planes() * g.outPlane(), k, "dy");
  requireLength(dx.length, g.planes() * g.inPlane(), k, "dx");
  forPlanes(g.planes(), g.inPlane() + g.outPlane(), [&](int64_t p) {
    float* gin = dx.data + p * g.inPlane();
    const float* gout = dy.data + p * g.outPlane();
    if (g.oh == 1 && g.ow == 1) {
      std::fill(gin, gin + g.inPlane(), gout[0] / static_cast<float>(g.inPlane()));
      return;
    }
    std::fill(gin, gin + g.inPlane(), 0.0f);
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      int64_t h0 = binStart(oh, g.h, g.oh), h1 = binEnd(oh, g.h, g.oh);
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        int64_t w0 = binStart(ow, g.w, g.ow), w1 = binEnd(ow, g.w, g.ow);
        float d = gout[oh * g.ow + ow] / static_cast<float>((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) gin[ih * g.w + iw] += d;
      }
    }
  });
}

// Nearest source index: min(floor(dst * in / out), in - 1).
int64_t nearestSource(int64_t dst, int64_t in, int64_t out) { return std::min(dst * in / out, in - 1); }

// The source column of every output column, computed once per call.
const int64_t* sourceColumns(const ResampleGeom& g) {
  thread_local std::vector<int64_t> cols;
  cols.resize(static_cast<size_t>(g.ow));
  for (int64_t o = 0; o < g.ow; ++o) cols[static_cast<size_t>(o)] = nearestSource(o, g.w, g.ow);
  return cols.data();
}

// upsampleNearest2d(n, c, h, w, outH, outW, x, y)
void upsampleNearest2d(const Args& a) {
  const char* k = "upsampleNearest2d";
  ResampleGeom g = resampleArgs(a, k);
  Span x = a.f32(6), y = a.f32(7);
  requireLength(x.length, g.planes() * g.inPlane(), k, "x");
  requireLength(y.length, g.planes() * g.outPlane(), k, "y");
  if (g.planes() == 0 || g.outPlane() == 0) return;
  require(g.inPlane() > 0, "upsampleNearest2d: empty input plane");
  const int64_t* cols = sourceColumns(g);
  const bool doubleWidth = g.ow == 2 * g.w;
  forPlanes(g.planes(), g.inPlane() + g.outPlane(), [&](int64_t p) {
    const float* in = x.data + p * g.inPlane();
    float* out = y.data + p * g.outPlane();
    int64_t previous = -1;
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      int64_t sh = nearestSource(oh, g.h, g.oh);
      float* row = out + oh * g.ow;
      if (sh == previous) {  // same source row: copy the row just written
        std::memcpy(row, row - g.ow, static_cast<size_t>(g.ow) * sizeof(float));
        continue;
      }
      previous = sh;
      const float* src = in + sh * g.w;
      if (doubleWidth) {
        for (int64_t iw = 0; iw < g.w; ++iw) row[2 * iw] = row[2 * iw + 1] = src[iw];
      } else {
        for (int64_t ow = 0; ow < g.ow; ++ow) row[ow] = src[cols[ow]];
      }
    }
  });
}

// upsampleNearest2dBackward(n, c, h, w, outH, outW, dy, dx)
void upsampleNearest2dBackward(const Args& a) {
  const char* k = "upsampleNearest2dBackward";
  ResampleGeom g = resampleArgs(a, k);
  Span dy = a.f32(6), dx = a.f32(7);
  requireLength(dy.length, g.planes() * g.outPlane(), k, "dy");
  requireLength(dx.length, g.planes() * g.inPlane(), k, "dx");
  if (g.planes() == 0 || g.inPlane() == 0) return;
  const int64_t* cols = sourceColumns(g);
  forPlanes(g.planes(), g.inPlane() + g.outPlane(), [&](int64_t p) {
    float* gin = dx.data + p * g.inPlane();
    const float* gout = dy.data + p * g.outPlane();
    if (g.oh == 2 * g.h && g.ow == 2 * g.w) {  // x2: each input gathers its 2x2 block
      for (int64_t ih = 0; ih < g.h; ++ih) {
        const float* r0 = gout + 2 * ih * g.ow;
        const float* r1 = r0 + g.ow;
        for (int64_t iw = 0; iw < g.w; ++iw)
          gin[ih * g.w + iw] = (r0[2 * iw] + r0[2 * iw + 1]) + (r1[2 * iw] + r1[2 * iw + 1]);
      }
      return;
    }
    std::fill(gin, gin + g.inPlane(), 0.0f);
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      float* dst = gin + nearestSource(oh, g.h, g.oh) * g.w;
      const float* src = gout + oh * g.ow;
      for (int64_t ow = 0; ow < g.ow; ++ow) dst[cols[ow]] += src[ow];
    }
  });
}

}  // namespace

void registerPool(napi_env env, napi_value exports) {
  exportFn(env, exports, "maxPool2d", wrap<maxPool2d>);
  exportFn(env, exports, "maxPool2dBackward", wrap<maxPool2dBackward>);
  exportFn(env, exports, "avgPool2d", wrap<avgPool2d>);
  exportFn(env, exports, "avgPool2dBackward", wrap<avgPool2dBackward>);
  exportFn(env, exports, "adaptiveAvgPool2d", wrap<adaptiveAvgPool2d>);
  exportFn(env, exports, "adaptiveAvgPool2dBackward", wrap<adaptiveAvgPool2dBackward>);
  exportFn(env, exports, "upsampleNearest2d", wrap<upsampleNearest2d>);
  exportFn(env, exports, "upsampleNearest2dBackward", wrap<upsampleNearest2dBackward>);
}

}  // namespace kiln
