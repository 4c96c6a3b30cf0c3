#include "napi_util.h"
#include "registry.h"

namespace kiln {
void registerPool(napi_env, napi_value) {}
}  // namespace kiln
