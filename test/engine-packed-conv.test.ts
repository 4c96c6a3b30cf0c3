// Inference packs a fused convolution's weights once (packConvWeights) and the
// kernel then reads the packed copy instead of packing them on every call.
// The oracle is the same kernel packing on each call: the micro-kernel calls
// are the same, so the outputs must be the same bits, on every GEMM path
// (several depth blocks, many or few columns, small staged planes, groups).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Act, type ActOp } from "../src/engine/kernels.js";
import { conv2dAct, noGrad, packConvWeights, randn, Rng, setBackend, type Conv2dOptions, type Tensor } from "../src/engine/index.js";
import { createModel } from "../src/models/index.js";

interface Case { name: string; x: number[]; w: number[]; opts: Conv2dOptions; act: ActOp }

const cases: Case[] = [
  { name: "3x3, 2 depth blocks (K = 576), many columns", x: [1, 64, 40, 40], w: [29, 64, 3, 3], opts: { padding: 1 }, act: Act.silu },
  { name: "1x1 pointwise, rows not a multiple of MR", x: [2, 48, 12, 12], w: [37, 48, 1, 1], opts: {}, act: Act.relu },
  { name: "3x3 stride 2, small staged planes, K = 1152", x: [3, 128, 12, 12], w: [64, 128, 3, 3], opts: { stride: 2, padding: 1 }, act: Act.none },
  { name: "pixels as rows (7x7 planes, 256 channels, 5 depth blocks)", x: [1, 288, 7, 7], w: [256, 288, 3, 3], opts: { padding: 1 }, act: Act.silu },
  { name: "grouped 3x3", x: [1, 32, 9, 11], w: [24, 8, 3, 3], opts: { padding: 1, groups: 4 }, act: Act.hardswish },
  // Outputs under 16 wide: the GEMM path (wider ones take the direct convolution, which packs nothing).
  { name: "7x7 stride 2, 3 input channels", x: [1, 3, 25, 25], w: [16, 3, 7, 7], opts: { stride: 2, padding: 3 }, act: Act.relu6 },
];

/** fn's result computed on the reference backend (sums in double), without grad. */
function onReference(fn: () => Tensor): Tensor {
  setBackend("reference");
  try {
    return noGrad(fn);
  } finally {
    setBackend("native");
  }
}

/** Every element of `actual` within `rel` times the largest magnitude of `expected`. */
function assertWithinScale(actual: Tensor, expected: Tensor, rel: number, what: string): void {
  let scale = 0, worst = 0;
  for (let i = 0; i < expected.numel; i++) {
    scale = Math.max(scale, Math.abs(expected.data[i]));
    worst = Math.max(worst, Math.abs(actual.data[i] - expected.data[i]));
  }
  assert.ok(worst <= rel * scale, `${what} by ${worst} (scale ${scale})`);
}

for (const c of cases) {
  test(`packed weights give the same bits as packing per call: ${c.name}`, () => {
    const rng = new Rng(11);
    const x = randn(c.x, rng), w = randn(c.w, rng), b = randn([c.w[0]], rng);
    noGrad(() => {
      const packed = packConvWeights(x, w, c.opts);
      assert.ok(packed !== null, "the native backend packs dense and grouped convolutions");
      const expected = conv2dAct(x, w, b, c.opts, c.act);
      const actual = conv2dAct(x, w, b, c.opts, c.act, 0, packed);
      assert.deepEqual(actual.shape, expected.shape);
      assert.ok(actual.data.every((v, i) => Object.is(v, expected.data[i])), "outputs differ");
      // The same packed weights serve another batch size and image size.
      const x2 = randn([c.x[0] + 1, c.x[1], c.x[2] + 3, c.x[3] + 2], rng);
      const e2 = conv2dAct(x2, w, b, c.opts, c.act), a2 = conv2dAct(x2, w, b, c.opts, c.act, 0, packed);
      assert.ok(a2.data.every((v, i) => Object.is(v, e2.data[i])), "outputs differ for another input size");
    });
  });
}

test("packed weights of another geometry are refused", () => {
  const rng = new Rng(1);
  const x = randn([1, 8, 6, 6], rng), w = randn([4, 8, 3, 3], rng), other = randn([5, 8, 3, 3], rng);
  const packed = packConvWeights(x, other, {});
  assert.throws(() => conv2dAct(x, w, null, {}, Act.none, 0, packed), /packed weights of another geometry/);
});

test("small padded planes (the tap sum) and inputs of <= 4 channels (direct) pack nothing, and a pack made for a larger plane is not used there", () => {
  const rng = new Rng(3);
  const w = randn([64, 64, 3, 3], rng), b = randn([64], rng), opts = { padding: 1 };
  noGrad(() => {
    assert.equal(packConvWeights(randn([1, 3, 64, 64], rng), randn([16, 3, 3, 3], rng), { stride: 2, padding: 1 }), null);
    assert.equal(packConvWeights(randn([32, 64, 4, 4], rng), w, opts), null);
    const packed = packConvWeights(randn([1, 64, 12, 12], rng), w, opts);
    assert.ok(packed !== null);
    const small = randn([32, 64, 4, 4], rng);
    const expected = conv2dAct(small, w, b, opts, Act.relu), actual = conv2dAct(small, w, b, opts, Act.relu, 0, packed);
    assert.ok(actual.data.every((v, i) => Object.is(v, expected.data[i])), "outputs differ");
  });
});

test("depthwise convolutions and the reference backend pack nothing", () => {
  const rng = new Rng(2);
  const x = randn([1, 8, 6, 6], rng);
  assert.equal(packConvWeights(x, randn([8, 1, 3, 3], rng), { groups: 8 }), null);
  setBackend("reference");
  try {
    assert.equal(packConvWeights(x, randn([4, 8, 3, 3], rng), {}), null);
  } finally {
    setBackend("native");
  }
});

test("a fused model repacks after loadStateDict writes new weights", () => {
  const x = randn([1, 3, 32, 32], new Rng(3));
  const a = createModel("resnet18", { nc: 5, rng: new Rng(4) }).fuse();
  const b = createModel("resnet18", { nc: 5, rng: new Rng(5) }).fuse();
  noGrad(() => {
    a.forward(x); // packs a's own weights
    a.loadStateDict(b.stateDict());
    const fromA = a.forward(x), fromB = b.forward(x);
    assert.ok(fromA.data.every((v, i) => Object.is(v, fromB.data[i])), "stale packed weights were used");
  });
});

test("small planes with many channels run with pixels as the GEMM's rows: equal to the reference backend", () => {
  // 256 channels over 7x7 planes (43 M multiply-adds): channels fill the vector lanes, 49 pixels would not.
  const rng = new Rng(6);
  const x = randn([1, 384, 7, 7], rng), w = randn([256, 384, 3, 3], rng), b = randn([256], rng);
  const opts = { padding: 1 };
  const native = noGrad(() => conv2dAct(x, w, b, opts, Act.silu, 0, packConvWeights(x, w, opts)));
  const reference = onReference(() => conv2dAct(x, w, b, opts, Act.silu));
  // Tolerance: float32 sums of 3456 products in another order (reference sums in double).
  assertWithinScale(native, reference, 1e-5, "native differs from reference");
});

test("weights packed for one layout serve an input that runs in the other", () => {
  const rng = new Rng(9);
  const w = randn([256, 384, 3, 3], rng), b = randn([256], rng), opts = { padding: 1 };
  const small = randn([1, 384, 7, 7], rng), large = randn([1, 384, 16, 16], rng); // pixel rows; channel rows
  noGrad(() => {
    for (const [packFor, runOn] of [[small, large], [large, small]]) {
      const packed = packConvWeights(packFor, w, opts);
      const expected = conv2dAct(runOn, w, b, opts, Act.relu), actual = conv2dAct(runOn, w, b, opts, Act.relu, 0, packed);
      assert.ok(actual.data.every((v, i) => Object.is(v, expected.data[i])), "outputs differ");
    }
  });
});

// Winograd F(2x2, 3x3): fused inference 3x3 stride-1 convolutions with enough tiles and channels pack
// transformed weights (layout code 2 in the packed header) and compute in the transformed domain.
// The oracle is the reference backend (sums in double). Tolerance 1e-5 of the output's largest
// magnitude: the transforms add and subtract up to 16 float32 values on each side of the products,
// which moves results by a few ulps more than the direct sums; a wrong transform or a lost edge
// tile is off by the size of the output itself.
const winogradCases: { name: string; x: number[]; w: number[]; padding: number; act: ActOp }[] = [
  { name: "odd output sizes, batch 2 (edge tiles clipped)", x: [2, 32, 17, 15], w: [40, 32, 3, 3], padding: 1, act: Act.silu },
  { name: "no padding", x: [1, 48, 20, 21], w: [32, 48, 3, 3], padding: 0, act: Act.relu },
  { name: "padding 2", x: [1, 32, 16, 16], w: [48, 32, 3, 3], padding: 2, act: Act.none },
];
for (const c of winogradCases) {
  test(`Winograd F(2x2,3x3) inference convolution, ${c.name}: equal to the reference backend within 1e-5`, () => {
    const rng = new Rng(21);
    const x = randn(c.x, rng), w = randn(c.w, rng), b = randn([c.w[0]], rng);
    const opts = { padding: c.padding };
    const packed = packConvWeights(x, w, opts);
    assert.equal(packed?.data[5], 2, "packed for Winograd");
    const native = noGrad(() => conv2dAct(x, w, b, opts, c.act, 0, packed));
    const reference = onReference(() => conv2dAct(x, w, b, opts, c.act));
    assert.deepEqual(native.shape, reference.shape);
    assertWithinScale(native, reference, 1e-5, "Winograd differs from reference");
  });
}

test("Winograd holds at most 64 MB of transformed data: a batch runs a few images at a time, a huge plane runs direct", () => {
  const rng = new Rng(22);
  // 16 x (128 + 128) x 32 x 32 floats a image: 4 images a chunk, so 5 images take two chunks.
  const x = randn([5, 128, 64, 64], rng), w = randn([128, 128, 3, 3], rng), b = randn([128], rng);
  const packed = packConvWeights(x, w, { padding: 1 });
  assert.equal(packed?.data[5], 2, "packed for Winograd");
  noGrad(() => {
    const winograd = conv2dAct(x, w, b, { padding: 1 }, Act.none, 0, packed);
    const direct = conv2dAct(x, w, b, { padding: 1 }, Act.none); // the direct kernel, itself tested against reference
    assertWithinScale(winograd, direct, 1e-5, "chunked Winograd differs from direct");
  });
  // 16 x 1024 x 64 x 64 floats for one image is past the limit: packed for the direct GEMM instead.
  const huge = packConvWeights(randn([1, 512, 128, 128], rng), randn([512, 512, 3, 3], rng), { padding: 1 });
  assert.notEqual(huge?.data[5], 2);
});
