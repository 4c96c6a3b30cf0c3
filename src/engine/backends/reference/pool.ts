// Pooling and resampling, following PyTorch's CPU kernels window by window.
import type { F32, I32, PoolGeom } from "../../kernels.js";
import { readPoolGeom, type PoolDims } from "./geometry.js";

/** The in-bounds rows [start, end) of output row `o` for a window of k taps spaced `dil` apart. */
function maxWindow(o: number, stride: number, pad: number, k: number, dil: number, size: number): [number, number] {
  let start = o * stride - pad;
  const end = Math.min(start + (k - 1) * dil + 1, size);
  while (start < 0) start += dil; // skip taps in the (-inf) padding
  return [start, end];
}

export function maxPool2d(g: PoolGeom, x: F32, y: F32, indices: I32): void {
  const d = readPoolGeom(g);
  const inPlane = d.h * d.w, outPlane = d.outH * d.outW;
  for (let plane = 0; plane < d.n * d.c; plane++) {
    const x0 = plane * inPlane;
    for (let oh = 0; oh < d.outH; oh++) {
      const [h0, h1] = maxWindow(oh, d.strideH, d.padH, d.kh, d.dilH, d.h);
      for (let ow = 0; ow < d.outW; ow++) {
        const [w0, w1] = maxWindow(ow, d.strideW, d.padW, d.kw, d.dilW, d.w);
        // As PyTorch: start from -inf at the first in-bounds tap; strict > keeps the first
        // maximum on ties; a NaN always wins (so NaN propagates).
        let best = -Infinity, bestAt = h0 * d.w + w0;
        for (let ih = h0; ih < h1; ih += d.dilH) {
          for (let iw = w0; iw < w1; iw += d.dilW) {
            const v = x[x0 + ih * d.w + iw];
            if (v > best || Number.isNaN(v)) {
              best = v;
              bestAt = ih * d.w + iw;
            }
          }
        }
        const at = plane * outPlane + oh * d.outW + ow;
        y[at] = best;
        indices[at] = bestAt;
      }
    }
  }
}

export function maxPool2dBackward(g: PoolGeom, dy: F32, indices: I32, dx: F32): void {
  const d = readPoolGeom(g);
  const inPlane = d.h * d.w, outPlane = d.outH * d.outW;
  const acc = new Float64Array(inPlane);
  for (let plane = 0; plane < d.n * d.c; plane++) {
    acc.fill(0);
    for (let p = 0; p < outPlane; p++) acc[indices[plane * outPlane + p]] += dy[plane * outPlane + p];
    dx.set(acc, plane * inPlane);
  }
}

interface AvgWindow { h0: number; h1: number; w0: number; w1: number; divisor: number }

/**
 * PyTorch's avg_pool2d window (checked by hand against torch 1.13, ceil_mode and padding
 * included): the window is first clipped to the padded input [-pad, size + pad) and that size is
 * the divisor with countIncludePad; then it is clipped to the input, whose size is the divisor
 * without. A window wholly in the padding (possible with ceil_mode) outputs 0.
 */
function avgWindow(d: PoolDims, oh: number, ow: number, countIncludePad: boolean): AvgWindow {
  if (d.dilH !== 1 || d.dilW !== 1) throw new Error("avgPool2d: dilation must be 1");
  let h0 = oh * d.strideH - d.padH, w0 = ow * d.strideW - d.padW;
  let h1 = Math.min(h0 + d.kh, d.h + d.padH), w1 = Math.min(w0 + d.kw, d.w + d.padW);
  const padded = (h1 - h0) * (w1 - w0);
  h0 = Math.max(h0, 0);
  w0 = Math.max(w0, 0);
  h1 = Math.min(h1, d.h);
  w1 = Math.min(w1, d.w);
  const divisor = countIncludePad ? padded : (h1 - h0) * (w1 - w0);
  return { h0, h1, w0, w1, divisor };
}

export function avgPool2d(g: PoolGeom, countIncludePad: boolean, x: F32, y: F32): void {
  const d = readPoolGeom(g);
  const inPlane = d.h * d.w, outPlane = d.outH * d.outW;
  for (let plane = 0; plane < d.n * d.c; plane++) {
    for (let oh = 0; oh < d.outH; oh++) {
      for (let ow = 0; ow < d.outW; ow++) {
        const win = avgWindow(d, oh, ow, countIncludePad);
        let sum = 0;
        for (let ih = win.h0; ih < win.h1; ih++) {
          for (let iw = win.w0; iw < win.w1; iw++) sum += x[plane * inPlane + ih * d.w + iw];
        }
        const empty = win.h0 >= win.h1 || win.w0 >= win.w1;
        y[plane * outPlane + oh * d.outW + ow] = empty ? 0 : sum / win.divisor;
      }
    }
  }
}

export function avgPool2dBackward(g: PoolGeom, countIncludePad: boolean, dy: F32, dx: F32): void {
  const d = readPoolGeom(g);
  const inPlane = d.h * d.w, outPlane = d.outH * d.outW;
  const acc = new Float64Array(inPlane);
  for (let plane = 0; plane < d.n * d.c; plane++) {
    acc.fill(0);
    for (let oh = 0; oh < d.outH; oh++) {
      for (let ow = 0; ow < d.outW; ow++) {
        const win = avgWindow(d, oh, ow, countIncludePad);
        const share = dy[plane * outPlane + oh * d.outW + ow] / win.divisor;
        for (let ih = win.h0; ih < win.h1; ih++) {
          for (let iw = win.w0; iw < win.w1; iw++) acc[ih * d.w + iw] += share;
        }
      }
    }
    dx.set(acc, plane * inPlane);
  }
}

/** Adaptive bin i of `out` over `size`: [floor(i*size/out), ceil((i+1)*size/out)). */
function adaptiveBin(i: number, size: number, out: number): [number, number] {
  return [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)];
}

export function adaptiveAvgPool2d(n: number, c: number, h: number, w: number, outH: number, outW: number,
  x: F32, y: F32): void {
  for (let plane = 0; plane < n * c; plane++) {
    for (let oh = 0; oh < outH; oh++) {
      const [h0, h1] = adaptiveBin(oh, h, outH);
      for (let ow = 0; ow < outW; ow++) {
        const [w0, w1] = adaptiveBin(ow, w, outW);
        let sum = 0;
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) sum += x[(plane * h + ih) * w + iw];
        y[(plane * outH + oh) * outW + ow] = sum / ((h1 - h0) * (w1 - w0));
      }
    }
  }
}

export function adaptiveAvgPool2dBackward(n: number, c: number, h: number, w: number, outH: number, outW: number,
  dy: F32, dx: F32): void {
  const acc = new Float64Array(h * w);
  for (let plane = 0; plane < n * c; plane++) {
    acc.fill(0);
    for (let oh = 0; oh < outH; oh++) {
      const [h0, h1] = adaptiveBin(oh, h, outH);
      for (let ow = 0; ow < outW; ow++) {
        const [w0, w1] = adaptiveBin(ow, w, outW);
        const share = dy[(plane * outH + oh) * outW + ow] / ((h1 - h0) * (w1 - w0));
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) acc[ih * w + iw] += share;
      }
    }
    dx.set(acc, plane * h * w);
  }
}

/** Nearest source index: min(floor(dst * in / out), in - 1), in exact integer arithmetic. */
function nearestSource(dst: number, inSize: number, outSize: number): number {
  return Math.min(Math.floor((dst * inSize) / outSize), inSize - 1);
}

export function upsampleNearest2d(n: number, c: number, h: number, w: number, outH: number, outW: number,
  x: F32, y: F32): void {
  for (let plane = 0; plane < n * c; plane++) {
    for (let oh = 0; oh < outH; oh++) {
      const ih = nearestSource(oh, h, outH);
      for (let ow = 0; ow < outW; ow++) {
        y[(plane * outH + oh) * outW + ow] = x[(plane * h + ih) * w + nearestSource(ow, w, outW)];
      }
    }
  }
}

export function upsampleNearest2dBackward(n: number, c: number, h: number, w: number, outH: number, outW: number,
  dy: F32, dx: F32): void {
  const acc = new Float64Array(h * w);
  for (let plane = 0; plane < n * c; plane++) {
    acc.fill(0);
    for (let oh = 0; oh < outH; oh++) {
      const ih = nearestSource(oh, h, outH);
      for (let ow = 0; ow < outW; ow++) {
        acc[ih * w + nearestSource(ow, w, outW)] += dy[(plane * outH + oh) * outW + ow];
      }
    }
    dx.set(acc, plane * h * w);
  }
}
