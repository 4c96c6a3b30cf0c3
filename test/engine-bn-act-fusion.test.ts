// Batch norm with a fused activation must give the same bits as batch norm
// followed by the separate activation op: forward output, running statistics,
// and the gradients of x, weight and bias. The oracle is the unfused
// composition, which the gradient checks and PyTorch fixtures already cover.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as E from "../src/engine/index.js";
import { nativeKernels, nativeLoadError } from "../src/engine/backend.js";
import { BatchNorm2d, ReLU, Sequential, SiLU } from "../src/nn/index.js";
import type { Tensor } from "../src/engine/index.js";

const ACTS: [string, E.ActOp, number, (x: Tensor) => Tensor][] = [
  ["relu", E.Act.relu, 0, E.relu],
  ["relu6", E.Act.relu6, 0, E.relu6],
  ["leaky relu", E.Act.leakyRelu, 0.1, (x) => E.leakyRelu(x, 0.1)],
  ["silu", E.Act.silu, 0, E.silu],
  ["hardswish", E.Act.hardswish, 0, E.hardswish],
];

// [N, C, H, W]: planes of 64 (vector path) with C >= 2 x threads (one task per channel),
// and planes of 9 (scalar path) with 2 channels (sums in parallel, then a second pass).
const SHAPES = [[4, 6, 8, 8], [3, 2, 3, 3]];

interface Outcome { y: Float32Array; dx: Float32Array; dw: Float32Array; db: Float32Array; rm: Float32Array; rv: Float32Array }

function run(shape: number[], seed: number, forward: (x: Tensor, rm: Tensor, rv: Tensor, w: Tensor, b: Tensor) => Tensor): Outcome {
  const rng = new E.Rng(seed);
  const c = shape[1];
  const x = E.mul(E.randn(shape, rng), E.tensor([3]));
  const w = E.uniform([c], 0.5, 2, rng), b = E.uniform([c], -1, 1, rng);
  const rm = E.uniform([c], -0.5, 0.5, rng), rv = E.uniform([c], 0.5, 2, rng);
  const upstream = E.randn(shape, rng);
  for (const t of [x, w, b]) t.requiresGrad = true;
  const y = forward(x, rm, rv, w, b);
  E.sum(E.mul(y, upstream)).backward();
  return { y: y.data.slice(), dx: x.grad!.data.slice(), dw: w.grad!.data.slice(), db: b.grad!.data.slice(), rm: rm.data.slice(), rv: rv.data.slice() };
}

for (const backend of ["native", "reference"] as const) {
  test(`batchNorm2d + activation fused equals the two ops bit for bit (${backend})`, () => {
    if (backend === "native") assert.ok(nativeKernels(), `the native addon did not load: ${nativeLoadError()}`);
    E.setBackend(backend);
    try {
      for (const shape of SHAPES) {
        for (const [[name, act, alpha, separate], training] of ACTS.flatMap((a) => [[a, true], [a, false]] as const)) {
          const opts = { training, momentum: 0.1, eps: 1e-5 };
          const fused = run(shape, 11, (x, rm, rv, w, b) => E.batchNorm2d(x, rm, rv, w, b, { ...opts, act, alpha }));
          const apart = run(shape, 11, (x, rm, rv, w, b) => separate(E.batchNorm2d(x, rm, rv, w, b, opts)));
          for (const key of Object.keys(fused) as (keyof Outcome)[]) {
            assert.deepEqual(fused[key], apart[key], `${name} [${shape.join(", ")}] training=${training}: ${key} differs`);
          }
          // The activation really ran: relu-like outputs have no negatives below the slope.
          if (act === E.Act.relu || act === E.Act.relu6) assert.ok(fused.y.every((v) => v >= 0), `${name}: negative output`);
        }
      }
    } finally {
      E.setBackend("native");
    }
  });
}

test("Sequential runs BatchNorm2d → activation as one fused call, with the same result as layer by layer", () => {
  assert.ok(nativeKernels(), `the native addon did not load: ${nativeLoadError()}`);
  E.setBackend("native");
  for (const act of [new ReLU(), new SiLU()]) {
    const bnA = new BatchNorm2d(5), bnB = new BatchNorm2d(5);
    const seq = new Sequential(bnA, act);
    const x1 = E.randn([2, 5, 6, 6], new E.Rng(3)), x2 = E.randn([2, 5, 6, 6], new E.Rng(3));
    x1.requiresGrad = x2.requiresGrad = true;
    const viaSequential = seq.forward(x1);
    const layerByLayer = act.forward(bnB.forward(x2));
    assert.equal(viaSequential.gradFn?.name, "batchNorm2d+act", "the Sequential took the fused path");
    assert.deepEqual(viaSequential.data, layerByLayer.data);
    E.sum(viaSequential).backward();
    E.sum(layerByLayer).backward();
    assert.deepEqual(x1.grad!.data, x2.grad!.data);
    assert.deepEqual(bnA.numBatchesTracked.data, bnB.numBatchesTracked.data);
  }
});
