// Strided iteration spaces shared by binary (broadcasting) and copyStrided:
// size-1 dims dropped and adjacent dims merged wherever every operand steps
// through them contiguously, so the innermost dim is as long as possible.
#pragma once
#include <cstdint>
#include <string>

#include "napi_util.h"

namespace kiln {

constexpr int kMaxRank = 16;

template <int K>
struct Strided {
  int rank = 0;  // after collapsing; at least 1
  int64_t size[kMaxRank];
  int64_t stride[K][kMaxRank];

  int64_t count() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= size[d];
    return n;
  }

  // Offsets of operand k at the start of "row" `row` (a flat index over
  // every dim but the innermost).
  void rowOffsets(int64_t row, int64_t* offsets) const {
    for (int k = 0; k < K; ++k) offsets[k] = 0;
    for (int d = rank - 2; d >= 0; --d) {
      int64_t i = row % size[d];
      row /= size[d];
      for (int k = 0; k < K; ++k) offsets[k] += i * stride[k][d];
    }
  }

  // Throws unless operand k, starting at `base`, stays inside [0, length).
  void requireInBounds(int k, int64_t base, size_t length, const char* kernel, const char* array) const {
    int64_t lo = base, hi = base;
    for (int d = 0; d < rank; ++d) {
      int64_t span = (size[d] - 1) * stride[k][d];
      (span < 0 ? lo : hi) += span;
    }
    if (count() > 0 && (lo < 0 || hi >= static_cast<int64_t>(length)))
      throw JsError(std::string("kiln: ") + kernel + ": " + array + " is indexed out of bounds (offsets " +
                    std::to_string(lo) + ".." + std::to_string(hi) + ", length " + std::to_string(length) + ")");
  }
};

// Walks the rows of a Strided space (every dim but the innermost) in order,
// keeping each operand's offset: one division per range, not per row.
template <int K>
class RowCursor {
 public:
  RowCursor(const Strided<K>& s, int64_t row) : s_(s) {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = s.rank - 2; d >= 0; --d) {
      idx_[d] = row % s.size[d];
      row /= s.size[d];
      for (int k = 0; k < K; ++k) off[k] += idx_[d] * s.stride[k][d];
    }
  }
  void next() {
    for (int d = s_.rank - 2; d >= 0; --d) {
      for (int k = 0; k < K; ++k) off[k] += s_.stride[k][d];
      if (++idx_[d] < s_.size[d]) return;
      for (int k = 0; k < K; ++k) off[k] -= s_.size[d] * s_.stride[k][d];
      idx_[d] = 0;
    }
  }
  int64_t off[K];

 private:
  const Strided<K>& s_;
  int64_t idx_[kMaxRank];
};

// Builds the collapsed space from a shape and K stride lists over it.
template <int K>
Strided<K> collapseStrided(int rank, const int64_t* shape, const int64_t* const* strides, const char* kernel) {
  if (rank > kMaxRank) throw JsError(std::string("kiln: ") + kernel + ": rank above 16 is not supported");
  Strided<K> s;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] < 0) throw JsError(std::string("kiln: ") + kernel + ": negative size in shape");
    if (shape[d] == 0) {  // empty: one dim of size 0
      s.rank = 1;
      s.size[0] = 0;
      for (int k = 0; k < K; ++k) s.stride[k][0] = 1;
      return s;
    }
    if (shape[d] == 1) continue;
    bool merge = s.rank > 0;
    for (int k = 0; k < K && merge; ++k) merge = strides[k][d] * shape[d] == s.stride[k][s.rank - 1];
    if (merge) {
      s.size[s.rank - 1] *= shape[d];
      for (int k = 0; k < K; ++k) s.stride[k][s.rank - 1] = strides[k][d];
    } else {
      s.size[s.rank] = shape[d];
      for (int k = 0; k < K; ++k) s.stride[k][s.rank] = strides[k][d];
      ++s.rank;
    }
  }
  if (s.rank == 0) {  // a single element
    s.rank = 1;
    s.size[0] = 1;
    for (int k = 0; k < K; ++k) s.stride[k][0] = 0;
  }
  return s;
}

}  // namespace kiln
