#include "cpu.h"

#include <cstdlib>
#include <cstring>

namespace kiln {
namespace {

Isa detect() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa choose() {
  Isa best = detect();
  if (const char* env = std::getenv("KILN_ISA")) {
    Isa want = best;
    if (std::strcmp(env, "scalar") == 0) want = Isa::Scalar;
    else if (std::strcmp(env, "avx2") == 0) want = Isa::Avx2;
    else if (std::strcmp(env, "avx512") == 0) want = Isa::Avx512;
    if (static_cast<int>(want) < static_cast<int>(best)) best = want;
  }
  return best;
}

}  // namespace

Isa activeIsa() {
  static const Isa isa = choose();
  return isa;
}

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace kiln
