// The autograd tape itself: accumulation, noGrad, detach, freed graphs and
// the errors a user can trigger. Oracles: derivatives worked out by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  add, exp, mul, noGrad, isGradEnabled, relu, setBackend, sum, tensor, zeroGrad, type Tensor,
} from "../src/engine/index.js";

setBackend("reference");

function param(values: number[], shape?: number[]): Tensor {
  const t = tensor(values, shape);
  t.requiresGrad = true;
  return t;
}

test("a diamond graph accumulates the gradient of a tensor used twice", () => {
  const x = param([1, 2, 3]);
  const y = mul(x, 3); // used by both branches
  const loss = sum(add(mul(y, y), exp(mul(y, 0)))); // Σ 9x² + 1
  loss.backward();
  assert.deepEqual(Array.from(x.grad!.data), [18, 36, 54]);
});

test("the same input on both sides of an op gets both contributions", () => {
  const x = param([2, -3]);
  sum(mul(x, x)).backward();
  assert.deepEqual(Array.from(x.grad!.data), [4, -6]);
});

test("leaf gradients accumulate across backward calls until zeroGrad", () => {
  const x = param([1, 2]);
  sum(mul(x, 2)).backward();
  sum(mul(x, 5)).backward();
  assert.deepEqual(Array.from(x.grad!.data), [7, 7]);
  const g = x.grad;
  zeroGrad([x]);
  assert.equal(x.grad, g, "the .grad tensor is persistent");
  assert.deepEqual(Array.from(x.grad!.data), [0, 0]);
});

test("requiresGrad propagates only from inputs that require it", () => {
  const x = param([1]);
  const c = tensor([2]);
  assert.equal(mul(c, c).requiresGrad, false);
  assert.equal(mul(x, c).requiresGrad, true);
  assert.equal(mul(x, c).gradFn?.name, "mul");
});

test("noGrad records nothing and restores the mode, even on a throw", () => {
  const x = param([1, 2]);
  const y = noGrad(() => mul(x, 2));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
  assert.throws(() => noGrad(() => { throw new Error("boom"); }), /boom/);
  assert.equal(isGradEnabled(), true);
});

test("detach shares data and cuts the graph", () => {
  const x = param([1, -2, 3]);
  const y = mul(x, 2);
  const d = y.detach();
  assert.equal(d.requiresGrad, false);
  assert.equal(d.data, y.data, "same storage");
  const loss = sum(add(mul(d, x), y)); // d is a constant: dL/dx = d + 2
  loss.backward();
  assert.deepEqual(Array.from(x.grad!.data), [4, -2, 8]);
});

test("a second backward through the same graph fails clearly", () => {
  const x = param([1, 2]);
  const loss = sum(relu(mul(x, x)));
  loss.backward();
  assert.throws(() => loss.backward(), /already freed/);
  // a new graph sharing the leaf is fine
  sum(mul(x, 1)).backward();
});

test("a second loss through a freed shared subgraph fails clearly", () => {
  const x = param([1, 2]);
  const h = mul(x, x);
  sum(h).backward();
  assert.throws(() => sum(mul(h, 2)).backward(), /already freed/);
});

test("backward on a non-scalar needs a seed gradient", () => {
  const x = param([1, 2, 3]);
  const y = mul(x, 2);
  assert.throws(() => y.backward(), /needs a scalar.*shape \[3\]/);
  y.backward(tensor([1, 0, -1]));
  assert.deepEqual(Array.from(x.grad!.data), [2, 0, -2]);
});

test("backward on a tensor that does not require grad fails clearly", () => {
  assert.throws(() => sum(tensor([1, 2])).backward(), /does not require grad/);
});

test("backward on a leaf seeds its own gradient", () => {
  const x = param([5]);
  x.backward();
  assert.deepEqual(Array.from(x.grad!.data), [1]);
});

test("a deep chain backpropagates without recursion", () => {
  const x = param([1]);
  let y: Tensor = x;
  for (let i = 0; i < 20000; i++) y = mul(y, 1); // far deeper than the JS stack allows recursively
  y.backward();
  assert.deepEqual(Array.from(x.grad!.data), [1]);
});

test("views and repeated uses of a non-leaf in one graph", () => {
  const x = param([1, 2, 3]);
  const h = mul(x, 2);
  // h + h + view(h) * h = 4x + 4x²
  const y = sum(add(add(h, h), mul(h.reshape(3, 1).reshape(3), h)));
  y.backward();
  assert.deepEqual(Array.from(x.grad!.data), [12, 20, 28]);
});
