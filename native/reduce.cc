// sumTo (sum over axes, broadcasting's backward) and argmaxRows.
//
// sumTo collapses x's dims into alternating kept / reduced segments, then
// takes one of two shapes of loop:
// - innermost segment reduced: each output is a sum of contiguous runs;
// - innermost segment kept: each output row accumulates contiguous x rows
//   (vectorised across the row).
// Sums are in double, grouped into blocks whose size depends only on the
// shapes, and blocks are combined in a fixed order: the result is the same
// for any thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernel_util.h"
#include "napi_util.h"
#include "registry.h"
#include "strided.h"
#include "vec_table.h"

namespace kiln {
namespace {

constexpr int64_t kBlock = 65536;  // values summed per block
constexpr int64_t kShortRun = 64;  // runs shorter than this are summed inline

// A short run's sum in double, four accumulators to hide the add latency.
double shortSum(const float* x, int64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    a0 += x[j];
    a1 += x[j + 1];
    a2 += x[j + 2];
    a3 += x[j + 3];
  }
  for (; j < n; ++j) a0 += x[j];
  return (a0 + a1) + (a2 + a3);
}

// A multi-index space over some of x's segments (sizes and x strides).
struct Space {
  int rank = 0;
  int64_t size[kMaxRank];
  int64_t stride[kMaxRank];
  int64_t count() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= size[d];
    return n;
  }
  int64_t offset(int64_t i) const {
    if (rank == 1) return i * stride[0];  // the common case, without a division
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      off += (i % size[d]) * stride[d];
      i /= size[d];
    }
    return off;
  }
};

struct Plan {
  Space kept, reduced;    // all segments but the innermost
  int64_t inner = 1;      // innermost segment's length (contiguous)
  bool innerReduced = false;
};

Plan makePlan(const int32_t* xs, const int32_t* os, int rank) {
  // Segments outer to inner, size-1 dims dropped, same-kind neighbours merged.
  int64_t size[kMaxRank];
  bool red[kMaxRank];
  int segs = 0;
  for (int d = 0; d < rank; ++d) {
    if (xs[d] == 1) continue;
    bool r = os[d] == 1;
    if (segs > 0 && red[segs - 1] == r) {
      size[segs - 1] *= xs[d];
    } else {
      size[segs] = xs[d];
      red[segs] = r;
      ++segs;
    }
  }
  Plan p;
  if (segs == 0) return p;  // a single element
  int64_t stride = 1;
  int64_t strides[kMaxRank];
  for (int s = segs - 1; s >= 0; --s) {
    strides[s] = stride;
    stride *= size[s];
  }
  p.inner = size[segs - 1];
  p.innerReduced = red[segs - 1];
  for (int s = 0; s < segs - 1; ++s) {
    Space& sp = red[s] ? p.reduced : p.kept;
    sp.size[sp.rank] = size[s];
    sp.stride[sp.rank] = strides[s];
    ++sp.rank;
  }
  return p;
}

// Each output = sum over reduced runs of contiguous length `inner`.
void sumRuns(const Plan& p, const float* x, float* out) {
  const VecKernels& v = vec();
  const int64_t outs = p.kept.count(), runs = p.reduced.count();
  const int64_t chunk = std::min(p.inner, kBlock);
  const int64_t chunksPerRun = (p.inner + chunk - 1) / chunk;
  const int64_t items = runs * chunksPerRun;
  const int64_t itemsPerBlock = std::max<int64_t>(1, kBlock / chunk);
  const int64_t blocks = (items + itemsPerBlock - 1) / itemsPerBlock;
  auto blockSum = [&](int64_t o, int64_t blk) {
    const float* base = x + p.kept.offset(o);
    double s = 0;
    int64_t end = std::min(items, (blk + 1) * itemsPerBlock);
    for (int64_t it = blk * itemsPerBlock; it < end; ++it) {
      int64_t r = it / chunksPerRun, c0 = (it % chunksPerRun) * chunk;
      const float* run = base + p.reduced.offset(r) + c0;
      const int64_t len = std::min(chunk, p.inner - c0);
      if (len < kShortRun) {  // a call per few values would cost more than the sum
        s += shortSum(run, len);
      } else {
        s += v.sum(run, len);
      }
    }
    return s;
  };
  if (blocks == 1) {
    int64_t per = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(items * chunk, 1));
    parallelRanges(outs, per, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) out[o] = static_cast<float>(blockSum(o, 0));
    });
    return;
  }
  std::vector<double>& partial = callScratch();
  partial.resize(static_cast<size_t>(outs * blocks));
  parallelTasks(outs * blocks, [&](int64_t t) { partial[static_cast<size_t>(t)] = blockSum(t / blocks, t % blocks); });
  for (int64_t o = 0; o < outs; ++o) {
    double s = 0;
    for (int64_t b = 0; b < blocks; ++b) s += partial[static_cast<size_t>(o * blocks + b)];
    out[o] = static_cast<float>(s);
  }
}

// Each output row (length `inner`) = sum over reduced combinations of x rows.
void sumRows(const Plan& p, const float* x, float* out) {
  const VecKernels& v = vec();
  const int64_t rowsOut = p.kept.count(), combos = p.reduced.count(), L = p.inner;
  // Long rows: parallel over column chunks, one sequential sum per column.
  // Short rows: combinations in fixed blocks, block partials added in order.
  const int64_t combosPerBlock = L >= 4096 ? combos : std::max<int64_t>(1, kBlock / L);
  const int64_t blocks = (combos + combosPerBlock - 1) / combosPerBlock;
  auto accumulate = [&](int64_t ro, int64_t blk, int64_t c0, int64_t len, double* acc) {
    std::fill(acc, acc + len, 0.0);
    const float* base = x + p.kept.offset(ro) + c0;
    int64_t end = std::min(combos, (blk + 1) * combosPerBlock);
    for (int64_t r = blk * combosPerBlock; r < end; ++r) v.addToRow(base + p.reduced.offset(r), acc, len);
  };
  if (blocks == 1) {
    const int64_t colChunk = 4096;
    const int64_t colTasks = (L + colChunk - 1) / colChunk;
    parallelTasks(rowsOut * colTasks, [&](int64_t t) {
      int64_t ro = t / colTasks, c0 = (t % colTasks) * colChunk, len = std::min(colChunk, L - c0);
      std::vector<double>& acc = taskScratch();
      acc.resize(static_cast<size_t>(len));
      accumulate(ro, 0, c0, len, acc.data());
      for (int64_t j = 0; j < len; ++j) out[ro * L + c0 + j] = static_cast<float>(acc[static_cast<size_t>(j)]);
    });
    return;
  }
  std::vector<double>& partial = callScratch();
  partial.resize(static_cast<size_t>(rowsOut * blocks * L));
  parallelTasks(rowsOut * blocks, [&](int64_t t) { accumulate(t / blocks, t % blocks, 0, L, &partial[static_cast<size_t>(t * L)]); });
  for (int64_t ro = 0; ro < rowsOut; ++ro) {
    for (int64_t j = 0; j < L; ++j) {
      double s = 0;
      for (int64_t b = 0; b < blocks; ++b) s += partial[static_cast<size_t>((ro * blocks + b) * L + j)];
      out[ro * L + j] = static_cast<float>(s);
    }
  }
}

// sumTo(x, xShape, out, outShape)
void sumTo(const Args& a) {
  const char* k = "sumTo";
  Span x = a.f32(0), out = a.f32(2);
  ISpan xs = a.i32(1), os = a.i32(3);
  require(xs.length == os.length, "sumTo: x and out shapes must have the same rank");
  require(xs.length <= static_cast<size_t>(kMaxRank), "sumTo: rank above 16 is not supported");
  for (size_t d = 0; d < xs.length; ++d)
    require(os.data[d] == xs.data[d] || os.data[d] == 1, "sumTo: each out dim must equal x's or be 1");
  int64_t total = checkedProduct(xs.data, xs.length, k);
  requireLength(x.length, total, k, "x");
  requireLength(out.length, checkedProduct(os.data, os.length, k), k, "out");
  if (total == 0) {
    std::fill(out.data, out.data + out.length, 0.0f);
    return;
  }
  Plan p = makePlan(xs.data, os.data, static_cast<int>(xs.length));
  if (p.reduced.rank == 0 && !p.innerReduced) {  // nothing to reduce
    std::memcpy(out.data, x.data, x.length * sizeof(float));
  } else if (p.innerReduced) {
    sumRuns(p, x.data, out.data);
  } else {
    sumRows(p, x.data, out.data);
  }
}

// argmaxRows(rows, cols, x, out): first maximum; a NaN counts as the maximum.
void argmaxRows(const Args& a) {
  const char* k = "argmaxRows";
  int64_t rows = sizeArg(a, 0, k, "rows"), cols = sizeArg(a, 1, k, "cols");
  Span x = a.f32(2);
  ISpan out = a.i32(3);
  require(rows == 0 || cols > 0, "argmaxRows: cols must be positive");
  require(cols < (int64_t{1} << 31), "argmaxRows: too many columns");
  requireLength(x.length, rows * cols, k, "x");
  requireLength(out.length, rows, k, "out");
  int64_t per = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(cols, 1));
  parallelRanges(rows, per, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* row = x.data + r * cols;
      int64_t best = 0;
      float m = row[0];
      for (int64_t j = 1; j < cols && m == m; ++j) {
        float v = row[j];
        if (v > m || v != v) {
          m = v;
          best = j;
        }
      }
      out.data[r] = static_cast<int32_t>(best);
    }
  });
}

}  // namespace

void registerReduce(napi_env env, napi_value exports) {
  exportFn(env, exports, "sumTo", wrap<sumTo>);
  exportFn(env, exports, "argmaxRows", wrap<argmaxRows>);
}

}  // namespace kiln
