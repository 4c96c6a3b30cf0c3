// Models: output shapes for every model, gradients reaching every trainable
// parameter, a few training steps lowering the loss, the detection head's
// fixed parts, and the registry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { add, crossEntropy, mean, mul, noGrad, randn, Rng, tensor, tidy, type Tensor } from "../src/engine/index.js";
import { cnn, createModel, DFL, isModelName, mnistCnn, modelTask, yolov8, type ModelName } from "../src/models/index.js";
import { SGD } from "../src/optim/index.js";

const CLASSIFIERS: [ModelName, number[]][] = [
  ["cnn", [2, 3, 64, 64]],
  ["mnist_cnn", [2, 1, 28, 28]],
  ["resnet18", [1, 3, 32, 32]],
  ["resnet34", [1, 3, 32, 32]],
  ["resnet50", [1, 3, 32, 32]],
  ["mobilenet_v2", [1, 3, 32, 32]],
];

for (const [name, shape] of CLASSIFIERS) {
  test(`${name} maps ${shape.join("×")} images to [N, nc] logits`, () => {
    const model = createModel(name, { nc: 7, rng: new Rng(0) });
    const y = noGrad(() => model.eval().forward(randn(shape, new Rng(1)))) as Tensor;
    assert.deepEqual(y.shape, [shape[0], 7]);
    assert.ok(y.data.every(Number.isFinite));
    model.dispose();
  });
}

test("cnn also takes 28×28 grayscale images", () => {
  const y = noGrad(() => cnn({ nc: 10, inChannels: 1, rng: new Rng(0) }).eval().forward(randn([3, 1, 28, 28], new Rng(1))));
  assert.deepEqual(y.shape, [3, 10]);
});

for (const size of ["n", "s", "m"] as const) {
  test(`yolov8${size} returns three raw maps [B, 64 + nc, H/s, W/s] at strides 8, 16, 32`, () => {
    const model = yolov8({ size, nc: 5, rng: new Rng(0) });
    const ys = noGrad(() => model.eval().forward(randn([1, 3, 64, 96], new Rng(1))));
    assert.deepEqual(ys.map((y) => y.shape), [[1, 69, 8, 12], [1, 69, 4, 6], [1, 69, 2, 3]]);
    model.dispose();
  });
}

test("yolov8 refuses images whose sides are not multiples of 32", () => {
  assert.throws(() => yolov8({ size: "n", nc: 2, rng: new Rng(0) }).forward(randn([1, 3, 40, 64], new Rng(1))), /multiples of 32/);
});

test("the detection head starts from Ultralytics' biases and a fixed DFL", () => {
  const model = yolov8({ size: "n", nc: 80, rng: new Rng(0) });
  const sd = model.stateDict();
  // bias_init: box logits 1; class logits log(5 / nc / (640 / stride)²).
  assert.ok(sd.get("model.22.cv2.0.2.bias")!.data.every((v) => v === 1));
  const cls = (s: number): number => Math.fround(Math.log(5 / 80 / (640 / s) ** 2));
  assert.equal(sd.get("model.22.cv3.0.2.bias")!.data[0], cls(8));
  assert.equal(sd.get("model.22.cv3.2.2.bias")!.data[79], cls(32));
  const dfl = sd.get("model.22.dfl.conv.weight")!;
  assert.deepEqual(Array.from(dfl.data), Array.from({ length: 16 }, (_, i) => i));
  assert.equal(dfl.requiresGrad, false);
  // BatchNorms as Ultralytics sets them.
  const bn = model.namedModules().find(([n]) => n === "model.0.bn")![1] as unknown as { eps: number; momentum: number };
  assert.equal(bn.eps, 1e-3);
  assert.equal(bn.momentum, 0.03);
});

test("DFL turns each side's 16-bin distribution into its expected bin", () => {
  const dfl = new DFL(16, new Rng(0));
  // One anchor: sides peaked hard at bins 0, 3, 15, and uniform (expected 7.5).
  const logits = new Float32Array(64);
  logits[0] = 50;
  logits[16 + 3] = 50;
  logits[32 + 15] = 50;
  const out = noGrad(() => dfl.forward(tensor(logits, [1, 64, 1])));
  assert.deepEqual(out.shape, [1, 4, 1]);
  [0, 3, 15, 7.5].forEach((v, i) => assert.ok(Math.abs(out.data[i] - v) < 1e-4, `side ${i}: ${out.data[i]}`));
});

for (const [name, shape] of [["cnn", [2, 3, 32, 32]], ["resnet18", [2, 3, 32, 32]], ["mobilenet_v2", [2, 3, 32, 32]], ["yolov8n", [1, 3, 64, 64]]] as [ModelName, number[]][]) {
  test(`${name}: backward reaches every trainable parameter`, () => {
    const model = createModel(name, { nc: 3, rng: new Rng(0) });
    tidy(() => {
      const y = model.train().forward(randn(shape, new Rng(1)));
      const outs = Array.isArray(y) ? y : [y as Tensor];
      outs.map((o) => mean(mul(o, o))).reduce((a, b) => add(a, b)).backward();
    });
    for (const [n, p] of model.namedParameters()) {
      // Reached by the graph (some gradients are exactly zero by design: a
      // BatchNorm bias whose output only feeds conv → training-mode BatchNorm).
      if (p.requiresGrad) assert.ok(p.grad !== null && p.grad.data.every(Number.isFinite), `${n} got no gradient`);
      else assert.equal(p.grad, null, `${n} is fixed but got a gradient`);
    }
    model.dispose();
  });
}

test("a few SGD steps on a fixed batch lower mnist_cnn's loss", () => {
  const model = mnistCnn({ nc: 10, rng: new Rng(0) });
  const x = randn([8, 1, 28, 28], new Rng(1));
  const targets = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const losses: number[] = [];
  for (let i = 0; i < 6; i++) {
    tidy(() => {
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(x), targets);
      losses.push(loss.item());
      loss.backward();
      opt.step();
    });
  }
  assert.ok(losses.every(Number.isFinite));
  const trace = losses.map((l) => l.toFixed(3)).join(" → ");
  assert.ok(losses.every((l, i) => i === 0 || l < losses[i - 1]), `loss went ${trace}`);
  assert.ok(losses[5] < 0.8 * losses[0], `loss went ${trace}`);
});

test("the registry builds every model by name and refuses unknown ones", () => {
  assert.equal(modelTask("resnet18"), "classify");
  assert.equal(modelTask("yolov8n"), "detect");
  assert.ok(isModelName("mobilenet_v2") && !isModelName("vgg16"));
  assert.throws(() => createModel("vgg16" as ModelName, { nc: 2 }), /unknown model "vgg16"; known models: cnn, mnist_cnn, resnet18/);
  assert.throws(() => createModel("resnet18", { nc: 0 }), /nc .* must be a positive integer/);
  const m = createModel("mnist_cnn", { nc: 4, rng: new Rng(0) });
  assert.equal(m.fc2.weight.shape[0], 4);
});

test("dropout= drops features before the last layer in training only, and adds no state-dict names", () => {
  for (const name of ["cnn", "resnet18"] as const) {
    const plain = createModel(name, { nc: 4, rng: new Rng(3) });
    const dropped = createModel(name, { nc: 4, rng: new Rng(3), dropout: 0.5 });
    assert.deepEqual([...dropped.stateDict().keys()], [...plain.stateDict().keys()], `${name}: same names`);
    const x = randn([2, 3, 32, 32], new Rng(4));
    const run = (m: typeof plain): Float32Array => tidy(() => noGrad(() => m.forward(x).toArray()));
    dropped.eval();
    plain.eval();
    assert.deepEqual(run(dropped), run(plain), `${name}: identical weights, identical eval outputs`);
    dropped.train();
    plain.train();
    assert.notDeepEqual(run(dropped), run(plain), `${name}: training outputs differ once features are dropped`);
  }
});
