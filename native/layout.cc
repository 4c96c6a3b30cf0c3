// copyStrided: the one copy kernel behind permute, slice, concat, split and
// expand. Dims are ordered by the destination's strides and merged where both
// sides are contiguous, then the innermost dim is copied as
// - memcpy runs when both sides are contiguous along it,
// - tiles when the source is contiguous along another dim (a transpose),
// - a strided loop otherwise.
#include <algorithm>
#include <cstring>

#include "kernel_util.h"
#include "napi_util.h"
#include "registry.h"
#include "strided.h"

namespace kiln {
namespace {

// Plain copies split finer than element-wise math: a concatenation's pieces
// (8-40 K floats in yolov8n at 320) would otherwise run on one thread.
constexpr int64_t kCopyGrain = 8192;

// Tiles of 16 x 16 (copyTiles, kernel_util.h): a 64-byte line of each side per row of the tile.
constexpr int64_t kTileA = 16;

int64_t absolute(int64_t v) { return v < 0 ? -v : v; }

// copyStrided(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape)
void copyStrided(const Args& args) {
  const char* k = "copyStrided";
  Span src = args.f32(0), dst = args.f32(3);
  int64_t srcOffset = args.integer(1), dstOffset = args.integer(4);
  ISpan ss = args.i32(2), ds = args.i32(5), shape = args.i32(6);
  require(ss.length == shape.length && ds.length == shape.length, "copyStrided: stride lists must match the shape's rank");
  int rank = static_cast<int>(shape.length);
  require(rank <= kMaxRank, "copyStrided: rank above 16 is not supported");
  checkedProduct(shape.data, shape.length, k);
  // Order dims by destination stride, largest first (a stable sort keeps ties in place).
  int order[kMaxRank];
  for (int d = 0; d < rank; ++d) order[d] = d;
  std::stable_sort(order, order + rank,
                   [&](int x, int y) { return absolute(ds.data[x]) > absolute(ds.data[y]); });
  int64_t dims[kMaxRank], srcSt[kMaxRank], dstSt[kMaxRank];
  for (int d = 0; d < rank; ++d) {
    dims[d] = shape.data[order[d]];
    srcSt[d] = ss.data[order[d]];
    dstSt[d] = ds.data[order[d]];
  }
  const int64_t* strides[2] = {srcSt, dstSt};
  Strided<2> s = collapseStrided<2>(rank, dims, strides, k);
  const int64_t total = s.count();
  if (total == 0) return;
  s.requireInBounds(0, srcOffset, src.length, k, "src");
  s.requireInBounds(1, dstOffset, dst.length, k, "dst");
  const float* sp = src.data + srcOffset;
  float* dp = dst.data + dstOffset;
  const int last = s.rank - 1;
  const int64_t L = s.size[last], sL = s.stride[0][last], dL = s.stride[1][last];

  // Transpose: some other dim is contiguous in the source; copy in tiles.
  int a = -1;
  if (dL == 1 && sL != 1 && L >= 4) {
    for (int d = 0; d < last; ++d)
      if (s.stride[0][d] == 1 && s.size[d] >= 4) a = d;
  }
  if (a >= 0) {
    Strided<2> outer;  // every dim but a and the last
    outer.rank = 0;
    for (int d = 0; d < last; ++d) {
      if (d == a) continue;
      outer.size[outer.rank] = s.size[d];
      outer.stride[0][outer.rank] = s.stride[0][d];
      outer.stride[1][outer.rank] = s.stride[1][d];
      ++outer.rank;
    }
    // A dummy innermost dim so rowOffsets walks all of `outer`.
    outer.size[outer.rank] = 1;
    outer.stride[0][outer.rank] = outer.stride[1][outer.rank] = 0;
    ++outer.rank;
    const int64_t outerCount = outer.count();
    const int64_t sizeA = s.size[a];
    const int64_t blocksA = (sizeA + kTileA - 1) / kTileA;
    parallelRanges(outerCount * blocksA, std::max<int64_t>(1, kElementwiseGrain / (kTileA * L)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t o = t / blocksA, a0 = (t % blocksA) * kTileA;
        int64_t off[2];
        outer.rowOffsets(o, off);
        copyTiles(sp + off[0], dp + off[1], s.stride[0][a], s.stride[1][a], L, sL, a0,
                  std::min(sizeA, a0 + kTileA));
      }
    });
    return;
  }

  // Rows of the innermost dim, split over tasks by element count.
  parallelRanges(total, kCopyGrain, [&](int64_t begin, int64_t end) {
    RowCursor<2> row(s, begin / L);
    for (int64_t pos = begin, col = begin % L; pos < end; row.next(), col = 0) {
      int64_t len = std::min(L - col, end - pos);
      const float* from = sp + row.off[0] + col * sL;
      float* to = dp + row.off[1] + col * dL;
      if (sL == 1 && dL == 1 && len >= 16) {  // shorter runs: the loop beats a call
        std::memcpy(to, from, static_cast<size_t>(len) * sizeof(float));
      } else {
        for (int64_t i = 0; i < len; ++i) to[i * dL] = from[i * sL];
      }
      pos += len;
    }
  });
}

}  // namespace

void registerLayout(napi_env env, napi_value exports) { exportFn(env, exports, "copyStrided", wrap<copyStrided>); }

}  // namespace kiln
