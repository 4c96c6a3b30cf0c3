/**
 * The kernel interface: every compute primitive the autograd calls, on raw
 * float32 arrays. Two backends implement it: `native` (the C++ addon, fast)
 * and `reference` (plain TypeScript, obviously correct; the tests' oracle and
 * the fallback when the addon cannot load).
 *
 * Conventions for every kernel:
 * - Tensors are dense, row-major (C order); images are NCHW; conv weights are
 *   [cOut, cIn/groups, kh, kw] (PyTorch's layout).
 * - Outputs are preallocated by the caller and fully overwritten unless a
 *   kernel says it accumulates. Inputs are never modified.
 * - Arrays may be `subarray` views. Each array's length must equal what the shapes imply
 *   (the native kernels throw, naming the kernel and the array, rather than read out of bounds).
 * - Results never depend on the thread count: reductions use a fixed
 *   partition and a fixed combination order, so a seeded run repeats bit for bit.
 */

export type F32 = Float32Array;
export type I32 = Int32Array;

/** Unary element-wise operations; the number is the code the native addon uses. */
export const Unary = {
  relu: 0,
  /** min(max(x, 0), 6); gradient as PyTorch's hardtanh: 1 only for 0 < x < 6. */
  relu6: 1,
  /** x > 0 ? x : alpha * x */
  leakyRelu: 2,
  /** x * sigmoid(x) */
  silu: 3,
  sigmoid: 4,
  tanh: 5,
  /** x * relu6(x + 3) / 6; gradient as PyTorch: 0 below -3, (2x+3)/6 up to 3 inclusive, 1 above. */
  hardswish: 6,
  /** relu6(x + 3) / 6; gradient 1/6 for -3 < x < 3. */
  hardsigmoid: 7,
  exp: 8,
  log: 9,
  sqrt: 10,
  neg: 11,
  abs: 12,
  /** min(max(x, alpha), beta); gradient 1 for alpha <= x <= beta (inclusive, as torch.clamp). */
  clamp: 13,
  square: 14,
  /** alpha * x + beta */
  affine: 15,
  /** 1 / x */
  reciprocal: 16,
} as const;
export type UnaryOp = (typeof Unary)[keyof typeof Unary];

/** Activation fused into a convolution's epilogue (inference path). */
export const Act = { none: -1, relu: Unary.relu, relu6: Unary.relu6, silu: Unary.silu, hardswish: Unary.hardswish, leakyRelu: Unary.leakyRelu } as const;
export type ActOp = (typeof Act)[keyof typeof Act];

/** Binary element-wise operations with broadcasting. */
export const Binary = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5 } as const;
export type BinaryOp = (typeof Binary)[keyof typeof Binary];

/**
 * Convolution geometry, packed in an Int32Array in this order (see `convGeom`):
 * n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilH, dilW, groups, outH, outW.
 */
export type ConvGeom = I32;
/**
 * Pooling geometry, packed in an Int32Array in this order (see `poolGeom`):
 * n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW.
 */
export type PoolGeom = I32;

export interface ConvShape {
  n: number; cIn: number; h: number; w: number; cOut: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number; dilH: number; dilW: number; groups: number;
}

/** Packs a convolution's geometry, computing the output size as PyTorch does. */
export function convGeom(s: ConvShape): ConvGeom {
  const outH = Math.floor((s.h + 2 * s.padH - s.dilH * (s.kh - 1) - 1) / s.strideH) + 1;
  const outW = Math.floor((s.w + 2 * s.padW - s.dilW * (s.kw - 1) - 1) / s.strideW) + 1;
  return Int32Array.of(s.n, s.cIn, s.h, s.w, s.cOut, s.kh, s.kw, s.strideH, s.strideW, s.padH, s.padW, s.dilH, s.dilW, s.groups, outH, outW);
}

export interface PoolShape {
  n: number; c: number; h: number; w: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number; dilH?: number; dilW?: number; ceilMode?: boolean;
}

/** Packs a pooling geometry, computing the output size as PyTorch does (ceil_mode included). */
export function poolGeom(s: PoolShape): PoolGeom {
  const dilH = s.dilH ?? 1, dilW = s.dilW ?? 1;
  const out = (size: number, k: number, stride: number, pad: number, dil: number): number => {
    const span = size + 2 * pad - dil * (k - 1) - 1;
    let o = (s.ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
    // PyTorch: the last window must start inside the input or the left padding.
    if (s.ceilMode && (o - 1) * stride >= size + pad) o -= 1;
    return o;
  };
  return Int32Array.of(s.n, s.c, s.h, s.w, s.kh, s.kw, s.strideH, s.strideW, s.padH, s.padW, dilH, dilW,
    out(s.h, s.kh, s.strideH, s.padH, dilH), out(s.w, s.kw, s.strideW, s.padW, dilW));
}

export interface BackendInfo {
  name: "native" | "reference";
  /** SIMD path the kernels use: "avx512" | "avx2" | "scalar" (native), "js" (reference). */
  isa: string;
  threads: number;
}

export interface Kernels {
  info(): BackendInfo;
  /** Sets the number of compute threads (native only; the reference backend ignores it). */
  setThreads(n: number): void;

  // ---- linear algebra -------------------------------------------------------
  /**
   * For each i < batch: C_i = alpha * op(A_i) @ op(B_i) + beta * C_i, with
   * op(A_i) [m,k] (A_i stored [k,m] when transA), op(B_i) [k,n] (B_i stored [n,k]
   * when transB), C_i [m,n]; A_i = a[i*strideA ...]. A stride of 0 reuses one matrix.
   * beta = 0 ignores C's old contents (even NaN).
   */
  gemm(batch: number, transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: F32, strideA: number, b: F32, strideB: number, beta: number, c: F32, strideC: number): void;

  // ---- convolution ------------------------------------------------------------
  /**
   * y = act(conv(x, w) + bias); y [n,cOut,outH,outW]. `act` is an `Act` code; alpha is leakyRelu's slope.
   * `packed`, when given, is w as `convPackWeights` packed it (the kernel then reads it instead of w).
   */
  conv2d(g: ConvGeom, x: F32, w: F32, bias: F32 | null, y: F32, act: ActOp, alpha: number, packed?: F32 | null): void;
  /**
   * w packed once for repeated conv2d calls with this geometry (inference with fixed weights), in memory the
   * kernels own; null when packing gains nothing. Inputs of another size still work with it (the kernel may
   * then pack as usual).
   */
  convPackWeights(g: ConvGeom, w: F32): F32 | null;
  /** dx = gradient of conv2d (without act) with respect to x. */
  conv2dBackwardInput(g: ConvGeom, dy: F32, w: F32, dx: F32): void;
  /** dw (and dbias when given) = gradients of conv2d (without act) with respect to w and bias. */
  conv2dBackwardWeight(g: ConvGeom, x: F32, dy: F32, dw: F32, dbias: F32 | null): void;

  // ---- normalisation ----------------------------------------------------------
  /**
   * Training-mode batch norm over (N, H*W) per channel: saves the batch mean and
   * 1/sqrt(biased var + eps); y = (x - mean) * invStd * weight + bias. When
   * running stats are given: running = (1 - momentum) * running + momentum * batch,
   * with the unbiased variance for runningVar (PyTorch's rule). With an `act`
   * (an `Act` code; alpha: leakyRelu's slope) y = act(normalised x), applied
   * plane by plane while in cache; `z` (may be null) then receives the
   * normalised x itself, which silu's and hardswish's gradients need.
   */
  batchNormTrain(n: number, c: number, hw: number, x: F32, weight: F32 | null, bias: F32 | null, eps: number,
    momentum: number, runningMean: F32 | null, runningVar: F32 | null, y: F32, saveMean: F32, saveInvStd: F32,
    act: ActOp, alpha: number, z: F32 | null): void;
  /** Eval-mode batch norm with running statistics. */
  batchNormInference(n: number, c: number, hw: number, x: F32, weight: F32 | null, bias: F32 | null,
    runningMean: F32, runningVar: F32, eps: number, y: F32): void;
  /**
   * Gradients of training-mode batch norm; dweight/dbias written when given.
   * With a fused `act`, dy is the gradient of the activation's output and
   * actX its input z (for relu, relu6 and leakyRelu its output serves: same mask).
   */
  batchNormBackward(n: number, c: number, hw: number, x: F32, dy: F32, weight: F32 | null, saveMean: F32,
    saveInvStd: F32, dx: F32, dweight: F32 | null, dbias: F32 | null, act: ActOp, alpha: number, actX: F32 | null): void;

  // ---- pooling and resampling -------------------------------------------------
  /** Max pooling; indices get the argmax's flat index within its (n, c) input plane (as PyTorch). Padding is -inf. */
  maxPool2d(g: PoolGeom, x: F32, y: F32, indices: I32): void;
  /** dx = scatter-add of dy at indices (dx fully overwritten). */
  maxPool2dBackward(g: PoolGeom, dy: F32, indices: I32, dx: F32): void;
  /** Average pooling (dilation must be 1); divisor counts padding when countIncludePad (clipped to the padded input as PyTorch). */
  avgPool2d(g: PoolGeom, countIncludePad: boolean, x: F32, y: F32): void;
  avgPool2dBackward(g: PoolGeom, countIncludePad: boolean, dy: F32, dx: F32): void;
  /** Adaptive average pooling: bin i covers [floor(i*h/outH), ceil((i+1)*h/outH)). */
  adaptiveAvgPool2d(n: number, c: number, h: number, w: number, outH: number, outW: number, x: F32, y: F32): void;
  adaptiveAvgPool2dBackward(n: number, c: number, h: number, w: number, outH: number, outW: number, dy: F32, dx: F32): void;
  /** Nearest upsampling: source index = min(floor(dst * in / out), in - 1). */
  upsampleNearest2d(n: number, c: number, h: number, w: number, outH: number, outW: number, x: F32, y: F32): void;
  upsampleNearest2dBackward(n: number, c: number, h: number, w: number, outH: number, outW: number, dy: F32, dx: F32): void;

  // ---- element-wise -----------------------------------------------------------
  /** y = f(x); alpha/beta are the op's parameters (leakyRelu slope, clamp bounds, affine scale and shift). y may be x. */
  unary(op: UnaryOp, x: F32, y: F32, alpha: number, beta: number): void;
  /**
   * dx = dy * f'(x). Reads y = f(x) for sigmoid, tanh, exp, sqrt and reciprocal, and x for every
   * other op; the argument it does not read may be any array (autograd saves only the one it needs).
   * dx may be dy.
   */
  unaryBackward(op: UnaryOp, x: F32, y: F32, dy: F32, dx: F32, alpha: number, beta: number): void;
  /**
   * out = a op b with broadcasting: `shape` is out's shape (rank r); aStrides and
   * bStrides are element strides of a and b over out's indices (0 on broadcast dims).
   */
  binary(op: BinaryOp, a: F32, aStrides: I32, b: F32, bStrides: I32, out: F32, shape: I32): void;
  /** y += alpha * x (gradient accumulation). */
  axpy(alpha: number, x: F32, y: F32): void;
  fill(out: F32, value: number): void;
  /**
   * Strided copy over `shape`: dst[dstOffset + Σ i_d*dstStrides_d] = src[srcOffset + Σ i_d*srcStrides_d].
   * Serves permute, slice, concat, split and expand.
   */
  copyStrided(src: F32, srcOffset: number, srcStrides: I32, dst: F32, dstOffset: number, dstStrides: I32, shape: I32): void;

  // ---- reductions -------------------------------------------------------------
  /**
   * Sums x (shape xShape) into out (shape outShape, same rank, each dim equal to
   * x's or 1): the reduction for sum/mean over axes and for broadcasting's backward.
   */
  sumTo(x: F32, xShape: I32, out: F32, outShape: I32): void;
  /** out[i] = index of the largest of x[i*cols .. (i+1)*cols) (first one on ties). */
  argmaxRows(rows: number, cols: number, x: F32, out: I32): void;

  // ---- softmax and losses -------------------------------------------------------
  /** Softmax (or log-softmax) over the middle axis of x viewed as [outer, dim, inner]. */
  softmax(outer: number, dim: number, inner: number, x: F32, y: F32, log: boolean): void;
  /** Its backward from y = softmax(x) (or log-softmax(x)). */
  softmaxBackward(outer: number, dim: number, inner: number, y: F32, dy: F32, dx: F32, log: boolean): void;
  /**
   * Fused softmax cross-entropy over logits [n, c]: losses[i] = (1-ls)*(-logp[i,t_i]) + ls/c * Σ_j -logp[i,j],
   * 0 where t_i == ignoreIndex; saves probs = softmax(logits) for the backward.
   * Throws on a target outside [0, c) that is not ignoreIndex.
   */
  crossEntropy(n: number, c: number, logits: F32, targets: I32, labelSmoothing: number, ignoreIndex: number,
    losses: F32, probs: F32): void;
  /** dlogits[i,j] = dloss[i] * (probs[i,j] - q[i,j]), q the smoothed one-hot; 0 on ignored rows. */
  crossEntropyBackward(n: number, c: number, probs: F32, targets: I32, labelSmoothing: number, ignoreIndex: number,
    dloss: F32, dlogits: F32): void;
  /** Element-wise BCE with logits: out = max(x,0) - x*t + log(1 + exp(-|x|)). */
  bceWithLogits(x: F32, t: F32, out: F32): void;
  /** dx = dout * (sigmoid(x) - t). */
  bceWithLogitsBackward(x: F32, t: F32, dout: F32, dx: F32): void;

  // ---- randomness -------------------------------------------------------------
  /**
   * Dropout mask from a counter-based hash (same bits on any backend and thread count):
   * u_i = (h(i) >>> 8) / 2^24 with h(i) = fmix32(fmix32(i*0x9E3779B9 + seedA) ^ seedB)
   * (fmix32 = MurmurHash3's finaliser, 32-bit wrap-around arithmetic); mask_i = u_i < p ? 0 : 1/(1-p).
   */
  dropoutMask(seedA: number, seedB: number, p: number, mask: F32): void;

  // ---- optimizers (one call updates every parameter) ---------------------------
  /**
   * PyTorch SGD (momentumBufs may be empty when momentum is 0): d = g + wd*p; buf = first ? d : momentum*buf + (1-dampening)*d;
   * d = nesterov ? d + momentum*buf : buf (d itself when momentum = 0); p -= lr*d.
   */
  sgdStep(params: F32[], grads: F32[], momentumBufs: F32[], lr: number, momentum: number, dampening: number,
    weightDecay: number, nesterov: boolean, firstStep: boolean): void;
  /**
   * PyTorch Adam (decoupled = false) and AdamW (decoupled = true), no amsgrad; `step` counts from 1.
   * Adam: g += wd*p. AdamW: p *= 1 - lr*wd. Then m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g²;
   * p -= (lr / (1-b1^step)) * m / (sqrt(v) / sqrt(1-b2^step) + eps).
   */
  adamStep(params: F32[], grads: F32[], expAvg: F32[], expAvgSq: F32[], lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, step: number, decoupled: boolean): void;
  /** ema = decay * ema + (1 - decay) * value, over every pair. */
  emaUpdate(ema: F32[], values: F32[], decay: number): void;
  /** Σ x² over all arrays, in double precision, fixed order (gradient-norm clipping). */
  sumSquares(arrays: F32[]): number;
  /** x *= s for every array. */
  scaleArrays(arrays: F32[], s: number): void;
  /** True when every element of every array is finite. */
  allFinite(arrays: F32[]): boolean;
}
