#include "napi_util.h"
#include "registry.h"

namespace kiln {
void registerReduce(napi_env, napi_value) {}
}  // namespace kiln
