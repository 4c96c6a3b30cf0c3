// Finite-difference gradient checks for convolution, batch norm, pooling,
// upsampling and dropout, on the reference backend and on native where it has the kernels.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as E from "../src/engine/index.js";
import { checkBothBackends as check } from "./helpers/gradcheck-backends.js";
import type { Kernels } from "../src/engine/kernels.js";
import type { Tensor } from "../src/engine/index.js";

const rng = new E.Rng(7);

function p(shape: number[], lo = -1, hi = 1): Tensor {
  const t = E.uniform(shape, lo, hi, rng);
  t.requiresGrad = true;
  return t;
}

/** Distinct values 0.05 apart in random order: no two elements of a pooling window tie within a step. */
function distinct(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  const t = E.tensor(v, shape);
  t.requiresGrad = true;
  return t;
}


const CONV: (keyof Kernels)[] = ["conv2d", "conv2dBackwardInput", "conv2dBackwardWeight", "axpy", "unary"];

test("conv2d: padding, stride, dilation, groups, depthwise, 1x1, no bias", (t) => {
  const cases: [string, number[], number[], E.Conv2dOptions, boolean][] = [
    ["3x3 pad 1", [2, 3, 5, 5], [4, 3, 3, 3], { padding: 1 }, true],
    ["stride 2 pad 1", [1, 2, 6, 7], [3, 2, 3, 3], { stride: 2, padding: 1 }, true],
    ["dilation 2, asymmetric", [1, 2, 7, 6], [2, 2, 3, 2], { dilation: 2, padding: [2, 1], stride: [1, 2] }, true],
    ["groups 2", [2, 4, 5, 5], [6, 2, 3, 3], { groups: 2, padding: 1 }, true],
    ["depthwise", [2, 3, 5, 5], [3, 1, 3, 3], { groups: 3, padding: 1, stride: 2 }, true],
    ["depthwise multiplier 2", [1, 2, 4, 4], [4, 1, 3, 3], { groups: 2 }, false],
    ["1x1", [2, 3, 4, 4], [5, 3, 1, 1], {}, true],
    ["7x7 stride 2 pad 3", [1, 1, 9, 9], [2, 1, 7, 7], { stride: 2, padding: 3 }, false],
  ];
  for (const [name, xs, ws, opts, bias] of cases) {
    const inputs = bias ? [p(xs), p(ws), p([ws[0]])] : [p(xs), p(ws)];
    check(t, `conv2d ${name}`, CONV, (x, w, b) => E.conv2d(x, w, b ?? null, opts), inputs);
  }
  const frozen = p([3, 2, 3, 3]);
  frozen.requiresGrad = false;
  check(t, "conv2d, frozen weight, bias only", CONV, (x, w, b) => E.conv2d(x, w, b, { padding: 1 }), [p([1, 2, 4, 4]), frozen, p([3])]);
});

test("conv2dAct refuses backward explicitly", () => {
  E.setBackend("reference");
  const y = E.conv2dAct(p([1, 2, 4, 4]), p([3, 2, 3, 3]), p([3]), { padding: 1 }, E.Act.silu);
  assert.throws(() => E.sum(y).backward(), /backward not supported for conv2dAct/);
});

const BN: (keyof Kernels)[] = ["batchNormTrain", "batchNormBackward", "batchNormInference", "binary", "unary", "sumTo", "axpy"];

test("batchNorm2d in training and eval mode, with and without affine parameters", (t) => {
  const c = 3;
  const stats = (): [Tensor, Tensor] => [E.uniform([c], -0.5, 0.5, rng), E.uniform([c], 0.5, 2, rng)];
  const [rm, rv] = stats();
  check(t, "batchNorm2d train", BN, (x, w, b) => E.batchNorm2d(x, rm, rv, w, b, { training: true }), [p([2, c, 3, 4]), p([c], 0.5, 1.5), p([c])], { rtol: 2e-2 });
  check(t, "batchNorm2d train, no affine, no running stats", BN, (x) => E.batchNorm2d(x, null, null, null, null, { training: true }), [p([3, c, 2, 2])], { rtol: 2e-2 });
  check(t, "batchNorm2d train on [N, C]", BN, (x, w, b) => E.batchNorm2d(x, null, null, w, b, { training: true, eps: 1e-3 }), [p([5, c]), p([c], 0.5, 1.5), p([c])], { rtol: 2e-2 });
  const [em, ev] = stats();
  check(t, "batchNorm2d eval", BN, (x, w, b) => E.batchNorm2d(x, em, ev, w, b, { training: false }), [p([2, c, 3, 3]), p([c], 0.5, 1.5), p([c])]);
  check(t, "batchNorm2d eval, no affine", BN, (x) => E.batchNorm2d(x, em, ev, null, null, { training: false }), [p([2, c, 2, 3])]);
});

test("batchNorm2d with a fused activation (silu), training and eval", (t) => {
  const c = 3;
  const [rm, rv] = [E.uniform([c], -0.5, 0.5, rng), E.uniform([c], 0.5, 2, rng)];
  // Only the smooth silu: with a kinked activation some finite-difference step puts an output on
  // the kink (in training every output moves with the batch statistics). The kinked ones equal
  // batchNorm2d → activation bit for bit, whose parts are checked here (engine-bn-act-fusion).
  check(t, "batchNorm2d+silu train", BN, (x, w, b) => E.batchNorm2d(x, rm, rv, w, b, { training: true, act: E.Act.silu }),
    [p([2, c, 3, 4]), p([c], 2, 4), p([c], -2, 2)], { rtol: 2e-2 });
  check(t, "batchNorm2d+silu eval", BN, (x, w, b) => E.batchNorm2d(x, rm, rv, w, b, { training: false, act: E.Act.silu }),
    [p([2, c, 2, 3]), p([c], 0.5, 1.5), p([c])], { rtol: 2e-2 });
});

test("batchNorm2d in training updates the running statistics as PyTorch", () => {
  E.setBackend("reference");
  // one channel, values 1..4: batch mean 2.5, biased var 1.25, unbiased var 5/3
  const x = E.tensor([1, 2, 3, 4], [4, 1]);
  const rm = E.tensor([1]), rv = E.tensor([2]);
  E.batchNorm2d(x, rm, rv, null, null, { training: true, momentum: 0.1 });
  assert.ok(Math.abs(rm.data[0] - (0.9 * 1 + 0.1 * 2.5)) < 1e-6);
  assert.ok(Math.abs(rv.data[0] - (0.9 * 2 + 0.1 * (5 / 3))) < 1e-6);
});

test("max, average and adaptive pooling; nearest upsampling", (t) => {
  const MAX: (keyof Kernels)[] = ["maxPool2d", "maxPool2dBackward", "axpy", "unary"];
  check(t, "maxPool2d 2x2", MAX, (x) => E.maxPool2d(x, { kernelSize: 2 }), [distinct([2, 2, 4, 6])]);
  check(t, "maxPool2d 3x3 s2 p1", MAX, (x) => E.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), [distinct([1, 2, 7, 7])]);
  check(t, "maxPool2d ceilMode, dilation", MAX, (x) => E.maxPool2d(x, { kernelSize: 2, stride: 2, dilation: [1, 2], ceilMode: true }), [distinct([1, 2, 5, 7])]);
  const AVG: (keyof Kernels)[] = ["avgPool2d", "avgPool2dBackward", "axpy", "unary"];
  check(t, "avgPool2d 2x2", AVG, (x) => E.avgPool2d(x, { kernelSize: 2 }), [p([2, 2, 4, 4])]);
  check(t, "avgPool2d 3x3 s2 p1 countIncludePad", AVG, (x) => E.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), [p([1, 2, 5, 6])]);
  check(t, "avgPool2d excluding pad, ceilMode", AVG, (x) => E.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false, ceilMode: true }), [p([1, 2, 6, 6])]);
  const ADA: (keyof Kernels)[] = ["adaptiveAvgPool2d", "adaptiveAvgPool2dBackward", "axpy", "unary"];
  check(t, "adaptiveAvgPool2d to 1", ADA, (x) => E.adaptiveAvgPool2d(x, 1), [p([2, 3, 4, 5])]);
  check(t, "adaptiveAvgPool2d 5x7 to 3x2 (overlapping bins)", ADA, (x) => E.adaptiveAvgPool2d(x, [3, 2]), [p([1, 2, 5, 7])]);
  const UP: (keyof Kernels)[] = ["upsampleNearest2d", "upsampleNearest2dBackward", "axpy", "unary"];
  check(t, "upsampleNearest2d x2", UP, (x) => E.upsampleNearest2d(x, { scaleFactor: 2 }), [p([2, 2, 3, 3])]);
  check(t, "upsampleNearest2d to 5x7", UP, (x) => E.upsampleNearest2d(x, { size: [5, 7] }), [p([1, 2, 3, 4])]);
});

test("dropout with a fixed seed (the mask is the same on every call)", (t) => {
  const DROP: (keyof Kernels)[] = ["dropoutMask", "binary", "axpy", "unary"];
  check(t, "dropout p=0.3", DROP, (x) => E.dropout(x, 0.3, true, new E.Rng(99)), [p([4, 25])]);
  E.setBackend("reference");
  const x = p([1000]);
  const y = E.dropout(x, 0.3, true, new E.Rng(5));
  const zeros = y.data.filter((v) => v === 0).length;
  assert.ok(zeros > 230 && zeros < 370, `about 30% dropped, got ${zeros}`);
  assert.equal(E.dropout(x, 0.3, false), x, "identity in eval");
});
