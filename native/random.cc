// dropoutMask: a counter-based hash, so every backend and thread count gives
// the same bits (the formula is in src/engine/kernels.ts).
#include <cstdint>

#include "kernel_util.h"
#include "napi_util.h"
#include "registry.h"

namespace kiln {
namespace {

// MurmurHash3's 32-bit finaliser.
inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// dropoutMask(seedA, seedB, p, mask)
void dropoutMask(const Args& a) {
  // Seeds wrap to 32 bits as JavaScript's `>>> 0` would.
  const uint32_t seedA = static_cast<uint32_t>(static_cast<uint64_t>(a.integer(0)));
  const uint32_t seedB = static_cast<uint32_t>(static_cast<uint64_t>(a.integer(1)));
  const double p = a.number(2);
  Span mask = a.f32(3);
  require(p >= 0.0 && p <= 1.0, "dropoutMask: p must be in [0, 1]");
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  parallelRanges(static_cast<int64_t>(mask.length), kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      uint32_t h = fmix32(fmix32(static_cast<uint32_t>(i) * 0x9E3779B9u + seedA) ^ seedB);
      double u = static_cast<double>(h >> 8) * (1.0 / 16777216.0);
      mask.data[i] = u < p ? 0.0f : keep;
    }
  });
}

}  // namespace

void registerRandom(napi_env env, napi_value exports) { exportFn(env, exports, "dropoutMask", wrap<dropoutMask>); }

}  // namespace kiln
