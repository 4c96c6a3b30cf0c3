// The kiln native addon: entry point, backend info and thread control.
#include "cpu.h"
#include "napi_util.h"
#include "registry.h"
#include "threadpool.h"

namespace kiln {
namespace {

napi_value info(const Args& a) {
  napi_env env = a.env();
  napi_value obj, name, isa, threads;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, "native", NAPI_AUTO_LENGTH, &name);
  napi_create_string_utf8(env, isaName(activeIsa()), NAPI_AUTO_LENGTH, &isa);
  napi_create_int32(env, numThreads(), &threads);
  napi_set_named_property(env, obj, "name", name);
  napi_set_named_property(env, obj, "isa", isa);
  napi_set_named_property(env, obj, "threads", threads);
  return obj;
}

void setThreads(const Args& a) {
  int64_t n = a.integer(0);
  require(n >= 1 && n <= 1024, "setThreads: thread count must be between 1 and 1024");
  setNumThreads(static_cast<int>(n));
}

napi_value init(napi_env env, napi_value exports) {
  exportFn(env, exports, "info", wrapValue<info>);
  exportFn(env, exports, "setThreads", wrap<setThreads>);
  registerGemm(env, exports);
  registerConv(env, exports);
  registerNorm(env, exports);
  registerPool(env, exports);
  registerElementwise(env, exports);
  registerReduce(env, exports);
  registerLoss(env, exports);
  registerLayout(env, exports);
  registerOptim(env, exports);
  registerRandom(env, exports);
  return exports;
}

}  // namespace
}  // namespace kiln

NAPI_MODULE(NODE_GYP_MODULE_NAME, kiln::init)
