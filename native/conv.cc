#include "napi_util.h"
#include "registry.h"

namespace kiln {
void registerConv(napi_env, napi_value) {}
}  // namespace kiln
