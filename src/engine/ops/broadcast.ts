// Broadcasting: the shape rules, the strides the `binary` and `copyStrided`
// kernels take, and the two ops that move between broadcast shapes:
// expand (a strided copy) and sumTo (its adjoint, a reduction).
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { empty, sameShape, type Tensor } from "../tensor.js";

/** Row-major element strides of a dense tensor of this shape. */
export function contiguousStrides(shape: readonly number[]): Int32Array {
  const s = new Int32Array(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** NumPy's broadcasting rule. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`kiln: shapes [${a.join(", ")}] and [${b.join(", ")}] cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of a (dense, shape `from`) read over the indices of `to` (right-aligned; 0 where broadcast). */
export function broadcastStrides(from: readonly number[], to: readonly number[]): Int32Array {
  const own = contiguousStrides(from);
  const s = new Int32Array(to.length);
  const lead = to.length - from.length;
  for (let i = 0; i < from.length; i++) s[lead + i] = from[i] === 1 ? 0 : own[i];
  return s;
}

/**
 * Merges adjacent dims that every operand walks contiguously (and drops size-1
 * dims), so the kernels loop over as few dims as possible:
 * [N,C,H,W] + [1,C,1,1] becomes [N,C,H*W] with strides [0,1,0].
 */
export function collapseDims(shape: readonly number[], strides: readonly Int32Array[]): { shape: Int32Array; strides: Int32Array[] } {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, j) => st[j][last] === s[d] * shape[d])) {
      dims[last] *= shape[d];
      for (let j = 0; j < strides.length; j++) st[j][last] = strides[j][d];
    } else {
      dims.push(shape[d]);
      for (let j = 0; j < strides.length; j++) st[j].push(strides[j][d]);
    }
  }
  if (dims.length === 0) return { shape: Int32Array.of(1), strides: strides.map(() => Int32Array.of(1)) };
  return { shape: Int32Array.from(dims), strides: st.map((s) => Int32Array.from(s)) };
}

/** Broadcasts x to `shape` (a copy). Backward: sumTo. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const target = broadcastShapes(x.shape, shape);
  if (!sameShape(target, shape)) throw new Error(`kiln: expand: [${x.shape.join(", ")}] cannot be expanded to [${shape.join(", ")}]`);
  const out = empty(target);
  const c = collapseDims(target, [broadcastStrides(x.shape, target), contiguousStrides(target)]);
  kernels().copyStrided(x.data, 0, c.strides[0], out.data, 0, c.strides[1], c.shape);
  if (!needsGrad(x)) return out;
  return record("expand", out, [x], (g) => [sumTo(g, x.shape)]);
}

/** Sums x down to `shape`, which x's shape broadcasts from (the adjoint of expand). Backward: expand. */
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const rank = x.shape.length;
  if (shape.length > rank) throw new Error(`kiln: sumTo: [${x.shape.join(", ")}] cannot be summed to the larger rank [${shape.join(", ")}]`);
  const padded = new Int32Array(rank).fill(1);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    const xd = x.shape[rank - shape.length + i];
    if (d !== 1 && d !== xd) throw new Error(`kiln: sumTo: [${x.shape.join(", ")}] cannot be summed to [${shape.join(", ")}]`);
    padded[rank - shape.length + i] = d;
  }
  const out = empty(shape);
  kernels().sumTo(x.data, Int32Array.from(x.shape), out.data, padded);
  if (!needsGrad(x)) return out;
  return record("sumTo", out, [x], (g) => [expand(g, x.shape)]);
}
