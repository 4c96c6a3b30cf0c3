// Tensor lifetimes and the buffer pool: tidy, keep, views, saved-for-backward
// tensors, and no new large allocation across repeated identical training steps.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as E from "../src/engine/index.js";
import type { Tensor } from "../src/engine/index.js";

E.setBackend("reference");

test("tidy disposes what fn created except what it returns", () => {
  const before = E.memoryStats().liveTensors;
  let inner: Tensor | null = null;
  const out = E.tidy(() => {
    inner = E.ones([3]);
    return E.add(inner, inner);
  });
  assert.equal(inner!.isDisposed, true);
  assert.equal(out.isDisposed, false);
  assert.deepEqual(Array.from(out.data), [2, 2, 2]);
  assert.equal(E.memoryStats().liveTensors, before + 1);
  out.dispose();
  assert.equal(E.memoryStats().liveTensors, before);
});

test("tidy returns arrays and objects of tensors; keep exempts; nesting hands results outward", () => {
  const before = E.memoryStats().liveTensors;
  let kept: Tensor | null = null;
  let innerResult: Tensor | null = null;
  const res = E.tidy(() => {
    kept = E.keep(E.zeros([2]));
    innerResult = E.tidy(() => E.ones([2]));
    return { a: [E.full([1], 5)], b: E.ones([1]) };
  });
  assert.equal(kept!.isDisposed, false);
  assert.equal(innerResult!.isDisposed, true, "owned by the outer tidy, which did not return it");
  assert.equal(res.a[0].item(), 5);
  assert.equal(E.memoryStats().liveTensors, before + 3);
  for (const t of [kept!, res.a[0], res.b]) t.dispose();
  assert.equal(E.memoryStats().liveTensors, before);
});

test("tidy disposes on a throw and refuses async functions", () => {
  const before = E.memoryStats().liveTensors;
  assert.throws(() => E.tidy(() => { E.ones([4]); throw new Error("boom"); }), /boom/);
  assert.equal(E.memoryStats().liveTensors, before);
  assert.throws(() => E.tidy(async () => E.ones([1])), /synchronous/);
});

test("persistent: fresh memory, outside every tidy", () => {
  E.zeros([500]).dispose();
  let kept: Tensor | null = null;
  E.tidy(() => {
    E.resetMemoryStats();
    kept = E.persistent(() => E.zeros([500]));
    const s = E.memoryStats();
    assert.equal(s.poolHits, 0, "the pooled buffer of that size is left for the training step");
    assert.equal(s.poolMisses, 1);
  });
  assert.equal(kept!.isDisposed, false, "not owned by the tidy");
  kept!.dispose();
});

test("the pool hands a released buffer to the next allocation of the same size", () => {
  E.zeros([1000]).dispose();
  E.resetMemoryStats();
  const t = E.zeros([1000]);
  const s = E.memoryStats();
  assert.equal(s.poolHits, 1);
  assert.equal(s.poolMisses, 0);
  t.dispose();
});

test("a view keeps the memory alive after its base is disposed; a freed tensor refuses reads", () => {
  const base = E.tensor([1, 2, 3, 4]);
  const view = base.reshape(2, 2);
  base.dispose();
  assert.deepEqual(Array.from(view.data), [1, 2, 3, 4]);
  view.dispose();
  assert.throws(() => view.data, /disposed/);
});

test("tensors saved for backward outlive the tidy that made them, and are released by backward", () => {
  const x = E.tensor([1, -2, 3]);
  x.requiresGrad = true;
  const loss = E.tidy(() => E.sum(E.relu(E.mul(x, 3))));
  const pooled = E.memoryStats().bytesInPool;
  loss.backward();
  assert.deepEqual(Array.from(x.grad!.data), [3, 0, 3]);
  assert.ok(E.memoryStats().bytesInPool > pooled, "backward returned the saved buffers to the pool");
});

test("repeated identical training steps make no new large allocation", () => {
  const rng = new E.Rng(1);
  const param = (shape: number[], scale: number): Tensor => {
    const t = E.uniform(shape, -scale, scale, rng);
    t.requiresGrad = true;
    return t;
  };
  // conv(8->16, 3x3) - BN - ReLU - maxpool - adaptive avg pool - linear: activations of 147 KB
  const x = E.uniform([4, 8, 24, 24], -1, 1, rng);
  const w1 = param([16, 8, 3, 3], 0.1), b1 = param([16], 0.1), gamma = param([16], 1), beta = param([16], 0.1);
  const w2 = param([5, 64], 0.1), b2 = param([5], 0.1);
  const rm = E.zeros([16]), rv = E.ones([16]);
  const params = [w1, b1, gamma, beta, w2, b2];
  const targets = Int32Array.of(0, 1, 4, 2);
  // Optimizer state is created lazily in the first step, as optimizers do, in fresh memory.
  let momentum: Tensor[] | null = null;
  const step = (): number => E.tidy(() => {
    const h = E.relu(E.batchNorm2d(E.conv2d(x, w1, b1, { padding: 1 }), rm, rv, gamma, beta, { training: true }));
    const f = E.flatten(E.adaptiveAvgPool2d(E.maxPool2d(h, { kernelSize: 2 }), 2), 1);
    const loss = E.crossEntropy(E.linear(f, w2, b2), targets);
    loss.backward();
    const first = momentum === null;
    momentum ??= E.persistent(() => params.map((p) => E.zeros(p.shape)));
    E.kernels().sgdStep(params.map((p) => p.data), params.map((p) => p.grad!.data), momentum.map((m) => m.data), 0.05, 0.9, 0, 0, false, first);
    for (const p of params) {
      // PyTorch's zero_grad(set_to_none=True): the buffers go back to the pool for the next backward
      p.grad!.dispose();
      p.grad = null;
    }
    return loss.item();
  });
  const l1 = step();
  const live = E.memoryStats().liveTensors;
  for (let i = 2; i <= 3; i++) {
    E.resetMemoryStats();
    step();
    const s = E.memoryStats();
    assert.equal(s.largeMisses, 0, `step ${i}: ${s.largeMisses} new buffers over 64 KiB`);
    assert.equal(s.poolMisses, 0, `step ${i}: ${s.poolMisses} new buffers`);
    assert.ok(s.poolHits > 20);
    assert.equal(s.liveTensors, live, `step ${i}: live tensors grew`);
  }
  assert.ok(Number.isFinite(l1));
});
