// Whole blocks against PyTorch in training mode (batch statistics): a ResNet
// BasicBlock with its downsample, YOLO's Conv-BN-SiLU, and MobileNetV2's
// depthwise-separable block (dw 3×3-BN-ReLU6, pw 1×1-BN). Each loads PyTorch's
// state dict by name, runs forward and backward on the same input, and must give
// PyTorch's output, input and parameter gradients, and updated running statistics
// (test/fixtures/blocks.safetensors, made by generate.py). In eval mode, as is and
// with BatchNorm folded into the convolutions (`fuse()`), they must give PyTorch's
// inference output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromData, mul, noGrad, Rng, setBackend, sum, tidy, type Tensor } from "../src/engine/index.js";
import type { Module } from "../src/nn/index.js";
import { BasicBlock, Conv, InvertedResidual } from "../src/models/index.js";
import { FixtureFile } from "./helpers/fixtures.js";
import { assertClose } from "./helpers/compare.js";

/**
 * Normwise relative error per tensor (max|kiln − torch| / max|torch|). A block chains
 * up to five sums (conv, batch-norm statistics, their backward) whose float32 errors
 * are ≈ 1e-7 each here (torch_f32_err: PyTorch's own float32 run errs by ≤ 4e-7);
 * 1e-5 leaves room for kiln's summation orders and is far below a wrong term (≥ 1e-3).
 */
const TOLERANCE = 1e-5;

interface BlockArgs {
  inplanes?: number;
  planes?: number;
  stride?: number;
  c1?: number;
  c2?: number;
  k?: number;
  s?: number;
  inp?: number;
  oup?: number;
  expand_ratio?: number;
}

interface BlockCase {
  block: string;
  args: BlockArgs;
  grads: string[];
}

/** Fixture block kind → the kiln module with the same structure (weights come from the fixture). */
const BLOCKS: Record<string, (a: BlockArgs) => Module> = {
  basic_block: (a) => new BasicBlock(a.inplanes!, a.planes!, a.stride!, new Rng(0)),
  conv_bn_silu: (a) => new Conv(a.c1!, a.c2!, a.k!, a.s!, new Rng(0)),
  inverted_residual: (a) => new InvertedResidual(a.inp!, a.oup!, a.stride!, a.expand_ratio!, new Rng(0)),
};

const fixtures = new FixtureFile("blocks");

/** The kiln block of a case, with PyTorch's parameters and buffers loaded by name. */
function loadBlock(name: string): Module {
  const c = fixtures.meta<BlockCase>(name);
  const build = BLOCKS[c.block];
  assert.ok(build, `blocks.safetensors has block "${c.block}" but the test cannot build it: add it to BLOCKS`);
  const block = build(c.args);
  block.loadStateDict(new Map(fixtures.names(`${name}.state.`).map((k) => [k, fixtures.tensor(`${name}.state.${k}`)])));
  return block;
}

function input(name: string): Tensor {
  const x = fixtures.tensor(`${name}.in.x`);
  return fromData(x.data, x.shape);
}

function checkTraining(name: string): void {
  const c = fixtures.meta<BlockCase>(name);
  const block = loadBlock(name);
  try {
    block.train();
    tidy(() => {
      const x = input(name);
      x.requiresGrad = true;
      const out = block.forward(x);
      assertClose(`${name} output`, out, fixtures.tensor(`${name}.out.0`), TOLERANCE);
      const r = fixtures.tensor(`${name}.R.0`);
      sum(mul(out, fromData(r.data, r.shape))).backward();

      const params = new Map(block.namedParameters());
      for (const key of c.grads) {
        const grad = key === "x" ? x.grad : params.get(key)?.grad;
        assert.ok(grad, `${name}: no gradient for "${key}"`);
        assertClose(`${name} d/d${key}`, grad, fixtures.tensor(`${name}.grad.${key}`), TOLERANCE);
      }
      const buffers = new Map(block.namedBuffers());
      for (const key of fixtures.names(`${name}.after.`)) {
        const buffer = buffers.get(key);
        assert.ok(buffer, `${name}: kiln's block has no buffer "${key}"`);
        assertClose(`${name} ${key} after the forward`, buffer, fixtures.tensor(`${name}.after.${key}`), TOLERANCE);
      }
    });
  } finally {
    block.dispose();
  }
}

function checkInference(name: string): void {
  const block = loadBlock(name);
  try {
    const expected = fixtures.tensor(`${name}.eval.0`);
    block.eval();
    noGrad(() => tidy(() => assertClose(`${name} eval output`, block.forward(input(name)), expected, TOLERANCE)));
    block.fuse();
    // Folding rounds each weight once more (w·γ/σ): one more float32 rounding per term.
    noGrad(() => tidy(() => assertClose(`${name} fused eval output`, block.forward(input(name)), expected, TOLERANCE)));
  } finally {
    block.dispose();
  }
}

for (const backend of ["native", "reference"] as const) {
  for (const name of fixtures.cases()) {
    test(`${backend}: ${name} matches PyTorch forward and backward in training mode`, () => {
      setBackend(backend);
      checkTraining(name);
    });
    test(`${backend}: ${name} matches PyTorch in eval mode, as is and fused`, () => {
      setBackend(backend);
      checkInference(name);
    });
  }
}
