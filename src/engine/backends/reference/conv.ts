// Direct convolution loops over PyTorch's definition (any stride, padding, dilation, groups):
// y[b,co,oh,ow] = bias[co] + Σ_{ci in co's group, i, j} x[b,ci,oh*sH-pH+i*dH, ow*sW-pW+j*dW] * w[co,ci',i,j]
// (taps that fall in the zero padding contribute nothing). The backwards apply the same index map.
import type { ActOp, ConvGeom, F32 } from "../../kernels.js";
import { Act } from "../../kernels.js";
import { readConvGeom, type ConvDims } from "./geometry.js";
import { unaryValue } from "./elementwise.js";

/**
 * Calls visit(inputOffset, outputOffset) for every (output pixel, input pixel) pair that kernel
 * tap (i, j) connects inside one channel plane, skipping taps in the padding.
 */
function forEachTapPair(d: ConvDims, i: number, j: number, visit: (inAt: number, outAt: number) => void): void {
  for (let oh = 0; oh < d.outH; oh++) {
    const ih = oh * d.strideH - d.padH + i * d.dilH;
    if (ih < 0 || ih >= d.h) continue;
    for (let ow = 0; ow < d.outW; ow++) {
      const iw = ow * d.strideW - d.padW + j * d.dilW;
      if (iw < 0 || iw >= d.w) continue;
      visit(ih * d.w + iw, oh * d.outW + ow);
    }
  }
}

function weightAt(d: ConvDims, co: number, cl: number, i: number, j: number): number {
  return ((co * d.cInG + cl) * d.kh + i) * d.kw + j;
}

export function conv2d(g: ConvGeom, x: F32, w: F32, bias: F32 | null, y: F32, act: ActOp, alpha: number): void {
  const d = readConvGeom(g);
  const inPlane = d.h * d.w, outPlane = d.outH * d.outW;
  const acc = new Float64Array(outPlane);
  for (let b = 0; b < d.n; b++) {
    for (let co = 0; co < d.cOut; co++) {
      acc.fill(0);
      const group = Math.floor(co / d.cOutG);
      for (let cl = 0; cl < d.cInG; cl++) {
        const xPlane = (b * d.cIn + group * d.cInG + cl) * inPlane;
        for (let i = 0; i < d.kh; i++) {
          for (let j = 0; j < d.kw; j++) {
            const wv = w[weightAt(d, co, cl, i, j)];
            forEachTapPair(d, i, j, (inAt, outAt) => { acc[outAt] += wv * x[xPlane + inAt]; });
          }
        }
      }
      const yPlane = (b * d.cOut + co) * outPlane;
      const bv = bias ? bias[co] : 0;
      for (let p = 0; p < outPlane; p++) {
        const v = acc[p] + bv;
        y[yPlane + p] = act === Act.none ? v : unaryValue(act, v, alpha, 0);
      }
    }
  }
}

export function conv2dBackwardInput(g: ConvGeom, dy: F32, w: F32, dx: F32): void {
  const d = readConvGeom(g);
  const inPlane = d.h * d.w, outPlane = d.outH * d.outW;
  const acc = new Float64Array(inPlane);
  for (let b = 0; b < d.n; b++) {
    for (let ci = 0; ci < d.cIn; ci++) {
      acc.fill(0);
      const group = Math.floor(ci / d.cInG), cl = ci % d.cInG;
      for (let co = group * d.cOutG; co < (group + 1) * d.cOutG; co++) {
        const dyPlane = (b * d.cOut + co) * outPlane;
        for (let i = 0; i < d.kh; i++) {
          for (let j = 0; j < d.kw; j++) {
            const wv = w[weightAt(d, co, cl, i, j)];
            forEachTapPair(d, i, j, (inAt, outAt) => { acc[inAt] += wv * dy[dyPlane + outAt]; });
          }
        }
      }
      dx.set(acc, (b * d.cIn + ci) * inPlane);
    }
  }
}

export function conv2dBackwardWeight(g: ConvGeom, x: F32, dy: F32, dw: F32, dbias: F32 | null): void {
  const d = readConvGeom(g);
  const inPlane = d.h * d.w, outPlane = d.outH * d.outW;
  for (let co = 0; co < d.cOut; co++) {
    const group = Math.floor(co / d.cOutG);
    for (let cl = 0; cl < d.cInG; cl++) {
      for (let i = 0; i < d.kh; i++) {
        for (let j = 0; j < d.kw; j++) {
          let sum = 0;
          for (let b = 0; b < d.n; b++) {
            const xPlane = (b * d.cIn + group * d.cInG + cl) * inPlane;
            const dyPlane = (b * d.cOut + co) * outPlane;
            forEachTapPair(d, i, j, (inAt, outAt) => { sum += x[xPlane + inAt] * dy[dyPlane + outAt]; });
          }
          dw[weightAt(d, co, cl, i, j)] = sum;
        }
      }
    }
    if (dbias) {
      let sum = 0;
      for (let b = 0; b < d.n; b++) {
        const dyPlane = (b * d.cOut + co) * outPlane;
        for (let p = 0; p < outPlane; p++) sum += dy[dyPlane + p];
      }
      dbias[co] = sum;
    }
  }
}
