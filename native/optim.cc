// Optimizer updates over every parameter in one call (SGD, Adam/AdamW, EMA),
// and the whole-model helpers of gradient clipping and non-finite detection.
// Arrays are cut into fixed chunks and the chunks spread over the pool;
// sumSquares adds its chunk sums in array-then-chunk order.
#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "kernel_util.h"
#include "napi_util.h"
#include "registry.h"
#include "vec_table.h"

namespace kiln {
namespace {

// One chunk of one array.
struct Chunk {
  size_t array;
  int64_t begin, end;
};

// Reads the Float32Arrays of argument i (on the JS thread) into `out`.
void readArrays(const Args& a, size_t i, std::vector<Span>& out) {
  size_t n = a.arrayLength(i);
  out.resize(n);
  for (size_t k = 0; k < n; ++k) out[k] = a.f32At(i, k);
}

// The fixed chunking of a list of arrays (reused storage).
const std::vector<Chunk>& chunksOf(const std::vector<Span>& arrays) {
  thread_local std::vector<Chunk> chunks;
  chunks.clear();
  for (size_t k = 0; k < arrays.size(); ++k) {
    int64_t n = static_cast<int64_t>(arrays[k].length);
    for (int64_t b = 0; b < n; b += kElementwiseGrain)
      chunks.push_back({k, b, b + kElementwiseGrain < n ? b + kElementwiseGrain : n});
  }
  return chunks;
}

void requireSameShapes(const std::vector<Span>& ref, const std::vector<Span>& other, const char* kernel,
                       const char* name) {
  if (other.size() != ref.size())
    throw JsError(std::string("kiln: ") + kernel + ": " + name + " has " + std::to_string(other.size()) +
                  " arrays, expected " + std::to_string(ref.size()));
  for (size_t k = 0; k < ref.size(); ++k)
    if (other[k].length != ref[k].length)
      throw JsError(std::string("kiln: ") + kernel + ": " + name + "[" + std::to_string(k) + "] has " +
                    std::to_string(other[k].length) + " elements, expected " + std::to_string(ref[k].length));
}

template <class Body>
void forChunks(const std::vector<Chunk>& chunks, const Body& body) {
  parallelTasks(static_cast<int64_t>(chunks.size()), [&](int64_t t) { body(chunks[static_cast<size_t>(t)]); });
}

// Per-slot argument storage, reused across calls.
std::vector<Span>& slot(int i) {
  thread_local std::vector<Span> slots[4];
  return slots[i];
}

// sgdStep(params, grads, momentumBufs, lr, momentum, dampening, weightDecay, nesterov, firstStep)
void sgdStep(const Args& a) {
  const char* k = "sgdStep";
  std::vector<Span>& p = slot(0);
  std::vector<Span>& g = slot(1);
  std::vector<Span>& buf = slot(2);
  readArrays(a, 0, p);
  readArrays(a, 1, g);
  readArrays(a, 2, buf);
  double momentum = a.number(4);
  SgdParams s{static_cast<float>(a.number(3)), static_cast<float>(momentum),
              static_cast<float>(1.0 - a.number(5)), static_cast<float>(a.number(6)), a.boolean(7), a.boolean(8)};
  requireSameShapes(p, g, k, "grads");
  if (momentum != 0.0) requireSameShapes(p, buf, k, "momentumBufs");
  const VecKernels& v = vec();
  forChunks(chunksOf(p), [&](const Chunk& c) {
    float* b = momentum != 0.0 ? buf[c.array].data + c.begin : nullptr;
    v.sgd(p[c.array].data + c.begin, g[c.array].data + c.begin, b, c.end - c.begin, s);
  });
}

// adamStep(params, grads, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, step, decoupled)
void adamStep(const Args& a) {
  const char* k = "adamStep";
  std::vector<Span>& p = slot(0);
  std::vector<Span>& g = slot(1);
  std::vector<Span>& m = slot(2);
  std::vector<Span>& sq = slot(3);
  readArrays(a, 0, p);
  readArrays(a, 1, g);
  readArrays(a, 2, m);
  readArrays(a, 3, sq);
  requireSameShapes(p, g, k, "grads");
  requireSameShapes(p, m, k, "expAvg");
  requireSameShapes(p, sq, k, "expAvgSq");
  double lr = a.number(4), b1 = a.number(5), b2 = a.number(6), eps = a.number(7), wd = a.number(8);
  double step = a.number(9);
  require(step >= 1, "adamStep: step counts from 1");
  AdamParams s{};
  s.beta1 = static_cast<float>(b1);
  s.beta2 = static_cast<float>(b2);
  s.oneMinusBeta1 = static_cast<float>(1.0 - b1);
  s.oneMinusBeta2 = static_cast<float>(1.0 - b2);
  s.eps = static_cast<float>(eps);
  s.weightDecay = static_cast<float>(wd);
  s.decayFactor = static_cast<float>(1.0 - lr * wd);
  s.stepSize = static_cast<float>(lr / (1.0 - std::pow(b1, step)));
  s.biasCorr2Sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(b2, step)));
  s.decoupled = a.boolean(10);
  const VecKernels& v = vec();
  forChunks(chunksOf(p), [&](const Chunk& c) {
    size_t i = c.array;
    v.adam(p[i].data + c.begin, g[i].data + c.begin, m[i].data + c.begin, sq[i].data + c.begin, c.end - c.begin, s);
  });
}

// emaUpdate(ema, values, decay): ema = decay * ema + (1 - decay) * value
void emaUpdate(const Args& a) {
  std::vector<Span>& e = slot(0);
  std::vector<Span>& val = slot(1);
  readArrays(a, 0, e);
  readArrays(a, 1, val);
  requireSameShapes(e, val, "emaUpdate", "values");
  double decay = a.number(2);
  float keep = static_cast<float>(decay), take = static_cast<float>(1.0 - decay);
  const VecKernels& v = vec();
  forChunks(chunksOf(e), [&](const Chunk& c) {
    v.axpby(take, val[c.array].data + c.begin, keep, e[c.array].data + c.begin, c.end - c.begin);
  });
}

// sumSquares(arrays) -> number
napi_value sumSquares(const Args& a) {
  std::vector<Span>& x = slot(0);
  readArrays(a, 0, x);
  const std::vector<Chunk>& chunks = chunksOf(x);
  std::vector<double>& partial = callScratch();
  partial.resize(chunks.size());
  const VecKernels& v = vec();
  parallelTasks(static_cast<int64_t>(chunks.size()), [&](int64_t t) {
    const Chunk& c = chunks[static_cast<size_t>(t)];
    partial[static_cast<size_t>(t)] = v.sumSquares(x[c.array].data + c.begin, c.end - c.begin);
  });
  double total = 0;
  for (double s : partial) total += s;
  napi_value out;
  napi_create_double(a.env(), total, &out);
  return out;
}

// scaleArrays(arrays, s)
void scaleArrays(const Args& a) {
  std::vector<Span>& x = slot(0);
  readArrays(a, 0, x);
  float s = static_cast<float>(a.number(1));
  const VecKernels& v = vec();
  forChunks(chunksOf(x), [&](const Chunk& c) {
    float* d = x[c.array].data + c.begin;
    v.binary(2, d, 1, &s, 0, d, c.end - c.begin);
  });
}

// allFinite(arrays) -> boolean
napi_value allFinite(const Args& a) {
  std::vector<Span>& x = slot(0);
  readArrays(a, 0, x);
  std::atomic<bool> finite{true};
  const VecKernels& v = vec();
  forChunks(chunksOf(x), [&](const Chunk& c) {
    if (finite.load(std::memory_order_relaxed) && !v.allFinite(x[c.array].data + c.begin, c.end - c.begin))
      finite.store(false, std::memory_order_relaxed);
  });
  napi_value out;
  napi_get_boolean(a.env(), finite.load(), &out);
  return out;
}

}  // namespace

void registerOptim(napi_env env, napi_value exports) {
  exportFn(env, exports, "sgdStep", wrap<sgdStep>);
  exportFn(env, exports, "adamStep", wrap<adamStep>);
  exportFn(env, exports, "emaUpdate", wrap<emaUpdate>);
  exportFn(env, exports, "sumSquares", wrapValue<sumSquares>);
  exportFn(env, exports, "scaleArrays", wrap<scaleArrays>);
  exportFn(env, exports, "allFinite", wrapValue<allFinite>);
}

}  // namespace kiln
