// Index arithmetic shared by the strided kernels (binary, copyStrided, sumTo).

/** Row-major (C order) element strides of a dense tensor of this shape. */
export function contiguousStrides(shape: ArrayLike<number>): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** Number of elements of a tensor of this shape (1 for rank 0). */
export function numelOf(shape: ArrayLike<number>): number {
  let n = 1;
  for (let d = 0; d < shape.length; d++) n *= shape[d];
  return n;
}

/**
 * Visits every index of `shape` in row-major order, passing the offsets
 * base + Σ i_d * strides_d of two strided views (an odometer: each step
 * moves the offsets incrementally, so the walk is linear in the element count).
 */
export function walkStrided(
  shape: ArrayLike<number>,
  stridesA: ArrayLike<number>, baseA: number,
  stridesB: ArrayLike<number>, baseB: number,
  visit: (offsetA: number, offsetB: number) => void,
): void {
  const rank = shape.length;
  for (let d = 0; d < rank; d++) if (shape[d] === 0) return;
  const index = new Array<number>(rank).fill(0);
  let a = baseA, b = baseB;
  for (;;) {
    visit(a, b);
    let d = rank - 1;
    for (; d >= 0; d--) {
      index[d]++;
      a += stridesA[d];
      b += stridesB[d];
      if (index[d] < shape[d]) break;
      a -= stridesA[d] * shape[d];
      b -= stridesB[d] * shape[d];
      index[d] = 0;
    }
    if (d < 0) return;
  }
}
