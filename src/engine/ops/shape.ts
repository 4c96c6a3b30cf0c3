// Shape ops. reshape/view/flatten/squeeze/unsqueeze are free views; permute,
// slice, cat and split copy through the `copyStrided` kernel, and each one's
// gradient is the inverse copy.
import { kernels } from "../backend.js";
import { needsGrad, record } from "../autograd.js";
import { empty, normAxis, type Tensor } from "../tensor.js";
import { collapseDims, contiguousStrides } from "./broadcast.js";

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return x.reshape(...shape);
}

/** Same as reshape (tensors are always contiguous, so every view is possible). */
export const view = reshape;

/** Merges dims startDim..endDim into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return x.reshape(1);
  const s = normAxis(startDim, x.ndim), e = normAxis(endDim, x.ndim);
  if (s > e) throw new Error(`kiln: flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const merged = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return x.reshape(...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1));
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normAxis(dim, x.ndim + 1);
  return x.reshape(...x.shape.slice(0, d), 1, ...x.shape.slice(d));
}

/** Drops size-1 dims (all of them, or only `dim`, which must then be 1 to change anything). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return x.reshape(...x.shape.filter((d) => d !== 1));
  const d = normAxis(dim, x.ndim);
  if (x.shape[d] !== 1) return x;
  return x.reshape(...x.shape.slice(0, d), ...x.shape.slice(d + 1));
}

/** Copies src (dense) into a strided region of dst, starting at dstOffset, over src's shape. */
function copyInto(src: Tensor, srcOffset: number, srcStrides: Int32Array, dst: Tensor, dstOffset: number, dstStrides: Int32Array, shape: readonly number[]): void {
  const c = collapseDims(shape, [srcStrides, dstStrides]);
  kernels().copyStrided(src.data, srcOffset, c.strides[0], dst.data, dstOffset, c.strides[1], c.shape);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) throw new Error(`kiln: permute: ${dims.length} dims given for a tensor of rank ${x.ndim}`);
  const order = dims.map((d) => normAxis(d, x.ndim));
  if (new Set(order).size !== order.length) throw new Error(`kiln: permute: dims [${dims.join(", ")}] repeat an axis`);
  const xStrides = contiguousStrides(x.shape);
  const shape = order.map((d) => x.shape[d]);
  const out = empty(shape);
  copyInto(x, 0, Int32Array.from(order, (d) => xStrides[d]), out, 0, contiguousStrides(shape), shape);
  if (!needsGrad(x)) return out;
  const inverse = new Array<number>(order.length);
  order.forEach((d, i) => (inverse[d] = i));
  return record("permute", out, [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normAxis(dim0, x.ndim), b = normAxis(dim1, x.ndim);
  if (a === b) return x;
  const dims = x.shape.map((_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** x[..., start:end, ...] along dim (Python's rules: negative indices count from the end, out-of-range clamps). */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  const d = normAxis(dim, x.ndim);
  const size = x.shape[d];
  const clampIndex = (i: number): number => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  const s = clampIndex(start), e = Math.max(clampIndex(end ?? size), s);
  const shape = x.shape.slice();
  shape[d] = e - s;
  const xStrides = contiguousStrides(x.shape);
  const out = empty(shape);
  copyInto(x, s * xStrides[d], xStrides, out, 0, contiguousStrides(shape), shape);
  if (!needsGrad(x)) return out;
  return record("slice", out, [x], (g) => {
    const dx = empty(x.shape);
    kernels().fill(dx.data, 0);
    copyInto(g, 0, contiguousStrides(shape), dx, s * xStrides[d], xStrides, shape);
    return [dx];
  });
}

/** Concatenates along dim; every other dim must match. */
export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error("kiln: cat needs at least one tensor");
  const first = xs[0];
  const d = normAxis(dim, first.ndim);
  let total = 0;
  for (const x of xs) {
    if (x.ndim !== first.ndim || x.shape.some((v, i) => i !== d && v !== first.shape[i])) {
      throw new Error(`kiln: cat along dim ${dim}: shapes [${first.shape.join(", ")}] and [${x.shape.join(", ")}] differ outside that dim`);
    }
    total += x.shape[d];
  }
  const shape = first.shape.slice();
  shape[d] = total;
  const out = empty(shape);
  const outStrides = contiguousStrides(shape);
  const starts: number[] = [];
  let at = 0;
  for (const x of xs) {
    starts.push(at);
    copyInto(x, 0, contiguousStrides(x.shape), out, at * outStrides[d], outStrides, x.shape);
    at += x.shape[d];
  }
  if (!xs.some((x) => needsGrad(x))) return out;
  return record("cat", out, xs, (g) => xs.map((x, i) => (x.requiresGrad ? slice(g, d, starts[i], starts[i] + x.shape[d]) : null)));
}

/** Splits into pieces of `size` along dim (the last may be smaller), or of the listed sizes. */
export function split(x: Tensor, sizeOrSizes: number | readonly number[], dim = 0): Tensor[] {
  const d = normAxis(dim, x.ndim);
  const total = x.shape[d];
  let sizes: number[];
  if (typeof sizeOrSizes === "number") {
    if (!(sizeOrSizes > 0)) throw new Error(`kiln: split size must be positive, got ${sizeOrSizes}`);
    sizes = [];
    for (let s = 0; s < total; s += sizeOrSizes) sizes.push(Math.min(sizeOrSizes, total - s));
  } else {
    sizes = sizeOrSizes.slice();
    if (sizes.reduce((a, b) => a + b, 0) !== total) throw new Error(`kiln: split sizes [${sizes.join(", ")}] do not add up to ${total}`);
  }
  const pieces: Tensor[] = [];
  let at = 0;
  for (const s of sizes) {
    pieces.push(slice(x, d, at, at + s));
    at += s;
  }
  return pieces;
}

/** PyTorch's chunk: pieces of ceil(size / chunks) (fewer pieces when that divides unevenly). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const d = normAxis(dim, x.ndim);
  return split(x, Math.max(1, Math.ceil(x.shape[d] / chunks)), d);
}
