#include "napi_util.h"
#include "registry.h"

namespace kiln {
void registerElementwise(napi_env, napi_value) {}
}  // namespace kiln
