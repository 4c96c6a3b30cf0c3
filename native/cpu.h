// Which SIMD kernels this CPU can run, decided once at load time from CPUID.
#pragma once

namespace kiln {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// The best ISA both the CPU and this build support; KILN_ISA=scalar|avx2|avx512
// can lower it (never raise it) to test the other paths.
Isa activeIsa();
const char* isaName(Isa isa);

}  // namespace kiln
