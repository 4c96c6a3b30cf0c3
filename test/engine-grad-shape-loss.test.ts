// Finite-difference gradient checks for the shape ops and the losses, and a
// check that the checker itself catches a wrong gradient rule.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as E from "../src/engine/index.js";
import { record } from "../src/engine/autograd.js";
import { checkBothBackends as check } from "./helpers/gradcheck-backends.js";
import type { Kernels } from "../src/engine/kernels.js";
import type { Tensor } from "../src/engine/index.js";

const rng = new E.Rng(3);

function p(shape: number[], lo = -2, hi = 2): Tensor {
  const t = E.uniform(shape, lo, hi, rng);
  t.requiresGrad = true;
  return t;
}


const LAYOUT: (keyof Kernels)[] = ["copyStrided", "fill", "axpy", "unary", "binary", "sumTo"];

test("gradcheck catches a wrong gradient rule", () => {
  E.setBackend("reference");
  const doubleWrong = (x: Tensor): Tensor => {
    const y = E.mul(x.detach(), 2);
    return record("wrong", y, [x], (g) => [E.mul(g, 2.1)]);
  };
  const r = E.gradcheck(doubleWrong, [p([4])]);
  assert.equal(r.ok, false);
  assert.ok(r.worst && Math.abs(r.worst.numeric / r.worst.analytic - 2 / 2.1) < 1e-2);
});

test("cat, split, chunk, slice", (t) => {
  const a = p([2, 3, 4]), b = p([2, 1, 4]), c = p([2, 2, 4]);
  check(t, "cat dim 1", LAYOUT, (x, y, z) => E.cat([x, y, z], 1), [a, b, c]);
  check(t, "cat dim 0", LAYOUT, (x, y) => E.cat([x, y], 0), [p([1, 3]), p([2, 3])]);
  check(t, "cat dim -1", LAYOUT, (x, y) => E.cat([x, y], -1), [p([2, 3, 2]), p([2, 3, 3])]);
  // multi-output ops are checked through a weighted recombination, so each piece's gradient matters
  const recombine = (pieces: Tensor[], dim: number): Tensor => E.cat(pieces.map((q, i) => E.mul(q, i + 1)), dim);
  check(t, "split sizes", LAYOUT, (x) => recombine(E.split(x, [1, 3, 1], 1), 1), [p([2, 5, 3])]);
  check(t, "split size 2 (uneven)", LAYOUT, (x) => recombine(E.split(x, 2, -1), -1), [p([3, 5])]);
  check(t, "chunk 3", LAYOUT, (x) => recombine(E.chunk(x, 3, 0), 0), [p([7, 2])]);
  check(t, "slice negative", LAYOUT, (x) => E.slice(x, 1, -3, -1), [p([2, 5, 2])]);
  check(t, "slice to end", LAYOUT, (x) => E.slice(x, 0, 1), [p([3, 4])]);
  check(t, "chunk used partially", LAYOUT, (x) => E.chunk(x, 2, 1)[1], [p([2, 4])]);
});

test("reshape, view, flatten, permute, transpose, squeeze, unsqueeze, expand, sumTo", (t) => {
  const w = E.uniform([24], -1, 1, rng);
  const x = p([2, 3, 4]);
  check(t, "reshape with -1 (then an elementwise op)", LAYOUT, (v) => E.mul(E.reshape(v, [4, -1]), w.reshape(4, 6)), [x]);
  check(t, "view", LAYOUT, (v) => E.view(v, [6, 4]), [x]);
  check(t, "flatten(1)", LAYOUT, (v) => E.flatten(v, 1), [x]);
  check(t, "permute [2,0,1]", LAYOUT, (v) => E.permute(v, [2, 0, 1]), [x]);
  check(t, "permute 4-D", LAYOUT, (v) => E.permute(v, [0, 2, 3, 1]), [p([2, 3, 2, 2])]);
  check(t, "transpose", LAYOUT, (v) => E.transpose(v, 0, -1), [x]);
  check(t, "squeeze/unsqueeze", LAYOUT, (v) => E.unsqueeze(E.squeeze(v, 1), 0), [p([3, 1, 2])]);
  check(t, "expand", LAYOUT, (v) => E.expand(v, [2, 3, 4]), [p([3, 1])]);
  check(t, "sumTo", LAYOUT, (v) => E.sumTo(v, [3, 1]), [x]);
});

test("crossEntropy: plain, label smoothing, ignore index, reductions", (t) => {
  const CE: (keyof Kernels)[] = ["crossEntropy", "crossEntropyBackward", ...LAYOUT];
  const targets = Int32Array.of(0, 3, 2, 3, 1);
  const ignored = Int32Array.of(0, -100, 2, 3, -100);
  check(t, "crossEntropy", CE, (x) => E.crossEntropy(x, targets), [p([5, 4])]);
  check(t, "crossEntropy label smoothing 0.1", CE, (x) => E.crossEntropy(x, targets, { labelSmoothing: 0.1 }), [p([5, 4])]);
  check(t, "crossEntropy ignore index", CE, (x) => E.crossEntropy(x, ignored), [p([5, 4])]);
  check(t, "crossEntropy ignore 2, smoothing, sum", CE, (x) => E.crossEntropy(x, Int32Array.of(2, 0, 2, 1), { ignoreIndex: 2, labelSmoothing: 0.2, reduction: "sum" }), [p([4, 3])]);
  check(t, "crossEntropy none", CE, (x) => E.crossEntropy(x, targets, { reduction: "none" }), [p([5, 4])]);
  E.setBackend("reference");
  // The mean is over the targets that count: 3 of 5 here.
  const logits = p([5, 4]);
  const full = E.crossEntropy(logits, ignored, { reduction: "none" }).toArray();
  const mean = E.crossEntropy(logits, ignored).item();
  assert.ok(Math.abs(mean - (full[0] + full[2] + full[3]) / 3) < 1e-6);
  assert.equal(full[1], 0);
});

test("bceWithLogits (input and target) and mseLoss", (t) => {
  const BCE: (keyof Kernels)[] = ["bceWithLogits", "bceWithLogitsBackward", ...LAYOUT];
  check(t, "bceWithLogits mean", BCE, (x, y) => E.bceWithLogits(x, y), [p([3, 4], -4, 4), p([3, 4], 0, 1)]);
  check(t, "bceWithLogits sum", BCE, (x, y) => E.bceWithLogits(x, y, { reduction: "sum" }), [p([6], -4, 4), p([6], 0, 1)]);
  check(t, "mseLoss", LAYOUT, (a, b) => E.mseLoss(a, b), [p([3, 4]), p([3, 4])]);
  check(t, "mseLoss broadcast, sum", LAYOUT, (a, b) => E.mseLoss(a, b, { reduction: "sum" }), [p([3, 4]), p([4])]);
});
