// Comparing kiln's float32 results with a reference: a normwise relative
// error per tensor, with a failure message that says where and by how much.
import assert from "node:assert/strict";

export interface Values {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * max|got − want| / max(1e-8, max|want|): each element is judged against the
 * tensor's scale, so a correct kernel whose cancelling sums lose digits in one
 * near-zero element passes, while an error that is large for the tensor fails.
 */
export function normwiseError(got: Float32Array, want: Float32Array): { error: number; index: number } {
  let worst = 0;
  let index = -1;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    const d = Math.abs(got[i] - want[i]);
    // NaN compares false, so it is caught explicitly.
    if (d > worst || (Number.isNaN(d) && !Number.isNaN(worst))) {
      worst = Number.isNaN(d) ? NaN : d;
      index = i;
      if (Number.isNaN(d)) break;
    }
  }
  return { error: worst / Math.max(1e-8, scale), index };
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => {
  // A scalar may come back as [] or [1].
  const norm = (s: readonly number[]): string => (s.length === 1 && s[0] === 1 ? "" : s.join(","));
  return norm(a) === norm(b);
};

/** KILN_REPORT_ERRORS=1 prints every comparison's error to stderr: the margins behind the tolerances. */
const reportErrors = process.env.KILN_REPORT_ERRORS === "1";

/** Asserts equal shapes and a normwise relative error of at most `tolerance`. */
export function assertClose(label: string, got: Values, want: Values, tolerance: number): void {
  assert.ok(sameShape(got.shape, want.shape), `${label}: shape [${got.shape.join(", ")}], PyTorch's is [${want.shape.join(", ")}]`);
  const { error, index } = normwiseError(got.data, want.data);
  if (reportErrors) process.stderr.write(`error ${error.toExponential(2)} tolerance ${tolerance.toExponential(0)}  ${label}\n`);
  assert.ok(error <= tolerance,
    `${label}: max|kiln − torch| / max|torch| = ${error.toExponential(2)} > ${tolerance.toExponential(0)} ` +
    `(worst at flat index ${index}: kiln ${got.data[index]}, torch ${want.data[index]})`);
}
