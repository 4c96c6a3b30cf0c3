// Optimizers against PyTorch's update rules. Two oracles: values worked out by
// hand for SGD (in the comments), and for Adam/AdamW a double-precision
// transcription of the algorithm as PyTorch's documentation writes it (with
// bias-corrected m̂ and v̂, a different arrangement from the kernels'
// step-size form). Gradients come from autograd: loss = ½·Σ p², so grad = p.
// Tolerance 1e-6 relative: the kernels keep parameters and state in float32.
import { test } from "node:test";
import assert from "node:assert/strict";
import { kernels, mul, Rng, sum, tensor, type Tensor } from "../src/engine/index.js";
import type { Kernels } from "../src/engine/kernels.js";
import { decodeSafetensors, encodeSafetensors, toFloat32Tensors } from "../src/io/safetensors.js";
import { Linear } from "../src/nn/index.js";
import { Adam, AdamW, SGD, type AnyOptimizer, type OptimizerStateDict, type OptimizerStateInput } from "../src/optim/index.js";

const half = (x: number): number => Math.fround(x);

function param(values: number[]): Tensor {
  const p = tensor(values);
  p.requiresGrad = true;
  return p;
}

function trajectory(make: (p: Tensor) => { zeroGrad(): void; step(): void }, start = 1, steps = 3): number[] {
  const p = param([start]);
  const opt = make(p);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    sum(mul(mul(p, p), 0.5)).backward();
    opt.step();
    out.push(p.data[0]);
  }
  return out;
}

function assertClose(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= 1e-6 * Math.max(1, Math.abs(expected[i])),
    `${what} step ${i + 1}: ${a}, expected ${expected[i]}`));
}

test("SGD with momentum and weight decay (hand-computed)", () => {
  // lr 0.1, momentum 0.9, wd 0.1, p = 1, grad = p:
  // 1: d = 1 + 0.1 = 1.1, buf = 1.1, p = 1 − 0.11 = 0.89
  // 2: d = 0.89·1.1 = 0.979, buf = 0.9·1.1 + 0.979 = 1.969, p = 0.89 − 0.1969 = 0.6931
  // 3: d = 0.6931·1.1 = 0.76241, buf = 0.9·1.969 + 0.76241 = 2.53451, p = 0.6931 − 0.253451 = 0.439649
  assertClose(trajectory((p) => new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 })), [0.89, 0.6931, 0.439649], "sgd");
});

test("SGD with Nesterov momentum (hand-computed)", () => {
  // lr 0.1, momentum 0.9: 1: buf = 1, d = 1 + 0.9 = 1.9, p = 0.81
  // 2: buf = 0.9 + 0.81 = 1.71, d = 0.81 + 1.539 = 2.349, p = 0.5751
  // 3: buf = 1.539 + 0.5751 = 2.1141, d = 0.5751 + 1.90269 = 2.47779, p = 0.327321
  assertClose(trajectory((p) => new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true })), [0.81, 0.5751, 0.327321], "nesterov");
});

test("SGD with dampening (hand-computed; the first step is not dampened)", () => {
  // lr 0.1, momentum 0.9, dampening 0.5: 1: buf = 1, p = 0.9
  // 2: buf = 0.9 + 0.5·0.9 = 1.35, p = 0.765;  3: buf = 1.215 + 0.3825 = 1.5975, p = 0.60525
  assertClose(trajectory((p) => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 })), [0.9, 0.765, 0.60525], "dampening");
  // Plain SGD: p ← p − lr·p = 0.9ⁿ.
  assertClose(trajectory((p) => new SGD([p], { lr: 0.1 })), [0.9, 0.81, 0.729], "plain");
});

/** PyTorch's documented Adam/AdamW algorithm, in doubles, for grad = p. */
function adamOracle(start: number, steps: number, lr: number, b1: number, b2: number, eps: number, wd: number, decoupled: boolean): number[] {
  let p = start, m = 0, v = 0;
  const out: number[] = [];
  for (let t = 1; t <= steps; t++) {
    let g = p;
    if (decoupled) p = p - lr * wd * p;
    else g = g + wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const mHat = m / (1 - b1 ** t);
    const vHat = v / (1 - b2 ** t);
    p = p - (lr * mHat) / (Math.sqrt(vHat) + eps);
    out.push(half(p));
  }
  return out;
}

test("Adam and AdamW follow PyTorch's algorithm", () => {
  // Step 1 by hand: m̂ = g, v̂ = g², so p moves by lr·g/(|g| + eps) ≈ lr: 1 → 0.9.
  assert.ok(Math.abs(trajectory((p) => new Adam([p], { lr: 0.1 }), 1, 1)[0] - 0.9) < 1e-6);
  assertClose(trajectory((p) => new Adam([p], { lr: 0.1 })), adamOracle(1, 3, 0.1, 0.9, 0.999, 1e-8, 0, false), "adam");
  assertClose(trajectory((p) => new Adam([p], { lr: 0.05, betas: [0.8, 0.99], weightDecay: 0.3 }), 2),
    adamOracle(2, 3, 0.05, 0.8, 0.99, 1e-8, 0.3, false), "adam wd");
  assertClose(trajectory((p) => new AdamW([p], { lr: 0.05, weightDecay: 0.3 }), 2),
    adamOracle(2, 3, 0.05, 0.9, 0.999, 1e-8, 0.3, true), "adamw");
  // AdamW's default weight decay is 1e-2, Adam's 0 (PyTorch's defaults).
  assertClose(trajectory((p) => new AdamW([p], { lr: 0.1 })), adamOracle(1, 3, 0.1, 0.9, 0.999, 1e-8, 0.01, true), "adamw default");
});

test("parameters without a gradient are skipped; groups keep their own lr; one kernel call per group", () => {
  const a = param([1]);
  const b = param([1]);
  const idle = param([5]);
  const opt = new SGD([{ params: [a, idle] }, { params: [b], lr: 0.5 }], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 });
  const k = kernels() as Kernels & Record<string, unknown>;
  const original = k.sgdStep;
  let calls = 0;
  k.sgdStep = (...args: Parameters<Kernels["sgdStep"]>) => {
    calls++;
    original.apply(k, args);
  };
  try {
    opt.zeroGrad();
    sum(mul(mul(a, a), 0.5)).backward();
    sum(mul(mul(b, b), 0.5)).backward();
    opt.step();
  } finally {
    k.sgdStep = original;
  }
  assert.equal(calls, 2);
  assert.equal(idle.data[0], 5, "a parameter without grad is not decayed");
  assert.ok(!opt.stateDict().tensors.has("1.momentum_buffer"));
  assertClose([a.data[0], b.data[0]], [0.89, 1 - 0.5 * 1.1], "groups");
});

function serialise(sd: OptimizerStateDict): OptimizerStateInput {
  // Through a safetensors file and JSON, as a checkpoint stores it.
  const file = encodeSafetensors(sd.tensors, { optimizer: JSON.stringify({ scalars: sd.scalars, paramGroups: sd.paramGroups }) });
  const back = decodeSafetensors(file);
  const meta = JSON.parse(back.metadata.optimizer!) as Pick<OptimizerStateDict, "scalars" | "paramGroups">;
  return { tensors: toFloat32Tensors(back), ...meta };
}

for (const [name, make] of [
  ["SGD", (ps: Tensor[]) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
  ["Adam", (ps: Tensor[]) => new Adam(ps, { lr: 0.01 })],
  ["AdamW", (ps: Tensor[]) => new AdamW([{ params: ps.slice(0, 1) }, { params: ps.slice(1), weightDecay: 0 }], { lr: 0.01 })],
] as [string, (ps: Tensor[]) => AnyOptimizer][]) {
  test(`${name}: a state dict round trip continues bit for bit`, () => {
    const x = tensor(Array.from({ length: 12 }, (_, i) => Math.sin(i)), [4, 3]);
    const run = (model: Linear, opt: AnyOptimizer): void => {
      opt.zeroGrad();
      sum(mul(model.forward(x), model.forward(x))).backward();
      opt.step();
    };
    const a = new Linear(3, 2, { rng: new Rng(1) });
    const optA = make(a.parameters());
    run(a, optA);
    run(a, optA);
    const b = new Linear(3, 2, { rng: new Rng(2) });
    b.loadStateDict(a.stateDict());
    const optB = make(b.parameters());
    optB.loadStateDict(serialise(optA.stateDict()));
    for (let i = 0; i < 3; i++) {
      run(a, optA);
      run(b, optB);
    }
    assert.deepEqual(b.weight.data, a.weight.data);
    assert.deepEqual(b.bias!.data, a.bias!.data);
  });
}

test("loadStateDict refuses a state from a different set of parameters", () => {
  const opt = new SGD([param([1, 2])], { lr: 0.1, momentum: 0.9 });
  const other = new SGD([param([1, 2, 3])], { lr: 0.1, momentum: 0.9 });
  const p = other.paramGroups[0].params[0];
  p.grad = tensor([1, 1, 1]);
  other.step();
  assert.throws(() => opt.loadStateDict(other.stateDict()), /"0\.momentum_buffer" has shape \[3\], its parameter \[2\]/);
  assert.throws(() => opt.loadStateDict({ tensors: new Map(), scalars: {}, paramGroups: [] }), /0 parameter groups, this optimizer 1/);
  assert.throws(() => new SGD([param([1])], { lr: 0.1, nesterov: true }), /Nesterov/);
  const adamState = new Adam([param([1, 2])]).stateDict();
  assert.throws(() => opt.loadStateDict(adamState), /has "betas", which SGD does not use/);
  const bad = opt.stateDict();
  bad.paramGroups[0].lr = -1;
  assert.throws(() => opt.loadStateDict(bad), /invalid learning rate -1/);
  assert.equal(opt.paramGroups[0].lr, 0.1, "nothing changed");
});
