// Finite-difference gradient checks (src/engine/gradcheck.ts) for arithmetic
// with broadcasting, math functions, activations, reductions, softmax and
// matrix products, on the reference backend and on native where it has the kernels.
import { test } from "node:test";
import * as E from "../src/engine/index.js";
import { checkBothBackends as check } from "./helpers/gradcheck-backends.js";
import type { Kernels } from "../src/engine/kernels.js";
import type { Tensor } from "../src/engine/index.js";

const rng = new E.Rng(42);

/** A leaf requiring grad with values uniform in [lo, hi), optionally kept at least `gap` away from each of `kinks`. */
function p(shape: number[], lo = -2, hi = 2, kinks: number[] = [], gap = 0.1): Tensor {
  const t = E.uniform(shape, lo, hi, rng);
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    for (const k of kinks) if (Math.abs(d[i] - k) < gap) d[i] = k + (d[i] >= k ? gap : -gap) * (1 + rng.uniform());
  }
  t.requiresGrad = true;
  return t;
}

const constant = (t: Tensor): Tensor => { t.requiresGrad = false; return t; };


const ELEMENTWISE: (keyof Kernels)[] = ["binary", "unary", "unaryBackward", "sumTo", "copyStrided", "axpy", "fill"];

test("add, sub, mul, div with broadcasting and scalars", (t) => {
  const shapes: [number[], number[]][] = [[[2, 3, 4], [2, 3, 4]], [[2, 3, 4], [3, 1]], [[2, 3, 4], [4]], [[1, 3, 1], [2, 1, 4]], [[2, 3], [1]]];
  for (const [sa, sb] of shapes) {
    const a = p(sa), b = p(sb);
    const den = p(sb, -2, 2, [0], 0.5);
    check(t, `add ${sa}+${sb}`, ELEMENTWISE, E.add, [a, b]);
    check(t, `sub ${sa}-${sb}`, ELEMENTWISE, E.sub, [a, b]);
    check(t, `mul ${sa}*${sb}`, ELEMENTWISE, E.mul, [a, b]);
    check(t, `div ${sa}/${sb}`, ELEMENTWISE, E.div, [a, den]);
  }
  const x = p([3, 2]);
  check(t, "scalar forms", ELEMENTWISE, (v) => E.add(E.add(E.sub(2, E.mul(v, 3)), E.sub(E.div(v, 4), 1)), E.mul(0.5, E.add(1, v))), [x]);
  check(t, "scalar / tensor", ELEMENTWISE, (v) => E.div(3, v), [p([5], 0.5, 2)]);
  check(t, "one operand constant", ELEMENTWISE, E.mul, [p([2, 3]), constant(p([3]))]);
});

test("maximum and minimum (no ties), with broadcasting", (t) => {
  const a = p([2, 3, 4]), b = p([3, 1]);
  const notTied = (): [Tensor, Tensor] => {
    // keep every pair at least 0.1 apart so the step never crosses a tie
    const bb = b.data;
    for (let i = 0; i < a.data.length; i++) {
      const j = Math.floor(i / 4) % 3;
      if (Math.abs(a.data[i] - bb[j]) < 0.1) a.data[i] = bb[j] + 0.2;
    }
    return [a, b];
  };
  check(t, "maximum", ELEMENTWISE, E.maximum, notTied());
  check(t, "minimum", ELEMENTWISE, E.minimum, notTied());
});

test("math functions: neg, square, exp, log, sqrt, abs, reciprocal, clamp, pow", (t) => {
  check(t, "neg", ELEMENTWISE, E.neg, [p([7])]);
  check(t, "square", ELEMENTWISE, E.square, [p([7])]);
  check(t, "exp", ELEMENTWISE, E.exp, [p([7])]);
  check(t, "log", ELEMENTWISE, E.log, [p([7], 0.2, 3)]);
  check(t, "sqrt", ELEMENTWISE, E.sqrt, [p([7], 0.2, 3)]);
  check(t, "abs", ELEMENTWISE, E.abs, [p([7], -2, 2, [0])]);
  check(t, "reciprocal", ELEMENTWISE, E.reciprocal, [p([7], -2, 2, [0], 0.4)]);
  check(t, "clamp(-0.5, 1)", ELEMENTWISE, (x) => E.clamp(x, -0.5, 1), [p([9], -2, 2, [-0.5, 1])]);
  check(t, "clamp(min only)", ELEMENTWISE, (x) => E.clamp(x, 0.3), [p([9], -2, 2, [0.3])]);
  check(t, "pow(x, 2)", ELEMENTWISE, (x) => E.pow(x, 2), [p([5])]);
});

test("activations, sampled away from their kinks", (t) => {
  check(t, "relu", ELEMENTWISE, E.relu, [p([11], -2, 2, [0])]);
  check(t, "relu6", ELEMENTWISE, E.relu6, [p([13], -2, 8, [0, 6])]);
  check(t, "leakyRelu", ELEMENTWISE, (x) => E.leakyRelu(x, 0.1), [p([11], -2, 2, [0])]);
  check(t, "leakyRelu(negative slope)", ELEMENTWISE, (x) => E.leakyRelu(x, -0.3), [p([11], -2, 2, [0])]);
  check(t, "silu", ELEMENTWISE, E.silu, [p([11], -5, 5)]);
  check(t, "sigmoid", ELEMENTWISE, E.sigmoid, [p([11], -5, 5)]);
  check(t, "tanh", ELEMENTWISE, E.tanh, [p([11], -3, 3)]);
  check(t, "hardswish", ELEMENTWISE, E.hardswish, [p([13], -5, 5, [-3, 3])]);
  check(t, "hardsigmoid", ELEMENTWISE, E.hardsigmoid, [p([13], -5, 5, [-3, 3])]);
});

test("sum and mean over axes, with and without keepdim", (t) => {
  const x = p([2, 3, 4]);
  for (const dims of [undefined, 0, 1, -1, [0, 2], [1, 2]] as const) {
    for (const keepdim of [false, true]) {
      check(t, `sum(${JSON.stringify(dims)}, ${keepdim})`, ELEMENTWISE, (v) => E.sum(v, dims, keepdim), [x]);
      check(t, `mean(${JSON.stringify(dims)}, ${keepdim})`, ELEMENTWISE, (v) => E.mean(v, dims, keepdim), [x]);
    }
  }
});

test("softmax and logSoftmax on several dims", (t) => {
  const x = p([3, 4, 5]);
  for (const dim of [0, 1, 2, -1]) {
    check(t, `softmax(dim ${dim})`, ["softmax", "softmaxBackward"], (v) => E.softmax(v, dim), [x]);
    check(t, `logSoftmax(dim ${dim})`, ["softmax", "softmaxBackward"], (v) => E.logSoftmax(v, dim), [x]);
  }
});

test("matmul 2-D, batched, and with a shared operand; linear", (t) => {
  const MM: (keyof Kernels)[] = ["gemm", "sumTo", "copyStrided", "axpy", "fill"];
  check(t, "matmul [3,4]@[4,5]", MM, E.matmul, [p([3, 4]), p([4, 5])]);
  check(t, "matmul [2,3,4]@[2,4,5]", MM, E.matmul, [p([2, 3, 4]), p([2, 4, 5])]);
  check(t, "matmul [2,3,4]@[4,5]", MM, E.matmul, [p([2, 3, 4]), p([4, 5])]);
  check(t, "matmul [3,4]@[2,4,5]", MM, E.matmul, [p([3, 4]), p([2, 4, 5])]);
  check(t, "linear with bias", MM, E.linear, [p([5, 4]), p([3, 4]), p([3])]);
  check(t, "linear without bias", MM, (x, w) => E.linear(x, w), [p([5, 4]), p([3, 4])]);
  check(t, "linear, 3-D input", MM, E.linear, [p([2, 3, 4]), p([6, 4]), p([6])]);
  check(t, "linear, frozen weight", MM, E.linear, [p([5, 4]), constant(p([3, 4])), p([3])]);
});
