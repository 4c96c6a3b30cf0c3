// The leaf kernels of vec_table.h for AVX-512 (compiled with -mavx512f/bw/dq/vl).
// GCC 12 warns falsely about the "undefined" vectors inside its own AVX-512
// intrinsics headers; the warning is silenced for this file only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "vec_kernels_impl.h"

namespace kiln {
const VecKernels* vecKernelsAvx512() { return &kVecTable<V512>; }
}  // namespace kiln
