// Module behaviour: loading state dicts (round trip and every kind of error),
// modes, gradients, and small layers against values worked out by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { noGrad, randn, Rng, sum, tensor, type Tensor } from "../src/engine/index.js";
import { createModel } from "../src/models/index.js";
import { readSafetensors, toFloat32Tensors, writeSafetensors } from "../src/io/safetensors.js";
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Hardswish, Identity, LeakyReLU, Linear, MaxPool2d, ReLU,
  ReLU6, Sequential, Sigmoid, SiLU, StateDictError, Tanh, Upsample, type TensorValues,
} from "../src/nn/index.js";

const values = (t: Tensor): number[] => Array.from(t.data);
const copyOf = (sd: Map<string, Tensor>): Map<string, TensorValues> =>
  new Map([...sd].map(([k, t]) => [k, { shape: [...t.shape], data: t.data.slice() }]));

test("loadStateDict copies every parameter and buffer: the copy computes the same outputs", () => {
  const a = createModel("resnet18", { nc: 5, rng: new Rng(1) });
  const b = createModel("resnet18", { nc: 5, rng: new Rng(2) });
  // Non-trivial running statistics, so buffers matter to the eval output.
  noGrad(() => a.train().forward(randn([2, 3, 32, 32], new Rng(3))));
  assert.notDeepEqual(values(a.fc.weight), values(b.fc.weight));
  const result = b.loadStateDict(copyOf(a.stateDict()));
  assert.deepEqual(result, { missing: [], unexpected: [], mismatched: [] });
  for (const [k, t] of a.stateDict()) assert.deepEqual(values(b.stateDict().get(k)!), values(t), k);
  const x = randn([1, 3, 32, 32], new Rng(4));
  const ya = noGrad(() => a.eval().forward(x));
  const yb = noGrad(() => b.eval().forward(x));
  assert.deepEqual(values(yb), values(ya));
  a.dispose();
  b.dispose();
});

test("a state dict survives a safetensors file (what checkpoints do)", async () => {
  const a = createModel("cnn", { nc: 3, rng: new Rng(5) });
  noGrad(() => a.train().forward(randn([2, 3, 16, 16], new Rng(6))));
  const dir = mkdtempSync(join(tmpdir(), "kiln-nn-"));
  try {
    const path = join(dir, "weights.safetensors");
    await writeSafetensors(path, a.stateDict(), { arch: "cnn" });
    const b = createModel("cnn", { nc: 3, rng: new Rng(7) });
    b.loadStateDict(toFloat32Tensors(await readSafetensors(path)));
    for (const [k, t] of a.stateDict()) assert.deepEqual(values(b.stateDict().get(k)!), values(t), k);
    assert.equal(b.stateDict().get("features.0.1.num_batches_tracked")!.item(), 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("loadStateDict names missing and unexpected keys, and changes nothing when it refuses", () => {
  const m = new Sequential(new Conv2d(2, 3, 1, { rng: new Rng(0) }), new BatchNorm2d(3));
  const before = values(m.at(0).stateDict().get("weight")!);
  const sd = copyOf(m.stateDict());
  sd.get("0.weight")!.data.fill(7);
  sd.delete("1.running_var");
  sd.set("2.weight", { shape: [1], data: new Float32Array(1) });
  assert.throws(() => m.loadStateDict(sd), (err: unknown) => {
    assert.ok(err instanceof StateDictError);
    assert.match(err.message, /missing keys \(1\): 1\.running_var/);
    assert.match(err.message, /unexpected keys \(1\): 2\.weight/);
    return true;
  });
  assert.deepEqual(values(m.at(0).stateDict().get("weight")!), before);
  // Not strict: loads what matches and reports the rest.
  const result = m.loadStateDict(sd, { strict: false });
  assert.deepEqual(result, { missing: ["1.running_var"], unexpected: ["2.weight"], mismatched: [] });
  assert.ok(values(m.at(0).stateDict().get("weight")!).every((v) => v === 7));
});

test("loadStateDict refuses shape mismatches even when not strict, naming key and both shapes", () => {
  const m = createModel("mnist_cnn", { nc: 10, rng: new Rng(0) });
  const sd = copyOf(createModel("mnist_cnn", { nc: 4, rng: new Rng(0) }).stateDict());
  for (const strict of [true, false]) {
    assert.throws(() => m.loadStateDict(sd, { strict }), (err: unknown) => {
      assert.ok(err instanceof StateDictError);
      assert.match(err.message, /fc2\.weight: the state dict has shape \[4, 128\], the model \[10, 128\]/);
      assert.match(err.message, /fc2\.bias: the state dict has shape \[4\], the model \[10\]/);
      return true;
    });
  }
});

test("skipMismatched loads what fits and reports the rest (fine-tuning with a new nc)", () => {
  const m = createModel("mnist_cnn", { nc: 10, rng: new Rng(0) });
  const fc2Before = values(m.fc2.weight);
  const donor = createModel("mnist_cnn", { nc: 4, rng: new Rng(1) });
  const result = m.loadStateDict(copyOf(donor.stateDict()), { skipMismatched: true });
  assert.deepEqual(result.mismatched, ["fc2.weight", "fc2.bias"]);
  assert.deepEqual(values(m.conv1.weight), values(donor.conv1.weight));
  assert.deepEqual(values(m.fc2.weight), fc2Before);
});

test("train() and eval() reach every descendant", () => {
  const m = createModel("mobilenet_v2", { nc: 3, rng: new Rng(0) });
  assert.ok(m.namedModules().every(([, c]) => c.training));
  m.eval();
  assert.ok(m.namedModules().every(([, c]) => !c.training));
  m.train();
  assert.ok(m.namedModules().every(([, c]) => c.training));
});

test("zeroGrad releases gradients, or zeroes them in place", () => {
  const lin = new Linear(3, 2, { rng: new Rng(0) });
  sum(lin.forward(tensor([1, 2, 3], [1, 3]))).backward();
  assert.deepEqual(values(lin.weight.grad!), [1, 2, 3, 1, 2, 3]);
  assert.deepEqual(values(lin.bias!.grad!), [1, 1]);
  lin.zeroGrad(false);
  assert.deepEqual(values(lin.weight.grad!), [0, 0, 0, 0, 0, 0]);
  lin.zeroGrad();
  assert.equal(lin.weight.grad, null);
  assert.equal(lin.bias!.grad, null);
});

test("BatchNorm2d updates its running statistics with momentum 0.1 and the unbiased variance", () => {
  const bn = new BatchNorm2d(1);
  // One channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3.
  const y = bn.forward(tensor([1, 2, 3, 6], [1, 1, 2, 2]));
  assert.ok(Math.abs(bn.runningMean.item() - 0.3) < 1e-7);
  assert.ok(Math.abs(bn.runningVar.item() - (0.9 + 0.1 * 14 / 3)) < 1e-6);
  const expected = [1, 2, 3, 6].map((v) => (v - 3) / Math.sqrt(3.5 + 1e-5));
  values(y).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6));
  assert.equal(new BatchNorm2d(4, { eps: 1e-3, momentum: 0.03 }).momentum, 0.03);
});

test("small layers compute what they say", () => {
  const lin = new Linear(2, 2, { rng: new Rng(0) });
  lin.weight.data.set([1, -1, 2, 0.5]);
  lin.bias!.data.set([0, -10]);
  const net = new Sequential(lin, new ReLU(), new Identity());
  assert.deepEqual(values(net.forward(tensor([3, 1], [1, 2]))), [2, 0]); // [3-1, 6+0.5-10 → relu 0]
  assert.deepEqual(new Flatten().forward(randn([2, 3, 4, 5], new Rng(0))).shape, [2, 60]);
  const up = new Upsample(2).forward(tensor([1, 2, 3, 4], [1, 1, 2, 2]));
  assert.deepEqual(values(up), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  const drop = new Dropout(0.5, new Rng(0));
  const x = randn([100], new Rng(1));
  assert.deepEqual(values(drop.eval().forward(x)), values(x));
  const kept = values(drop.train().forward(x)).filter((v, i) => v !== 0 && Math.abs(v - 2 * x.data[i]) < 1e-6);
  assert.ok(kept.length > 20 && kept.length < 80);
});

test("activation and pooling modules give the textbook values", () => {
  const x = tensor([-4, -1, 0, 1, 4, 7]);
  const near = (t: Tensor, expected: number[], what: string): void =>
    values(t).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `${what}[${i}] = ${v}, expected ${expected[i]}`));
  const sig = (v: number): number => 1 / (1 + Math.exp(-v));
  near(new ReLU6().forward(x), [0, 0, 0, 1, 4, 6], "relu6");
  near(new LeakyReLU(0.1).forward(x), [-0.4, -0.1, 0, 1, 4, 7], "leaky");
  near(new Hardswish().forward(x), [0, -1 / 3, 0, 2 / 3, 4, 7], "hardswish"); // x·relu6(x+3)/6
  near(new SiLU().forward(x), [-4, -1, 0, 1, 4, 7].map((v) => v * sig(v)), "silu");
  near(new Sigmoid().forward(x), [-4, -1, 0, 1, 4, 7].map(sig), "sigmoid");
  near(new Tanh().forward(x), [-4, -1, 0, 1, 4, 7].map(Math.tanh), "tanh");
  const img = tensor([1, 2, 5, 3, 4, 0, 6, 8, 9, 7, 2, 2, 1, 1, 0, 4], [1, 1, 4, 4]);
  near(new MaxPool2d(2).forward(img), [4, 8, 9, 4], "maxpool");
  near(new AvgPool2d(2).forward(img), [1.75, 5.5, 4.5, 2], "avgpool");
  near(new AdaptiveAvgPool2d(1).forward(img), [55 / 16], "adaptive");
});

test("member names are checked", () => {
  const seq = new Sequential();
  assert.throws(() => seq.registerModule("a.b", new ReLU()), /contain no "\."/);
  seq.registerModule("a", new ReLU());
  assert.throws(() => seq.registerModule("a", new ReLU()), /already registered/);
});
