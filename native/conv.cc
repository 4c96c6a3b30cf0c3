// The convolution kernels: conv2d (with fused bias and activation),
// conv2dBackwardInput and conv2dBackwardWeight, NCHW, any stride, padding,
// dilation and groups. Dense and grouped convolutions run as GEMMs with
// implicit im2col (conv_gemm.h); depthwise ones run direct (conv_depthwise.h).
#include "conv.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "conv_depthwise.h"
#include "conv_gemm.h"
#include "conv_small_input.h"
#include "conv_tapsum.h"
#include "conv_winograd.h"
#include "gemm.h"
#include "napi_util.h"
#include "registry.h"
#include "threadpool.h"

namespace kiln {
namespace {

ConvGeometry readGeometry(const Args& args, size_t i) {
  ISpan s = args.i32(i);
  require(s.length >= 16, "conv: the geometry must hold 16 ints");
  const int32_t* v = s.data;
  ConvGeometry g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
  require(g.n >= 0 && g.cIn > 0 && g.h > 0 && g.w > 0 && g.cOut > 0 && g.kh > 0 && g.kw > 0,
          "conv: sizes must be positive");
  require(g.strideH > 0 && g.strideW > 0 && g.dilH > 0 && g.dilW > 0 && g.padH >= 0 && g.padW >= 0,
          "conv: stride and dilation must be positive, padding non-negative");
  require(g.groups > 0 && g.cIn % g.groups == 0 && g.cOut % g.groups == 0,
          "conv: groups must divide both channel counts");
  require(g.outH == (g.h + 2 * g.padH - g.dilH * (g.kh - 1) - 1) / g.strideH + 1 &&
              g.outW == (g.w + 2 * g.padW - g.dilW * (g.kw - 1) - 1) / g.strideW + 1 && g.outH > 0 && g.outW > 0,
          "conv: outH/outW do not match the geometry");
  return g;
}

void requireLength(const Span& s, int64_t need, const char* what) {
  if (static_cast<int64_t>(s.length) < need)
    throw JsError(std::string("kiln: conv: ") + what + " is shorter than the geometry needs");
}

// A pointwise stride-1 convolution seen as one long row per plane: longer
// contiguous runs in the packing routines, same arithmetic.
ConvGeometry flattened(const ConvGeometry& g) {
  if (!g.pointwise()) return g;
  ConvGeometry f = g;
  f.w = f.outW = g.h * g.w;
  f.h = f.outH = 1;
  return f;
}

bool useDepthwise(const ConvGeometry& g) { return g.depthwise() && g.taps() <= 64 * 64; }

// Output planes smaller than this many pixels go through a staging matrix
// (tiles of 32 columns would mostly straddle images).
constexpr int64_t kStagingPlane = 64;
// Largest staging matrix (16 MB); bigger outputs take the straddling tiles.
constexpr int64_t kStagingMax = 4 << 20;

// Output pixels as the GEMM's rows and channels in the vector lanes, rather
// than the other way round, where that fills more lanes: a 7x7 plane fills 49
// of 64 pixel lanes, 512 channels all of theirs (resnet18's last stage).
// Either way every output is the same sum in the same order. The swapped
// layout costs more per call (im2col into 14-wide panels, a transposing
// epilogue): below kPixelRowsMinMacs it lost at 2 threads (measured on
// yolov8n's 10x10 stages), above it gained ~15 % (resnet18's 7x7 and 14x14).
constexpr double kPixelRowsMinMacs = 32e6;
bool pixelRows(const ConvGeometry& f) {
  const int64_t nr = activeMicroKernel().nr, pixels = f.n * f.outPlane(), channels = f.cOutG();
  auto filled = [&](int64_t n) { return static_cast<double>(n) / static_cast<double>(ceilDiv(n, nr) * nr); };
  return filled(channels) > filled(pixels) + 0.05 && pixels * channels <= kStagingMax &&
         static_cast<double>(pixels) * channels * f.depth() >= kPixelRowsMinMacs;
}

// How packed weights are laid out: as the forward GEMM's A operand (channel
// rows), as its B operand (pixel rows), or transformed for Winograd. The tap
// sum over small padded planes and the direct convolution of inputs with few
// channels read the weights as they are: no packed weights (kNone).
enum class PackLayout { kChannelRows = 0, kPixelRows = 1, kWinograd = 2, kNone = 3 };

// The layout an inference call with this geometry runs in (g not flattened).
PackLayout packLayout(const ConvGeometry& g) {
  if (tapSumFits(g) || smallInputFits(g)) return PackLayout::kNone;
  if (winogradFits(g)) return PackLayout::kWinograd;
  return pixelRows(flattened(g)) ? PackLayout::kPixelRows : PackLayout::kChannelRows;
}

// The weights packed once for many forward calls (inference): a header that
// says what they were packed for, then the packed weights. Length 0 where the
// forward pass would not use them (the direct depthwise path).
constexpr int64_t kPackHeader = 16;  // 64 bytes: the packed panels stay 64-byte aligned
void packHeader(const ConvGeometry& g, PackLayout layout, float* h) {
  const MicroKernel& uk = activeMicroKernel();
  h[0] = static_cast<float>(g.cOutG());
  h[1] = static_cast<float>(g.depth());
  h[2] = static_cast<float>(g.groups);
  h[3] = static_cast<float>(uk.mr);
  h[4] = static_cast<float>(uk.nr);
  h[5] = static_cast<float>(static_cast<int>(layout));
  for (int64_t i = 6; i < kPackHeader; ++i) h[i] = 0.0f;
}
int64_t packedGroupLength(const ConvGeometry& g, bool pixelLayout) {
  const MicroKernel& uk = activeMicroKernel();
  return packedLength(g.cOutG(), pixelLayout ? uk.nr : uk.mr, g.depth());
}
int64_t packedWeightsLength(const ConvGeometry& g, PackLayout layout) {
  if (useDepthwise(g)) return 0;
  if (layout == PackLayout::kWinograd) return kPackHeader + winogradPackedLength(g);
  return kPackHeader + g.groups * packedGroupLength(g, layout == PackLayout::kPixelRows);
}

// Packed weights checked against the geometry: what forward() reads.
struct PackedWeights {
  const float* data = nullptr;  // past the header; null: pack per call
  PackLayout layout = PackLayout::kChannelRows;
};

// The packed weights when they were packed for the layout this call runs
// in; none when they were packed for another layout (an input of another
// size): the call then packs as usual. Weights packed for another
// convolution are an error.
PackedWeights packedFor(const ConvGeometry& g, const Span& packed) {
  if (!packed.data) return {};
  require(reinterpret_cast<uintptr_t>(packed.data) % 64 == 0 && packed.length > kPackHeader,
          "conv2d: packed weights must come from convPackWeights");
  const float code = packed.data[5];
  require(code == 0.0f || code == 1.0f || code == 2.0f, "conv2d: packed weights of another geometry");
  const auto layout = static_cast<PackLayout>(static_cast<int>(code));
  float header[kPackHeader];
  packHeader(g, layout, header);
  require(!useDepthwise(g) && static_cast<int64_t>(packed.length) == packedWeightsLength(g, layout) &&
              std::equal(header, header + kPackHeader, packed.data),
          "conv2d: packed weights of another geometry");
  if (layout != packLayout(g)) return {};
  return {packed.data + kPackHeader, layout};
}

// A group's outputs moved from a staging matrix into y[n][group*cOutG + co][q],
// with the epilogue: output (co, n, q) at at(co, n)[q * step].
template <class At>
void unstage(const ConvGeometry& f, int64_t group, float* y, const float* bias, int act, float alpha, int64_t step,
             const At& at) {
  const int64_t P = f.outPlane(), cOutG = f.cOutG();
  parallelRuns(cOutG, [&](int64_t co) {
    const int64_t c = group * cOutG + co;
    for (int64_t n = 0; n < f.n; ++n) {
      float* dst = y + (n * f.cOut + c) * P;
      const float* src = at(co, n);
      if (step == 1) {
        for (int64_t q = 0; q < P; ++q) dst[q] = src[q];
      } else {
        for (int64_t q = 0; q < P; ++q) dst[q] = src[q * step];
      }
      if (bias || act != kActNone) finishRow(dst, P, bias ? bias[c] : 0.0f, act, alpha);
    }
  });
}

void forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int act,
             float alpha, bool flippedWeights = false, PackedWeights packed = {}) {
  if (useDepthwise(g)) return depthwiseForward(g, x, w, bias, y, act, alpha);
  if (packed.layout == PackLayout::kWinograd) return winogradForward(g, x, packed.data, bias, y, act, alpha);
  const float* packedW = packed.data;
  if (tapSumFits(g)) return tapSumForward(g, x, w, bias, y, act, alpha, flippedWeights);
  if (!flippedWeights && smallInputFits(g)) return smallInputForward(g, x, w, bias, y, act, alpha);
  const ConvGeometry f = flattened(g);
  const int64_t P = f.outPlane(), N = f.n * P, cOutG = f.cOutG();
  thread_local ScratchBuffer stagingBuf;
  if (!flippedWeights && pixelRows(f)) {
    float* staging = stagingBuf.get(static_cast<size_t>(cOutG * N));
    for (int64_t group = 0; group < f.groups; ++group) {
      ConvForwardPixelsProblem pr{f, group, x, w, staging};
      Prepacked pre;
      if (packedW) pre.b = packedW + group * packedGroupLength(f, true);
      runBlockedGemm(activeMicroKernel(), pr, N, cOutG, f.depth(), pre);
      // staging[n*P + q][co]
      unstage(f, group, y, bias, act, alpha, cOutG, [&](int64_t co, int64_t n) { return staging + n * P * cOutG + co; });
    }
    return;
  }
  const bool staged = P < kStagingPlane && cOutG * N <= kStagingMax && f.depth() > kKC;
  float* staging = staged ? stagingBuf.get(static_cast<size_t>(cOutG * N)) : nullptr;
  for (int64_t group = 0; group < f.groups; ++group) {
    ConvForwardProblem pr{f, group, x, w, bias, y, act, alpha, staging, flippedWeights};
    Prepacked pre;
    if (packedW) pre.a = packedW + group * packedGroupLength(f, false);
    runBlockedGemm(activeMicroKernel(), pr, cOutG, N, f.depth(), pre);
    if (!staged) continue;
    // staging[co][n*P + q]
    unstage(f, group, y, bias, act, alpha, 1, [&](int64_t co, int64_t n) { return staging + co * N + n * P; });
  }
}

// Stride 1 with padding <= dilation*(k-1): dx is the forward convolution of dy
// with the weights flipped in space and the channel roles swapped.
bool backwardAsForward(const ConvGeometry& g) {
  return g.strideH == 1 && g.strideW == 1 && g.padH <= g.dilH * (g.kh - 1) && g.padW <= g.dilW * (g.kw - 1);
}

void backwardInputAsForward(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const ConvGeometry t{g.n,       g.cOut,   g.outH,   g.outW,   g.cIn,
                       g.kh,      g.kw,     1,        1,        g.dilH * (g.kh - 1) - g.padH,
                       g.dilW * (g.kw - 1) - g.padW, g.dilH, g.dilW, g.groups, g.h, g.w};
  forward(t, dy, w, nullptr, dx, kActNone, 0.0f, true);
}

// dxp = the sum, over taps in order, of each tap's column row (tap t at
// rows + t*rowStride, one entry per output pixel) placed at its input pixel.
// With a horizontal stride s, the sums go first to s phase planes (input
// columns s*m + phase), where each tap's additions are contiguous, then are
// interleaved into dxp; the order of additions is the same.
void col2imPlane(const ConvGeometry& g, const float* rows, int64_t rowStride, float* dxp) {
  const int64_t s = g.strideW, wp = ceilDiv(g.w, s);
  thread_local ScratchBuffer phaseBuf;
  float* phases = s == 1 ? dxp : phaseBuf.get(static_cast<size_t>(s * g.h * wp));
  const int64_t planeSize = s == 1 ? g.inPlane() : s * g.h * wp;
  for (int64_t i = 0; i < planeSize; ++i) phases[i] = 0.0f;
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const float* row = rows + (ky * g.kw + kx) * rowStride;
      const int64_t off = kx * g.dilW - g.padW, phase = ((off % s) + s) % s, shift = (off - phase) / s;
      int64_t lo, hi;
      validColumns(g, off, lo, hi);
      for (int64_t oy = 0; oy < g.outH; ++oy) {
        const int64_t iy = oy * g.strideH - g.padH + ky * g.dilH;
        if (iy < 0 || iy >= g.h) continue;
        float* dst = s == 1 ? dxp + iy * g.w + off : phases + (phase * g.h + iy) * wp + shift;
        const float* cr = row + oy * g.outW;
        for (int64_t ox = lo; ox < hi; ++ox) dst[ox] += cr[ox];
      }
    }
  if (s == 1) return;
  for (int64_t iy = 0; iy < g.h; ++iy)
    for (int64_t phase = 0; phase < s; ++phase) {
      const float* src = phases + (phase * g.h + iy) * wp;
      float* dst = dxp + iy * g.w + phase;
      for (int64_t m = 0; m * s + phase < g.w; ++m) dst[m * s] = src[m];
    }
}

// General case: column blocks col = W^T dy for a few images at a time, then a
// scatter-add of each block into dx (col2im), one input plane per task.
void backwardInputByColumns(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  thread_local ScratchBuffer colBuf;
  const int64_t K = g.depth(), P = g.outPlane();
  // Bound the column buffer to ~16 MB (at least one image).
  const int64_t imagesPerChunk = std::max<int64_t>(1, (4 << 20) / std::max<int64_t>(1, K * P));
  float* col = colBuf.get(static_cast<size_t>(K * P * std::min(imagesPerChunk, g.n)));
  for (int64_t group = 0; group < g.groups; ++group) {
    for (int64_t n0 = 0; n0 < g.n; n0 += imagesPerChunk) {
      const int64_t nb = std::min(imagesPerChunk, g.n - n0), cols = nb * P;
      ConvColumnsProblem pr{g, group, n0, dy, w, col, cols};
      runBlockedGemm(activeMicroKernel(), pr, K, cols, g.cOutG());
      parallelRuns(nb * g.cInG(), [&](int64_t t) {
        const int64_t nl = t / g.cInG(), ci = t % g.cInG();
        float* dxp = dx + ((n0 + nl) * g.cIn + group * g.cInG() + ci) * g.inPlane();
        col2imPlane(g, col + ci * g.taps() * cols + nl * P, cols, dxp);
      });
    }
  }
}

void backwardInput(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  if (useDepthwise(g)) return depthwiseBackwardInput(g, dy, w, dx);
  if (backwardAsForward(g)) return backwardInputAsForward(g, dy, w, dx);
  backwardInputByColumns(g, dy, w, dx);
}

// Sum of a plane in a fixed order: 16 interleaved float partial sums (so the
// compiler can vectorise without reassociating), combined in double.
double planeSum(const float* p, int64_t count) {
  float lanes[16] = {};
  int64_t i = 0;
  for (; i + 16 <= count; i += 16)
    for (int l = 0; l < 16; ++l) lanes[l] += p[i + l];
  double total = 0.0;
  for (int l = 0; l < 16; ++l) total += lanes[l];
  for (; i < count; ++i) total += p[i];
  return total;
}

// dbias[c] = sum of dy over images and pixels, images in order.
void biasGradient(const ConvGeometry& g, const float* dy, float* dbias) {
  parallelRuns(g.cOut, [&](int64_t c) {
    double acc = 0.0;
    for (int64_t n = 0; n < g.n; ++n) acc += planeSum(dy + (n * g.cOut + c) * g.outPlane(), g.outPlane());
    dbias[c] = static_cast<float>(acc);
  });
}

// The weight gradient reduces over images x pixels, often far more than its
// cOut x depth outputs have tiles to share among threads (the first layer of a
// small cnn: 32 x 9 outputs, 50 K pixels deep). Such small outputs are summed
// per slice of images in separate serial GEMMs, then the slices in order. The
// slice count depends on the shape alone, so results do not depend on threads.
constexpr int64_t kSlicedOutputsMax = 64 * 1024;
constexpr int64_t kSlices = 8;
constexpr int64_t kSliceDepthMin = 512;

int64_t weightGradSlices(const ConvGeometry& f) {
  if (f.cOut * f.depth() > kSlicedOutputsMax) return 1;
  const int64_t most = std::clamp<int64_t>(f.n * f.outPlane() / kSliceDepthMin, 1, std::min(kSlices, f.n));
  // Slices of equal image counts where a divisor of the batch is near: 6
  // slices of 8 images (1,1,2,1,1,2) kept one of 2 threads idle 1/4 of the time.
  for (int64_t s = most; 2 * s > most; --s)
    if (f.n % s == 0) return s;
  return most;
}

void weightGradGemm(const ConvGeometry& f, const float* x, const float* dy, float* dw) {
  for (int64_t group = 0; group < f.groups; ++group) {
    ConvWeightGradProblem pr{f, group, x, dy, dw};
    runBlockedGemm(activeMicroKernel(), pr, f.cOutG(), f.depth(), f.n * f.outPlane());
  }
}

void backwardWeight(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* dbias) {
  if (useDepthwise(g)) return depthwiseBackwardWeight(g, x, dy, dw, dbias);
  const ConvGeometry f = flattened(g);
  const int64_t outputs = f.cOut * f.depth();
  if (f.n * f.outPlane() == 0) {
    for (int64_t i = 0; i < outputs; ++i) dw[i] = 0.0f;
  }
  const int64_t slices = weightGradSlices(f);
  if (tapSumWeightGradFits(g)) {
    tapSumWeightGrad(g, x, dy, dw);
  } else if (slices == 1) {
    weightGradGemm(f, x, dy, dw);
  } else {
    thread_local ScratchBuffer partialBuf;
    float* partial = partialBuf.get(static_cast<size_t>(slices * outputs));
    parallelFor(slices, [&](int64_t s) {
      const int64_t n0 = f.n * s / slices, n1 = f.n * (s + 1) / slices;
      ConvGeometry part = f;
      part.n = n1 - n0;
      weightGradGemm(part, x + n0 * f.cIn * f.inPlane(), dy + n0 * f.cOut * f.outPlane(), partial + s * outputs);
    });
    for (int64_t i = 0; i < outputs; ++i) {
      float sum = partial[i];
      for (int64_t s = 1; s < slices; ++s) sum += partial[s * outputs + i];
      dw[i] = sum;
    }
  }
  if (dbias) biasGradient(f, dy, dbias);
}

void conv2dExport(const Args& args) {
  const ConvGeometry g = readGeometry(args, 0);
  Span x = args.f32(1), w = args.f32(2), bias = args.f32OrNull(3), y = args.f32(4);
  const int act = static_cast<int>(args.integer(5));
  const float alpha = static_cast<float>(args.number(6));
  require(act == kActNone || act == kActRelu || act == kActRelu6 || act == kActLeakyRelu || act == kActSilu ||
              act == kActHardswish,
          "conv2d: unknown activation code");
  requireLength(x, g.n * g.cIn * g.inPlane(), "x");
  requireLength(w, g.cOut * g.depth(), "w");
  if (bias.data) requireLength(bias, g.cOut, "bias");
  requireLength(y, g.n * g.cOut * g.outPlane(), "y");
  forward(g, x.data, w.data, bias.data, y.data, act, alpha, false, packedFor(g, args.f32OrNull(7)));
}

// convPackWeights(geometry, w) -> Float32Array | null: the weights packed for
// the layout this geometry (its batch and image size included) runs in, in
// 64-byte aligned memory of the addon's own (the micro-kernels load B panels
// aligned), freed when the array is collected; null where the forward pass
// reads the weights as they are (depthwise, tap sums, few-channel inputs).
napi_value convPackWeightsExport(const Args& args) {
  const ConvGeometry g = flattened(readGeometry(args, 0));
  Span w = args.f32(1);
  requireLength(w, g.cOut * g.depth(), "w");
  napi_env env = args.env();
  napi_value out;
  const PackLayout layout = packLayout(readGeometry(args, 0));
  const bool pixelLayout = layout == PackLayout::kPixelRows;
  const int64_t length = layout == PackLayout::kNone ? 0 : packedWeightsLength(g, layout);
  if (length == 0) {
    napi_get_null(env, &out);
    return out;
  }
  const size_t bytes = static_cast<size_t>((length * 4 + 63) / 64 * 64);
  float* data = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!data) throw std::bad_alloc();
  packHeader(g, layout, data);
  const MicroKernel& uk = activeMicroKernel();
  if (layout == PackLayout::kWinograd) winogradPack(g, w.data, data + kPackHeader);
  for (int64_t group = 0; layout != PackLayout::kWinograd && group < g.groups; ++group) {
    float* dst = data + kPackHeader + group * packedGroupLength(g, pixelLayout);
    if (pixelLayout) {
      packAllB(uk, ConvForwardPixelsProblem{g, group, nullptr, w.data, nullptr}, g.cOutG(), g.depth(), dst);
    } else {
      packAllA(uk, ConvForwardProblem{g, group, nullptr, w.data, nullptr, nullptr, kActNone, 0.0f}, g.cOutG(), g.depth(), dst);
    }
  }
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, data, bytes, [](napi_env, void* p, void*) { std::free(p); }, nullptr,
                                       &buffer) != napi_ok) {
    std::free(data);
    throw JsError("kiln: convPackWeights: cannot hand the packed weights to JavaScript");
  }
  napi_create_typedarray(env, napi_float32_array, static_cast<size_t>(length), buffer, 0, &out);
  return out;
}

void conv2dBackwardInputExport(const Args& args) {
  const ConvGeometry g = readGeometry(args, 0);
  Span dy = args.f32(1), w = args.f32(2), dx = args.f32(3);
  requireLength(dy, g.n * g.cOut * g.outPlane(), "dy");
  requireLength(w, g.cOut * g.depth(), "w");
  requireLength(dx, g.n * g.cIn * g.inPlane(), "dx");
  backwardInput(g, dy.data, w.data, dx.data);
}

void conv2dBackwardWeightExport(const Args& args) {
  const ConvGeometry g = readGeometry(args, 0);
  Span x = args.f32(1), dy = args.f32(2), dw = args.f32(3), dbias = args.f32OrNull(4);
  requireLength(x, g.n * g.cIn * g.inPlane(), "x");
  requireLength(dy, g.n * g.cOut * g.outPlane(), "dy");
  requireLength(dw, g.cOut * g.depth(), "dw");
  if (dbias.data) requireLength(dbias, g.cOut, "dbias");
  backwardWeight(g, x.data, dy.data, dw.data, dbias.data);
}

}  // namespace

void registerConv(napi_env env, napi_value exports) {
  exportFn(env, exports, "conv2d", wrap<conv2dExport>);
  exportFn(env, exports, "convPackWeights", wrapValue<convPackWeightsExport>);
  exportFn(env, exports, "conv2dBackwardInput", wrap<conv2dBackwardInputExport>);
  exportFn(env, exports, "conv2dBackwardWeight", wrap<conv2dBackwardWeightExport>);
}

}  // namespace kiln
