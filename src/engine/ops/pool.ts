// Pooling and resampling: each a forward kernel and its backward kernel.
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { poolGeom, type PoolGeom } from "../kernels.js";
import { acquireI32, releaseI32 } from "../memory.js";
import { empty, type Tensor } from "../tensor.js";
import { pair, type Pair } from "./conv.js";

export interface MaxPool2dOptions {
  kernelSize: Pair;
  /** Defaults to kernelSize. */
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
  /** Count padded zeros in the divisor (PyTorch's default: true). */
  countIncludePad?: boolean;
}

function nchw(name: string, x: Tensor): readonly number[] {
  if (x.ndim !== 4) throw new Error(`kiln: ${name} needs x [N, C, H, W], got [${x.shape.join(", ")}]`);
  return x.shape;
}

function geometry(name: string, x: Tensor, o: MaxPool2dOptions): PoolGeom {
  const [n, c, h, w] = nchw(name, x);
  const [kh, kw] = pair(o.kernelSize, 1);
  const [strideH, strideW] = o.stride === undefined ? [kh, kw] : pair(o.stride, 1);
  const [padH, padW] = pair(o.padding, 0);
  const [dilH, dilW] = pair(o.dilation, 1);
  if (2 * padH > kh || 2 * padW > kw) throw new Error(`kiln: ${name}: padding (${padH}, ${padW}) must be at most half the kernel size (${kh}, ${kw})`);
  const g = poolGeom({ n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilH, dilW, ceilMode: o.ceilMode });
  if (g[12] <= 0 || g[13] <= 0) throw new Error(`kiln: ${name}: input [${x.shape.join(", ")}] is too small for a ${kh}x${kw} window`);
  return g;
}

export function maxPool2d(x: Tensor, opts: MaxPool2dOptions): Tensor {
  const g = geometry("maxPool2d", x, opts);
  const y = empty([g[0], g[1], g[12], g[13]]);
  const indices = acquireI32(y.numel);
  kernels().maxPool2d(g, x.data, y.data, indices);
  if (!needsGrad(x)) {
    releaseI32(indices);
    return y;
  }
  record("maxPool2d", y, [x], (dy) => {
    const dx = empty(x.shape);
    kernels().maxPool2dBackward(g, dy.data, indices, dx.data);
    releaseI32(indices); // a node's rule runs once
    return [dx];
  });
  return y;
}

export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const g = geometry("avgPool2d", x, opts);
  const countPad = opts.countIncludePad ?? true;
  const y = empty([g[0], g[1], g[12], g[13]]);
  kernels().avgPool2d(g, countPad, x.data, y.data);
  if (!needsGrad(x)) return y;
  return record("avgPool2d", y, [x], (dy) => {
    const dx = empty(x.shape);
    kernels().avgPool2dBackward(g, countPad, dy.data, dx.data);
    return [dx];
  });
}

/** Output size [outH, outW] or one number for both. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  const [n, c, h, w] = nchw("adaptiveAvgPool2d", x);
  const [outH, outW] = pair(outputSize, 1);
  const y = empty([n, c, outH, outW]);
  kernels().adaptiveAvgPool2d(n, c, h, w, outH, outW, x.data, y.data);
  if (!needsGrad(x)) return y;
  return record("adaptiveAvgPool2d", y, [x], (dy) => {
    const dx = empty(x.shape);
    kernels().adaptiveAvgPool2dBackward(n, c, h, w, outH, outW, dy.data, dx.data);
    return [dx];
  });
}

export type UpsampleOptions = { scaleFactor: Pair } | { size: Pair };

/** Nearest-neighbour upsampling (PyTorch's mode="nearest"): out = floor(in * scale), or an explicit size. */
export function upsampleNearest2d(x: Tensor, opts: UpsampleOptions): Tensor {
  const [n, c, h, w] = nchw("upsampleNearest2d", x);
  let outH: number, outW: number;
  if ("size" in opts) [outH, outW] = pair(opts.size, 1);
  else {
    const [sh, sw] = pair(opts.scaleFactor, 1);
    outH = Math.floor(h * sh);
    outW = Math.floor(w * sw);
  }
  if (!(outH > 0 && outW > 0)) throw new Error(`kiln: upsampleNearest2d: output size ${outH}x${outW} is empty`);
  const y = empty([n, c, outH, outW]);
  kernels().upsampleNearest2d(n, c, h, w, outH, outW, x.data, y.data);
  if (!needsGrad(x)) return y;
  return record("upsampleNearest2d", y, [x], (dy) => {
    const dx = empty(x.shape);
    kernels().upsampleNearest2dBackward(n, c, h, w, outH, outW, dy.data, dx.data);
    return [dx];
  });
}
