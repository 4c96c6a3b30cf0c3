// A whole forward and backward through the engine (conv, batch norm, every
// activation family, pooling, upsampling, cat, linear, losses) on native
// against the same on the reference backend: same loss, same gradients.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as E from "../src/engine/index.js";
import { nativeKernels } from "../src/engine/backend.js";
import type { Tensor } from "../src/engine/index.js";

function run(backend: "reference" | "native"): { loss: number; grads: Float32Array[] } {
  E.setBackend(backend);
  const rng = new E.Rng(21);
  const leaf = (shape: number[], lo: number, hi: number): Tensor => {
    const t = E.uniform(shape, lo, hi, rng);
    t.requiresGrad = true;
    return t;
  };
  const x = E.uniform([2, 3, 10, 9], -1, 1, rng);
  // no bias before batch norm: its gradient is zero up to rounding noise
  const w1 = leaf([8, 3, 3, 3], -0.3, 0.3), b1 = leaf([8], -0.1, 0.1);
  const gamma = leaf([8], 0.5, 1.5), beta = leaf([8], -0.2, 0.2);
  const wd = leaf([8, 1, 3, 3], -0.3, 0.3);
  const w2 = leaf([6, 16, 1, 1], -0.3, 0.3);
  const wl = leaf([5, 24], -0.3, 0.3), bl = leaf([5], -0.1, 0.1);
  const params = [w1, b1, gamma, beta, wd, w2, wl, bl];
  const rm = E.zeros([8]), rv = E.ones([8]);
  const loss = E.tidy(() => {
    const h = E.silu(E.batchNorm2d(E.conv2d(x, w1, null, { padding: 1, stride: [1, 2] }), rm, rv, gamma, beta, { training: true }));
    const d = E.hardswish(E.conv2d(h, wd, b1, { padding: 1, groups: 8 }));
    const pooled = E.maxPool2d(d, { kernelSize: 3, stride: 2, padding: 1 });
    const up = E.upsampleNearest2d(E.avgPool2d(pooled, { kernelSize: 2 }), { size: pooled.shape.slice(2) as [number, number] });
    const c = E.leakyRelu(E.conv2d(E.cat([pooled, up], 1), w2), 0.1);
    const f = E.flatten(E.adaptiveAvgPool2d(c, 2), 1);
    const logits = E.linear(E.tanh(f), wl, bl);
    const ce = E.crossEntropy(logits, Int32Array.of(1, 4), { labelSmoothing: 0.1 });
    const bce = E.bceWithLogits(logits, E.sigmoid(E.uniform([2, 5], -1, 1, rng)));
    const total = E.add(E.add(ce, bce), E.mseLoss(E.softmax(logits, 1), E.full([2, 5], 0.2)));
    total.backward();
    return total.item();
  });
  return { loss, grads: params.map((p) => p.grad!.toArray()) };
}

test("native and reference give the same loss and gradients through a mixed network", (t) => {
  const native = nativeKernels();
  if (!native) {
    t.skip("the native addon is not built");
    return;
  }
  const ref = run("reference");
  const nat = run("native");
  E.setBackend("reference");
  // float32 sums in different orders: agreement to ~1e-6 relative per value; 1e-4 of each tensor's scale leaves room.
  assert.ok(Math.abs(ref.loss - nat.loss) <= 1e-5 * Math.abs(ref.loss), `loss ${ref.loss} vs ${nat.loss}`);
  ref.grads.forEach((g, i) => {
    const scale = Math.max(...g.map(Math.abs));
    assert.ok(scale > 0, `parameter ${i} got no gradient`);
    g.forEach((v, j) => assert.ok(Math.abs(v - nat.grads[i][j]) <= 1e-4 * scale, `parameter ${i}[${j}]: ${v} vs ${nat.grads[i][j]}`));
  });
});
