// The leaf kernels of vec_table.h for AVX2 + FMA (compiled with -mavx2 -mfma).
#include "vec_kernels_impl.h"

namespace kiln {
const VecKernels* vecKernelsAvx2() { return &kVecTable<V256>; }
}  // namespace kiln
