// Reductions: sum over axes is the sumTo kernel (gradient: expand); mean is
// sum times 1/n.
import { normAxis, type Tensor } from "../tensor.js";
import { mul } from "./arithmetic.js";
import { sumTo } from "./broadcast.js";

function reducedShapes(x: Tensor, dims: number | readonly number[] | undefined): { kept: number[]; dropped: number[]; count: number } {
  const axes = dims === undefined ? x.shape.map((_, i) => i) : (typeof dims === "number" ? [dims] : dims).map((d) => normAxis(d, x.ndim));
  const kept = x.shape.slice();
  let count = 1;
  for (const a of new Set(axes)) {
    count *= x.shape[a];
    kept[a] = 1;
  }
  const reduced = new Set(axes);
  const dropped = x.shape.filter((_, i) => !reduced.has(i));
  return { kept, dropped, count };
}

/** Sum over `dims` (all when omitted); keepdim leaves them as size 1. */
export function sum(x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor {
  const { kept, dropped } = reducedShapes(x, dims);
  const s = sumTo(x, kept);
  return keepdim ? s : s.reshape(...dropped);
}

/** Mean over `dims` (all when omitted). */
export function mean(x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor {
  const { count } = reducedShapes(x, dims);
  return mul(sum(x, dims, keepdim), 1 / count);
}
