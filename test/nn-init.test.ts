// Initialisation: PyTorch's distributions, checked through their bounds and
// moments (U(−b, b) has variance b²/3; N(0, σ²) variance σ²). With tens of
// thousands of draws the sample moments are within a few percent; the
// tolerances below are several standard errors wide so the test never flakes
// (and the draws are seeded, so it is deterministic anyway).
import { test } from "node:test";
import assert from "node:assert/strict";
import { manualSeed, Rng, type Tensor } from "../src/engine/index.js";
import { BatchNorm2d, Conv2d, Linear } from "../src/nn/index.js";
import { BasicBlock, mobilenetV2, resnet18 } from "../src/models/index.js";

function moments(t: Tensor): { mean: number; variance: number; min: number; max: number } {
  let s = 0, s2 = 0, min = Infinity, max = -Infinity;
  for (const v of t.data) {
    s += v;
    s2 += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / t.numel;
  return { mean, variance: s2 / t.numel - mean * mean, min, max };
}

function assertUniform(t: Tensor, bound: number, what: string): void {
  const m = moments(t);
  assert.ok(m.min >= -bound && m.max <= bound, `${what}: values outside ±${bound}`);
  assert.ok(m.max > 0.95 * bound && m.min < -0.95 * bound, `${what}: values do not fill ±${bound}`);
  assert.ok(Math.abs(m.mean) < 0.05 * bound, `${what}: mean ${m.mean}`);
  assert.ok(Math.abs(m.variance / (bound * bound / 3) - 1) < 0.1, `${what}: variance ${m.variance}`);
}

function assertNormal(t: Tensor, std: number, what: string): void {
  const m = moments(t);
  assert.ok(Math.abs(m.mean) < 0.05 * std, `${what}: mean ${m.mean}`);
  assert.ok(Math.abs(Math.sqrt(m.variance) / std - 1) < 0.05, `${what}: std ${Math.sqrt(m.variance)}, expected ${std}`);
}

test("Conv2d and Linear default to U(±1/√fan_in) for weights and biases", () => {
  const conv = new Conv2d(16, 64, 3, { rng: new Rng(1) }); // fan_in 144
  assertUniform(conv.weight, 1 / 12, "conv weight");
  const m = moments(conv.bias!);
  assert.ok(m.min >= -1 / 12 && m.max <= 1 / 12, "conv bias bound");
  const grouped = new Conv2d(32, 32, 3, { groups: 32, rng: new Rng(2) }); // depthwise: fan_in 9
  assert.deepEqual(grouped.weight.shape, [32, 1, 3, 3]);
  assert.ok(moments(grouped.weight).max <= 1 / 3);
  const lin = new Linear(400, 100, { rng: new Rng(3) });
  assertUniform(lin.weight, 1 / 20, "linear weight");
  assert.ok(moments(lin.bias!).max <= 1 / 20);
  const bn = new BatchNorm2d(5);
  assert.deepEqual([...bn.weight.data, ...bn.bias.data, ...bn.runningMean.data, ...bn.runningVar.data],
    [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
});

test("torchvision's model inits: kaiming-normal fan-out convs; MobileNetV2's N(0, 0.01) classifier", () => {
  const r = resnet18({ nc: 10, rng: new Rng(4) });
  assertNormal((r.layers[2].at(0) as BasicBlock).conv2.weight, Math.sqrt(2 / (256 * 9)), "resnet layer3.0.conv2");
  assertNormal(r.conv1.weight, Math.sqrt(2 / (64 * 49)), "resnet conv1");
  assertUniform(r.fc.weight, 1 / Math.sqrt(512), "resnet fc keeps Linear's default");
  const mb = mobilenetV2({ nc: 1000, rng: new Rng(5) });
  const fc = mb.classifier.at(1) as Linear;
  assertNormal(fc.weight, 0.01, "mobilenet classifier");
  assert.ok(fc.bias!.data.every((v) => v === 0));
  const dw = mb.features.at(18).stateDict().get("0.weight")!; // 1×1 conv 320→1280: fan_out 1280
  assertNormal(dw, Math.sqrt(2 / 1280), "mobilenet features.18.0");
});

test("initialisation is seeded: the same seed gives the same weights, manualSeed drives the default", () => {
  assert.deepEqual(new Conv2d(3, 8, 3, { rng: new Rng(9) }).weight.data, new Conv2d(3, 8, 3, { rng: new Rng(9) }).weight.data);
  manualSeed(11);
  const a = new Linear(10, 10).weight.toArray();
  manualSeed(11);
  const b = new Linear(10, 10).weight.toArray();
  assert.deepEqual(a, b);
  assert.notDeepEqual(new Linear(10, 10).weight.toArray(), b);
});
