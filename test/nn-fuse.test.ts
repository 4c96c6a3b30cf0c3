// fuse(): folding BatchNorm into the convolution before it and moving the
// activation into the conv kernel must not change what an eval-mode model
// computes. The oracle is the same model unfused. Running statistics and
// affine parameters are randomised first (fresh ones make BN nearly the
// identity, which would hide a wrong fold).
// Tolerance: 1e-5 relative to the output's largest magnitude: folding
// reassociates float32 products (w·s instead of (w∗x)·s), which moves results
// by a few ulps per layer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { noGrad, randn, Rng, type Tensor } from "../src/engine/index.js";
import { createModel, type ModelName } from "../src/models/index.js";
import { BatchNorm2d, Conv2d, LeakyReLU, Sequential, type Module } from "../src/nn/index.js";

function randomiseBatchNorms(model: Module<never, unknown>, rng: Rng): void {
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    for (let c = 0; c < m.numFeatures; c++) {
      m.weight.data[c] = 0.5 + rng.uniform();
      m.bias.data[c] = rng.normal() * 0.2;
      m.runningMean.data[c] = rng.normal() * 0.2;
      m.runningVar.data[c] = 0.5 + rng.uniform();
    }
  }
}

function assertClose(actual: Tensor, expected: Tensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape);
  let scale = 0, worst = 0;
  for (let i = 0; i < expected.numel; i++) {
    scale = Math.max(scale, Math.abs(expected.data[i]));
    worst = Math.max(worst, Math.abs(actual.data[i] - expected.data[i]));
  }
  assert.ok(worst <= 1e-5 * Math.max(scale, 1), `${what}: fused differs by ${worst} (output scale ${scale})`);
}

const cases: [ModelName, number[]][] = [
  ["cnn", [2, 3, 32, 32]],
  ["resnet18", [1, 3, 32, 32]],
  ["resnet50", [1, 3, 32, 32]],
  ["mobilenet_v2", [1, 3, 32, 32]],
  ["yolov8n", [1, 3, 64, 64]],
];

for (const [name, shape] of cases) {
  test(`fused ${name} computes what the unfused one does in eval mode`, () => {
    const rng = new Rng(7);
    const model = createModel(name, { nc: 4, rng });
    randomiseBatchNorms(model, rng);
    const x = randn(shape, new Rng(8));
    noGrad(() => {
      const before = model.eval().forward(x);
      const convsBefore = model.namedModules().filter(([, m]) => m instanceof BatchNorm2d).length;
      const after = model.fuse().forward(x);
      assert.equal(model.namedModules().filter(([, m]) => m instanceof BatchNorm2d).length, 0, "every BatchNorm was folded");
      assert.ok(convsBefore > 0);
      if (Array.isArray(before) && Array.isArray(after)) before.forEach((b, i) => assertClose(after[i], b, `${name} output ${i}`));
      else assertClose(after as Tensor, before as Tensor, name);
    });
    model.dispose();
  });
}

test("a Sequential folds conv-bn-activation runs and keeps its indices", () => {
  const rng = new Rng(3);
  const seq = new Sequential(new Conv2d(3, 4, 3, { padding: 1, bias: true, rng }), new BatchNorm2d(4), new LeakyReLU(0.1),
    new Conv2d(4, 2, 1, { bias: false, rng }), new BatchNorm2d(2));
  randomiseBatchNorms(seq, rng);
  const x = randn([2, 3, 5, 5], new Rng(4));
  const before = noGrad(() => seq.eval().forward(x));
  const after = noGrad(() => seq.fuse().forward(x));
  assertClose(after, before, "sequential");
  assert.deepEqual([...seq.stateDict().keys()], ["0.weight", "0.bias", "3.weight", "3.bias"]);
});
