// Forward values of the ops whose logic lives in the engine (broadcast strides,
// dim collapsing, permute/cat/slice offsets, reductions over axes, gemm
// layouts), against naive index-by-index loops written here.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as E from "../src/engine/index.js";
import type { Tensor } from "../src/engine/index.js";

E.setBackend("reference");
const rng = new E.Rng(11);

/** Element of a row-major array at a multi-index, with broadcasting (size-1 dims read index 0). */
function at(t: Tensor, idx: number[]): number {
  let off = 0;
  const lead = idx.length - t.ndim;
  for (let d = 0; d < t.ndim; d++) off = off * t.shape[d] + (t.shape[d] === 1 ? 0 : idx[lead + d]);
  return t.data[off];
}

function* indices(shape: readonly number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    const idx = new Array<number>(shape.length);
    let r = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r = Math.floor(r / shape[d]);
    }
    yield idx;
  }
}

function expectClose(got: Tensor, shape: number[], want: (idx: number[]) => number, tol = 1e-5): void {
  assert.deepEqual(got.shape, shape);
  let i = 0;
  for (const idx of indices(shape)) {
    const w = want(idx);
    assert.ok(Math.abs(got.data[i] - w) <= tol * (1 + Math.abs(w)), `at [${idx}]: got ${got.data[i]}, want ${w}`);
    i++;
  }
}

const r = (shape: number[]): Tensor => E.uniform(shape, -2, 2, rng);

test("broadcasting binary ops over many shape pairs", () => {
  const pairs: [number[], number[], number[]][] = [
    [[2, 3, 4], [3, 1], [2, 3, 4]], [[2, 1, 4], [3, 1], [2, 3, 4]], [[5], [2, 1], [2, 5]], [[1], [2, 3], [2, 3]],
    [[2, 3, 1, 5], [1, 3, 4, 1], [2, 3, 4, 5]], [[4, 1, 1], [4, 2, 3], [4, 2, 3]], [[], [3], [3]],
  ];
  for (const [sa, sb, so] of pairs) {
    const a = r(sa), b = r(sb);
    expectClose(E.add(a, b), so, (i) => at(a, i) + at(b, i));
    expectClose(E.sub(a, b), so, (i) => at(a, i) - at(b, i));
    expectClose(E.mul(a, b), so, (i) => at(a, i) * at(b, i));
    expectClose(E.div(a, b), so, (i) => at(a, i) / at(b, i));
    expectClose(E.maximum(a, b), so, (i) => Math.max(at(a, i), at(b, i)));
  }
  assert.throws(() => E.add(r([2, 3]), r([4])), /cannot be broadcast/);
});

test("permute, transpose, slice, cat, split", () => {
  const x = r([2, 3, 4, 5]);
  expectClose(E.permute(x, [3, 1, 0, 2]), [5, 3, 2, 4], ([a, b, c, d]) => at(x, [c, b, d, a]));
  expectClose(E.transpose(x, 1, 2), [2, 4, 3, 5], ([a, b, c, d]) => at(x, [a, c, b, d]));
  expectClose(E.slice(x, 2, 1, 3), [2, 3, 2, 5], ([a, b, c, d]) => at(x, [a, b, c + 1, d]));
  expectClose(E.slice(x, -1, -2), [2, 3, 4, 2], ([a, b, c, d]) => at(x, [a, b, c, d + 3]));
  const y = r([2, 1, 4, 5]);
  expectClose(E.cat([x, y], 1), [2, 4, 4, 5], ([a, b, c, d]) => (b < 3 ? at(x, [a, b, c, d]) : at(y, [a, b - 3, c, d])));
  const [p0, p1] = E.split(x, [1, 3], 2);
  expectClose(p1, [2, 3, 3, 5], ([a, b, c, d]) => at(x, [a, b, c + 1, d]));
  expectClose(p0, [2, 3, 1, 5], ([a, b, , d]) => at(x, [a, b, 0, d]));
  assert.deepEqual(E.chunk(r([5, 2]), 3, 0).map((t) => t.shape[0]), [2, 2, 1]);
  assert.deepEqual(E.flatten(x, 1, 2).shape, [2, 12, 5]);
  assert.deepEqual(E.squeeze(E.unsqueeze(x, -1)).shape, [2, 3, 4, 5]);
});

test("sum and mean over axes", () => {
  const x = r([2, 3, 4]);
  expectClose(E.sum(x, 1), [2, 4], ([a, c]) => at(x, [a, 0, c]) + at(x, [a, 1, c]) + at(x, [a, 2, c]));
  expectClose(E.sum(x, [0, 2], true), [1, 3, 1], ([, b]) => {
    let s = 0;
    for (let a = 0; a < 2; a++) for (let c = 0; c < 4; c++) s += at(x, [a, b, c]);
    return s;
  });
  expectClose(E.mean(x, -1), [2, 3], ([a, b]) => (at(x, [a, b, 0]) + at(x, [a, b, 1]) + at(x, [a, b, 2]) + at(x, [a, b, 3])) / 4);
  const total = Array.from(x.data).reduce((s, v) => s + v, 0);
  expectClose(E.sum(x), [], () => total);
  expectClose(E.mean(x), [], () => total / 24);
});

test("matmul layouts and linear", () => {
  const dot = (a: Tensor, b: Tensor, ai: (k: number) => number[], bi: (k: number) => number[], k: number): number => {
    let s = 0;
    for (let j = 0; j < k; j++) s += at(a, ai(j)) * at(b, bi(j));
    return s;
  };
  const a = r([3, 4]), b = r([4, 5]), ab = r([2, 3, 4]), bb = r([2, 4, 5]);
  expectClose(E.matmul(a, b), [3, 5], ([i, j]) => dot(a, b, (k) => [i, k], (k) => [k, j], 4));
  expectClose(E.matmul(ab, bb), [2, 3, 5], ([n, i, j]) => dot(ab, bb, (k) => [n, i, k], (k) => [n, k, j], 4));
  expectClose(E.matmul(ab, b), [2, 3, 5], ([n, i, j]) => dot(ab, b, (k) => [n, i, k], (k) => [k, j], 4));
  expectClose(E.matmul(a, bb), [2, 3, 5], ([n, i, j]) => dot(a, bb, (k) => [i, k], (k) => [n, k, j], 4));
  const x = r([2, 3, 4]), w = r([6, 4]), bias = r([6]);
  expectClose(E.linear(x, w, bias), [2, 3, 6], ([n, i, o]) => dot(x, w, (k) => [n, i, k], (k) => [o, k], 4) + bias.data[o]);
});

test("softmax rows sum to one; crossEntropy matches -log softmax at the target", () => {
  const x = r([3, 5]);
  const s = E.softmax(x, 1);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(s.data.subarray(i * 5, i * 5 + 5).reduce((a, b) => a + b, 0) - 1) < 1e-6);
  const lp = E.logSoftmax(x, 1);
  const t = Int32Array.of(4, 0, 2);
  const want = -(lp.data[4] + lp.data[5] + lp.data[12]) / 3;
  assert.ok(Math.abs(E.crossEntropy(x, t).item() - want) < 1e-6);
});
