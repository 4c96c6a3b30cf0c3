// Reductions: sumTo (sum over axes / broadcasting's backward) and row argmax.
import type { F32, I32 } from "../../kernels.js";
import { contiguousStrides, numelOf, walkStrided } from "./strided.js";

export function sumTo(x: F32, xShape: I32, out: F32, outShape: I32): void {
  if (xShape.length !== outShape.length) {
    throw new Error(`sumTo: ranks differ (x [${xShape.join(",")}], out [${outShape.join(",")}])`);
  }
  // Reduced dims get stride 0 in out, so every x element lands on its out element.
  const outStrides = contiguousStrides(outShape);
  for (let d = 0; d < outShape.length; d++) {
    if (outShape[d] === 1) outStrides[d] = 0;
    else if (outShape[d] !== xShape[d]) {
      throw new Error(`sumTo: out dim ${d} is ${outShape[d]}, must be 1 or x's ${xShape[d]}`);
    }
  }
  const acc = new Float64Array(numelOf(outShape));
  walkStrided(xShape, contiguousStrides(xShape), 0, outStrides, 0, (xAt, outAt) => { acc[outAt] += x[xAt]; });
  out.set(acc);
}

/** First index of the largest value; a NaN counts as the largest (as torch.argmax). */
export function argmaxRows(rows: number, cols: number, x: F32, out: I32): void {
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < cols; j++) {
      const v = x[r * cols + j], bv = x[r * cols + best];
      if (Number.isNaN(bv)) break;
      if (v > bv || Number.isNaN(v)) best = j;
    }
    out[r] = best;
  }
}
