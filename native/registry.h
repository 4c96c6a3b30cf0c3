// Each kernel family registers its exports here; addon.cc calls them all.
#pragma once
#include <node_api.h>

namespace kiln {
void registerGemm(napi_env env, napi_value exports);         // gemm.cc
void registerConv(napi_env env, napi_value exports);         // conv.cc
void registerNorm(napi_env env, napi_value exports);         // norm.cc
void registerPool(napi_env env, napi_value exports);         // pool.cc
void registerElementwise(napi_env env, napi_value exports);  // elementwise.cc
void registerReduce(napi_env env, napi_value exports);       // reduce.cc
void registerLoss(napi_env env, napi_value exports);         // loss.cc
void registerLayout(napi_env env, napi_value exports);       // layout.cc
void registerOptim(napi_env env, napi_value exports);        // optim.cc
void registerRandom(napi_env env, napi_value exports);       // random.cc
}  // namespace kiln
