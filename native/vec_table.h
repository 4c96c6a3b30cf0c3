// The leaf kernels that have one implementation per ISA: each works on one
// contiguous run of floats on the calling thread (callers split work across
// threads). Reductions accumulate in a fixed lane order, so their results
// depend on the ISA but never on the thread count.
#pragma once
#include <cstdint>

namespace kiln {

// Hyperparameters as float, derived ones computed in double first (as
// PyTorch's Python-side arithmetic does) and then rounded once.
struct SgdParams {
  float lr, momentum, oneMinusDampening, weightDecay;
  bool nesterov, firstStep;
};

struct AdamParams {
  float beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, weightDecay;
  float decayFactor;    // AdamW: 1 - lr * weightDecay
  float stepSize;       // lr / (1 - beta1^step)
  float biasCorr2Sqrt;  // sqrt(1 - beta2^step)
  bool decoupled;
};

// Max pooling geometry of one plane, with each output column's clipped input
// window [colBegin, colEnd) and the output columns whose window lies inside
// the row, [interiorBegin, interiorEnd).
struct MaxPoolPlane {
  int64_t h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
  const int64_t* colBegin;
  const int64_t* colEnd;
  int64_t interiorBegin, interiorEnd;
};

// One pass of a depthwise convolution plane (conv_depthwise.h), laid out so
// that each tap t is the fixed offset off[t] from an output's position:
// y[r*yPitch + c] = act(bias + sum over t < taps, in order, of
// w[t] * src[r*srcPitch + off[t] + c]) for r < rows, c < cols. act: -1 none,
// 0 relu, 1 relu6, 2 leaky relu (slope alpha), with finishRow's NaN rules.
// src is read in whole vectors: up to 15 floats past the last element a tap
// uses must be readable (their lanes are dropped). taps may be 0 (y = bias).
struct DwRows {
  const float* src;
  int64_t srcPitch;
  const int64_t* off;
  const float* w;
  int64_t taps;
  int64_t rows, cols;
  float* y;
  int64_t yPitch;
  float bias;
  int act;
  float alpha;
};

// The weight gradient of one plane (or of a few stacked ones): acc[t] += sum
// over r < rows, c < cols of dy[r*dyPitch + c] * src[r*srcPitch + off[t] + c]
// (each tap's sum in float vectors, then added in double); when dySum is set,
// *dySum += the sum of dy, the same way. When valid is set (indexed like dy),
// src counts as 0 where valid is 0 (so inf or NaN there is never multiplied
// by a zero dy). Reads only the elements named.
struct DwWeightRows {
  const float* src;
  int64_t srcPitch;
  const int64_t* off;
  int64_t taps;
  const float* dy;
  int64_t dyPitch;
  int64_t rows, cols;
  double* acc;
  double* dySum;       // may be null
  const float* valid;  // may be null
};

struct VecKernels {
  // y = f(x) for a `Unary` op code (see src/engine/kernels.ts); y may be x.
  void (*unary)(int op, const float* x, float* y, int64_t n, float alpha, float beta);
  // dx = dy * f'(x); dx may be dy.
  void (*unaryBackward)(int op, const float* x, const float* y, const float* dy, float* dx, int64_t n, float alpha,
                        float beta);
  // out[i] = a[i*aStep] op b[i*bStep] for a `Binary` op code, steps 0 (broadcast) or 1.
  void (*binary)(int op, const float* a, int aStep, const float* b, int bStep, float* out, int64_t n);
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);             // y += alpha x
  void (*axpby)(float alpha, const float* x, float beta, float* y, int64_t n);  // y = alpha x + beta y

  double (*sum)(const float* x, int64_t n);                  // in double
  void (*addToRow)(const float* x, double* acc, int64_t n);  // acc[i] += x[i]
  double (*sumSquares)(const float* x, int64_t n);           // in double
  bool (*allFinite)(const float* x, int64_t n);
  float (*max)(const float* x, int64_t n);
  float (*expShifted)(const float* x, float shift, float* y, int64_t n);  // y = exp(x - shift), returns sum y

  // Batch norm: s1 = sum(x - shift), s2 = sum((x - shift)^2), in double.
  void (*moments)(const float* x, int64_t n, double shift, double* s1, double* s2);
  // sdy = sum(dy), sdyx = sum(dy * (x - mean)), in double.
  void (*bnBackwardSums)(const float* x, const float* dy, int64_t n, double mean, double* sdy, double* sdyx);
  // dx = a*dy + b*(x - mean) + c.
  void (*bnBackwardApply)(const float* x, const float* dy, float* dx, int64_t n, float mean, float a, float b, float c);

  // One (n, c) plane of max pooling (see pool.cc); scratch holds 2*h*ow + ow floats.
  void (*maxPoolPlane)(const MaxPoolPlane& g, const float* in, float* out, int32_t* ind, float* scratch);
  // The common 2x2 window, stride 2, no padding, floor mode: planes of h x w into oh x ow
  // (oh = h/2, ow = w/2), written branch-free so the compiler vectorises it per ISA.
  void (*maxPool2x2Planes)(const float* in, float* out, int32_t* ind, int64_t planes, int64_t h, int64_t w);

  void (*bce)(const float* x, const float* t, float* out, int64_t n);
  void (*bceBackward)(const float* x, const float* t, const float* dout, float* dx, int64_t n);

  void (*sgd)(float* p, const float* g, float* buf, int64_t n, const SgdParams& s);
  void (*adam)(float* p, const float* g, float* m, float* v, int64_t n, const AdamParams& s);

  void (*dwRows)(const DwRows& p);
  void (*dwWeightRows)(const DwWeightRows& p);

  // Winograd F(2x2, 3x3) transforms of one row of `count` tiles (conv_winograd.h).
  // In: row i of tile t's 4x4 input patch is e[i][t], o[i][t], e[i][t+1],
  // o[i][t+1] (the even and odd columns of input row i); writes the 16
  // transformed values B^T d B to out[k*stride + t], k = 4*row + column.
  void (*winogradIn)(const float* const* e, const float* const* o, float* out, int64_t stride, int64_t count);
  // Out: from m[k*stride + t] (k < 16), the 2x2 outputs A^T m A of tile t:
  // y[2*row + column][t].
  void (*winogradOut)(const float* m, int64_t stride, float* const* y, int64_t count);

  // A direct convolution's output rows (conv_small_input.h): for c < channels
  // (<= 4) and t < count, out[c][t] = sum over k < taps, in order, of
  // w[c*taps + k] * src[k][t].
  void (*tapRows)(const float* const* src, const float* w, int64_t taps, int channels, float* const* out,
                  int64_t count);

  // The convolution epilogue, in place: row = act(row + bias) for an ActCode
  // (conv.h); the activations compute as `unary` does (relu maps NaN to 0).
  void (*biasAct)(float* row, int64_t n, float bias, int act, float alpha);
};

// The table for the active ISA (kiln::activeIsa()); defined in elementwise.cc.
const VecKernels& vec();

#if defined(__x86_64__)
const VecKernels* vecKernelsAvx512();  // native/isa/elementwise_avx512.cc
const VecKernels* vecKernelsAvx2();    // native/isa/elementwise_avx2.cc
#endif

}  // namespace kiln
