// The backward hook data-parallel overlap starts its all-reduces from
// (Tensor.backward's onLeafDone): each leaf that requires grad is reported
// once, only after every gradient reaching it has been added (its .grad is
// then final), and leaves that need no grad or are not in the graph are not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { matmul, mul, sum, tensor, tidy, type Tensor } from "../src/engine/index.js";

const leaf = (values: number[], shape: number[], requiresGrad: boolean): Tensor => {
  const t = tensor(values, shape);
  t.requiresGrad = requiresGrad;
  return t;
};

test("onLeafDone reports each trainable leaf once, with its final gradient, as backward goes", () => {
  const w1 = leaf([0.5, -1, 2, 0.25], [2, 2], true);
  const w2 = leaf([1.5, -0.5], [2, 1], true);
  const unused = leaf([3], [1], true);
  const frozen = leaf([2, 0, 0, 2], [2, 2], false);
  const x = tensor([1, 2, 3, 4], [2, 2]);
  // w1 has two consumers (a matmul early in the graph, a sum late): it is done only after both.
  const forward = (): Tensor => sum(mul(matmul(matmul(matmul(x, w1), frozen), w2), sum(w1)));
  const seen: { leaf: Tensor; grad: number[] }[] = [];
  tidy(() => forward().backward(undefined, (t) => seen.push({ leaf: t, grad: [...(t.grad?.data ?? [])] })));
  assert.equal(seen.length, 2, "once each; the unused and the frozen leaf are not reported");
  assert.deepEqual(new Set(seen.map((s) => s.leaf)), new Set([w1, w2]));
  assert.ok(!seen.some((s) => s.leaf === unused || s.leaf === frozen));
  for (const s of seen) assert.deepEqual(s.grad, [...s.leaf.grad!.data], "the gradient was final when reported");
  // The hook changes nothing: the same graph without it gives the same gradients.
  const g1 = [...w1.grad!.data];
  const g2 = [...w2.grad!.data];
  w1.grad!.data.fill(0);
  w2.grad!.data.fill(0);
  tidy(() => forward().backward());
  assert.deepEqual([...w1.grad!.data], g1);
  assert.deepEqual([...w2.grad!.data], g2);
});
