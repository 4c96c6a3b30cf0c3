// 2-D convolution: forward, and a backward that reuses the kernels' backward
// passes for the input and for the weights/bias (candle's approach).
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { Act, convGeom, type ActOp, type ConvGeom } from "../kernels.js";
import { empty, type Tensor } from "../tensor.js";

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

export function pair(v: Pair | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

function geometry(x: Tensor, w: Tensor, b: Tensor | null | undefined, opts: Conv2dOptions): ConvGeom {
  if (x.ndim !== 4 || w.ndim !== 4) {
    throw new Error(`kiln: conv2d needs x [N, C, H, W] and w [cOut, cIn/groups, kh, kw], got [${x.shape.join(", ")}] and [${w.shape.join(", ")}]`);
  }
  const groups = opts.groups ?? 1;
  const [n, cIn, h, wd] = x.shape;
  const [cOut, cPerGroup, kh, kw] = w.shape;
  if (!Number.isInteger(groups) || groups < 1 || cIn % groups !== 0 || cOut % groups !== 0 || cPerGroup * groups !== cIn) {
    throw new Error(`kiln: conv2d: input channels ${cIn}, weight [${w.shape.join(", ")}] and groups ${groups} do not fit (need cIn = weight.shape[1] * groups, cOut divisible by groups)`);
  }
  if (b && (b.ndim !== 1 || b.shape[0] !== cOut)) throw new Error(`kiln: conv2d: bias must be [${cOut}], got [${b.shape.join(", ")}]`);
  const [strideH, strideW] = pair(opts.stride, 1);
  const [padH, padW] = pair(opts.padding, 0);
  const [dilH, dilW] = pair(opts.dilation, 1);
  const g = convGeom({ n, cIn, h, w: wd, cOut, kh, kw, strideH, strideW, padH, padW, dilH, dilW, groups });
  if (g[14] <= 0 || g[15] <= 0) {
    throw new Error(`kiln: conv2d: input [${x.shape.join(", ")}] is too small for kernel ${kh}x${kw} (padding ${padH},${padW}, dilation ${dilH},${dilW})`);
  }
  return g;
}

/** PyTorch's F.conv2d: x [N, cIn, H, W], w [cOut, cIn/groups, kh, kw], b [cOut]. */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const g = geometry(x, w, b, opts);
  const y = empty([g[0], g[4], g[14], g[15]]);
  kernels().conv2d(g, x.data, w.data, b ? b.data : null, y.data, Act.none, 0);
  if (!needsGrad(x, w, b)) return y;
  const saved = w.requiresGrad && x.requiresGrad ? [x, w] : x.requiresGrad ? [w] : [x];
  const inputs = b ? [x, w, b] : [x, w];
  return record("conv2d", y, inputs, (dy) => {
    const k = kernels();
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = empty(x.shape);
      k.conv2dBackwardInput(g, dy.data, w.data, dx.data);
    }
    const wantBias = b != null && b.requiresGrad;
    if (w.requiresGrad || wantBias) {
      // The kernel computes both at once; a frozen weight still gets a scratch buffer.
      dw = empty(w.shape);
      if (wantBias) db = empty(b.shape);
      k.conv2dBackwardWeight(g, x.data, dy.data, dw.data, db ? db.data : null);
      if (!w.requiresGrad) dw = null;
    }
    return [dx, dw, db];
  }, saved);
}

/** Convolution weights packed once by the kernels, for many inference calls with the same weights. */
export interface PackedConvWeights {
  readonly data: Float32Array;
}

/**
 * Packs w for conv2dAct calls shaped like x (the batch and image size do not
 * matter); null when the backend gains nothing from packing. The packed copy
 * does not follow later changes to w.
 */
export function packConvWeights(x: Tensor, w: Tensor, opts: Conv2dOptions): PackedConvWeights | null {
  const data = kernels().convPackWeights(geometry(x, w, null, opts), w.data);
  return data === null ? null : { data };
}

/**
 * Inference: act(conv2d(x, w, b)) in one kernel call (batch norm folded into w
 * and b beforehand); `act` is an `Act` code, alpha leakyRelu's slope. It has no
 * backward: training uses conv2d, batchNorm2d and the activation op.
 */
export function conv2dAct(x: Tensor, w: Tensor, b: Tensor | null | undefined, opts: Conv2dOptions, act: ActOp, alpha = 0, packed: PackedConvWeights | null = null): Tensor {
  const g = geometry(x, w, b, opts);
  const y = empty([g[0], g[4], g[14], g[15]]);
  kernels().conv2d(g, x.data, w.data, b ? b.data : null, y.data, act, alpha, packed?.data ?? null);
  if (!needsGrad(x, w, b)) return y;
  return record("conv2dAct", y, b ? [x, w, b] : [x, w], () => {
    throw new Error("kiln: backward not supported for conv2dAct (the fused inference op); train with conv2d, batchNorm2d and the activation");
  });
}
