// Every kernel of the interface, native against reference, on the same seeded inputs and odd shapes
// (batch 1, sizes that are not multiples of the vector width, 1x1 and 7x7 kernels, stride 2,
// padding, dilation, groups, depthwise, ceil_mode, broadcasting, rank-4/5 permutes, ...).
//
// The reference backend is the oracle (plain loops over PyTorch's definitions, sums in double).
// Besides the values, each comparison checks that native leaves its inputs untouched, writes
// every element of its outputs (outputs start as NaN) and nothing outside them (guard cells), and
// accepts unaligned subarray views (inputs sit one element into their buffer).
//
// A kernel the addon does not export yet fails with a message saying so: this test's job is to
// show which native kernels are missing or wrong.
import { test } from "node:test";
import assert from "node:assert/strict";
import { nativeKernels, nativeLoadError } from "../src/engine/backend.js";
import { referenceKernels } from "../src/engine/backends/reference.js";
import {
  Act, Binary, Unary, convGeom, poolGeom,
  type ActOp, type BinaryOp, type ConvShape, type F32, type I32, type Kernels, type PoolShape, type UnaryOp,
} from "../src/engine/kernels.js";

// ---- tolerances ---------------------------------------------------------------------------------

type Tol = "exact" | { atol: number; rtol: number };

/**
 * One element-wise op on O(1) operands: a float32 evaluation of a short formula (vector exp/log/
 * tanh included) is within a few ulp (1 ulp <= 1.2e-7 relative) of the reference's double value
 * rounded once; 1e-6 allows ~8 ulp, with the same absolute floor for results near 0, where the
 * formula's terms cancel (silu, hardswish', bce) and relative error means nothing.
 */
const ELEMENTWISE: Tol = { atol: 1e-6, rtol: 1e-6 };

/**
 * A sum of k terms, each at most maxTerm in magnitude. Native sums in float32 in its own order
 * (blocked, vectorised, split across threads); the reference sums in double. Rounding errors of
 * different orders differ by about 6e-8·sqrt(k)·maxTerm; 1e-5·sqrt(k)·maxTerm leaves a wide margin
 * (~170x) yet still catches a missing or doubled term (an error of a whole maxTerm once k < 1e10).
 */
function sumTol(k: number, maxTerm: number): number {
  return 1e-5 * Math.sqrt(Math.max(k, 1)) * maxTerm;
}

/** A sum-derived result: the sum bound plus the element-wise rounding of what is done with it. */
function summed(k: number, maxTerm: number): Tol {
  return { atol: sumTol(k, maxTerm), rtol: 1e-6 };
}

function maxAbs(...arrays: ArrayLike<number>[]): number {
  let m = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// ---- seeded inputs and guarded outputs ------------------------------------------------------------

/**
 * Inputs from a seeded xorshift32 generator. Each case makes its own inputs; the arrays made since
 * the last comparison are remembered so that comparison can check native does not write to them.
 */
class Gen {
  private state: number;
  private readonly made: (F32 | I32)[] = [];

  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }

  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** An integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo));
  }

  /** n floats uniform in [lo, hi), as a view one element into its buffer (unaligned, as views may be). */
  f32(n: number, lo = -1, hi = 1): F32 {
    return this.floats(Array.from({ length: n }, () => this.between(lo, hi)));
  }

  /** The given values as an input view. */
  floats(values: ArrayLike<number>): F32 {
    const view = new Float32Array(values.length + 2).subarray(1, values.length + 1);
    view.set(values);
    this.made.push(view);
    return view;
  }

  /** n floats from [lo, hi) rounded to multiples of `step`, so ties are frequent. */
  quantized(n: number, lo: number, hi: number, step: number): F32 {
    return this.floats(Array.from({ length: n }, () => Math.round(this.between(lo, hi) / step) * step));
  }

  ints(values: ArrayLike<number>): I32 {
    const view = new Int32Array(values.length + 2).subarray(1, values.length + 1);
    view.set(values);
    this.made.push(view);
    return view;
  }

  /** The inputs made since the last call, with copies of their contents now. */
  takeInputs(): { arrays: (F32 | I32)[]; copies: (F32 | I32)[] } {
    const arrays = this.made.splice(0);
    return { arrays, copies: arrays.map((a) => a.slice()) };
  }
}

function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

const GUARD = 4;
const GUARD_F32 = 1234.5;
const GUARD_I32 = -7777777;

/** Output buffers: NaN (or a sentinel) inside so unwritten elements show, guard cells around them. */
class Outputs {
  private readonly guarded: { whole: F32 | I32; fill: number; n: number }[] = [];

  f32(n: number): F32 {
    const whole = new Float32Array(n + 2 * GUARD).fill(GUARD_F32);
    this.guarded.push({ whole, fill: GUARD_F32, n });
    return whole.subarray(GUARD, GUARD + n).fill(NaN);
  }

  i32(n: number): I32 {
    const whole = new Int32Array(n + 2 * GUARD).fill(GUARD_I32);
    this.guarded.push({ whole, fill: GUARD_I32, n });
    return whole.subarray(GUARD, GUARD + n).fill(-99999);
  }

  /** A guarded copy, for state a kernel updates in place. */
  copyOf(src: F32): F32 {
    const view = this.f32(src.length);
    view.set(src);
    return view;
  }

  /** Descriptions of guard cells that were written. */
  overruns(): string[] {
    return this.guarded.flatMap(({ whole, fill, n }, k) => {
      const bad: string[] = [];
      for (let i = 0; i < GUARD; i++) {
        if (whole[i] !== fill) bad.push(`before output #${k} (element ${i - GUARD})`);
        if (whole[GUARD + n + i] !== fill) bad.push(`after output #${k} of length ${n} (element ${n + i})`);
      }
      return bad;
    });
  }
}

// ---- comparison ---------------------------------------------------------------------------------------

type Output = F32 | I32 | number | boolean;
interface Check { tol: Tol; shape?: readonly number[] }
type Run = (k: Kernels, out: Outputs) => Record<string, Output>;
type Compare = (desc: string, gen: Gen, run: Run, checks: Record<string, Check>) => void;

/** Row-major multi-index of flat index i, when the shape is known. */
function locate(i: number, shape?: readonly number[]): string {
  if (!shape || shape.length === 0) return `[${i}]`;
  const idx: number[] = [];
  let rest = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(rest % shape[d]);
    rest = Math.floor(rest / shape[d]);
  }
  return `[${idx.join(",")}] (flat ${i}) of [${shape.join(",")}]`;
}

function compareValues(actual: ArrayLike<number>, expected: ArrayLike<number>, check: Check): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, reference ${expected.length}`;
  let bad = 0, worst = -1, worstRatio = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const bound = check.tol === "exact" ? 0 : check.tol.atol + check.tol.rtol * Math.abs(e);
    const err = Math.abs(a - e);
    if (err <= bound) continue;
    bad++;
    const ratio = Number.isNaN(err) || bound === 0 ? Infinity : err / bound;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (bad === 0) return null;
  const rule = check.tol === "exact" ? "exact" : `|native - ref| <= ${check.tol.atol.toExponential(2)} + ${check.tol.rtol}·|ref|`;
  const a = actual[worst], e = expected[worst];
  return `${bad} of ${expected.length} elements outside tolerance (${rule}); worst at ${locate(worst, check.shape)}: ` +
    `native ${a}, reference ${e}, |diff| ${Math.abs(a - e).toExponential(3)}`;
}

function compareOutput(actual: Output | undefined, expected: Output, check: Check): string | null {
  if (typeof expected === "boolean") return actual === expected ? null : `native ${String(actual)}, reference ${expected}`;
  if (typeof expected === "number") {
    return typeof actual === "number" ? compareValues([actual], [expected], check) : `native returned ${String(actual)}`;
  }
  if (!(actual instanceof Float32Array || actual instanceof Int32Array)) return `native returned ${String(actual)}`;
  return compareValues(actual, expected, check);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs one case on both backends; returns the failure messages. */
function compareBackends(native: Kernels, kernel: string, desc: string, gen: Gen, run: Run,
  checks: Record<string, Check>): string[] {
  const where = `${kernel} [${desc}]`;
  const inputs = gen.takeInputs();
  const expected = run(referenceKernels, new Outputs());
  const outputs = new Outputs();
  let actual: Record<string, Output>;
  try {
    actual = run(native, outputs);
  } catch (err) {
    return [`${where}: native threw: ${errorMessage(err)}`];
  }
  const failures = [
    ...inputs.arrays.flatMap((a, i) => (sameBits(a, inputs.copies[i]) ? [] : [`${where}: native modified input #${i}`])),
    ...outputs.overruns().map((m) => `${where}: native wrote ${m}`),
  ];
  for (const [key, value] of Object.entries(expected)) {
    const check = checks[key];
    if (!check) throw new Error(`${where}: the test has no tolerance for output "${key}"`);
    const problem = compareOutput(actual[key], value, check);
    if (problem) failures.push(`${where} ${key}: ${problem}`);
  }
  return failures;
}

/** The native kernels, failing the test clearly when the addon or this kernel's export is missing. */
function requireNative(kernel: keyof Kernels): Kernels {
  const native = nativeKernels();
  assert.ok(native, `the native addon did not load: ${nativeLoadError()}`);
  const exported = (native as unknown as Record<string, unknown>)[kernel];
  assert.equal(typeof exported, "function",
    `native kernel "${kernel}" is missing: the addon does not export it (yet); see native/*.cc`);
  return native;
}

/** One test per kernel: every case runs, and all mismatches are reported together. */
function kernelTest(kernel: keyof Kernels, body: (compare: Compare) => void): void {
  test(`native ${kernel} equals reference`, () => {
    const native = requireNative(kernel);
    const failures: string[] = [];
    body((desc, gen, run, checks) => failures.push(...compareBackends(native, kernel, desc, gen, run, checks)));
    if (failures.length > 0) assert.fail(`${failures.length} mismatch(es):\n${failures.join("\n")}`);
  });
}

function describe(fields: object): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(",")}]` : String(v)}`)
    .join(" ");
}

// ---- linear algebra -----------------------------------------------------------------------------------

interface GemmCase {
  batch: number; transA: boolean; transB: boolean; m: number; n: number; k: number; alpha: number; beta: number;
  /** Reuse one A (stride 0), or leave a gap of this many elements between A matrices. */
  sharedA?: boolean; gapA?: number;
}

const gemmCases: GemmCase[] = [
  { batch: 1, transA: false, transB: false, m: 1, n: 1, k: 1, alpha: 1, beta: 0 },
  { batch: 1, transA: false, transB: false, m: 7, n: 17, k: 33, alpha: 1, beta: 0 },
  { batch: 1, transA: true, transB: false, m: 33, n: 7, k: 17, alpha: 0.5, beta: 0 },
  { batch: 1, transA: false, transB: true, m: 17, n: 33, k: 7, alpha: 1, beta: 1 },
  { batch: 1, transA: true, transB: true, m: 3, n: 5, k: 65, alpha: -2, beta: 0.25 },
  { batch: 1, transA: false, transB: false, m: 64, n: 1, k: 31, alpha: 1, beta: 0 },
  { batch: 1, transA: false, transB: true, m: 9, n: 15, k: 1, alpha: 1, beta: 0 },
  { batch: 3, transA: false, transB: false, m: 5, n: 9, k: 13, alpha: 1, beta: 0, sharedA: true },
  { batch: 2, transA: true, transB: false, m: 6, n: 11, k: 10, alpha: 1, beta: 0.5, gapA: 5 },
  { batch: 1, transA: false, transB: false, m: 97, n: 131, k: 300, alpha: 1, beta: 0 },
  { batch: 1, transA: true, transB: false, m: 70, n: 67, k: 259, alpha: 1, beta: 1 },
];

kernelTest("gemm", (compare) => {
  const gen = new Gen(101);
  for (const c of gemmCases) {
    const sizeA = c.m * c.k, sizeB = c.k * c.n, sizeC = c.m * c.n;
    const strideA = c.sharedA ? 0 : sizeA + (c.gapA ?? 0);
    const a = gen.f32(c.sharedA ? sizeA : c.batch * strideA);
    const b = gen.f32(c.batch * sizeB);
    // beta = 0 must ignore C's old contents: give it NaNs then.
    const c0 = c.beta === 0 ? gen.floats(new Float32Array(c.batch * sizeC).fill(NaN)) : gen.f32(c.batch * sizeC);
    const maxC = c.beta === 0 ? 0 : maxAbs(c0);
    // Each element: k products of |alpha|·|a|·|b| plus the beta term.
    const tol = { atol: sumTol(c.k, Math.abs(c.alpha) * maxAbs(a) * maxAbs(b)) + 1e-6 * Math.abs(c.beta) * maxC, rtol: 1e-6 };
    compare(describe(c), gen, (k, out) => {
      const cOut = out.copyOf(c0);
      k.gemm(c.batch, c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, strideA, b, sizeB, c.beta, cOut, sizeC);
      return { c: cOut };
    }, { c: { tol, shape: [c.batch, c.m, c.n] } });
  }
});

// ---- convolution ------------------------------------------------------------------------------------

interface ConvCase { shape: ConvShape; bias: boolean; act: ActOp; alpha: number }

function conv(n: number, cIn: number, h: number, w: number, cOut: number, k: number | [number, number],
  opts: { stride?: [number, number]; pad?: [number, number]; dil?: [number, number]; groups?: number } = {}): ConvShape {
  const [kh, kw] = typeof k === "number" ? [k, k] : k;
  const [strideH, strideW] = opts.stride ?? [1, 1];
  const [padH, padW] = opts.pad ?? [0, 0];
  const [dilH, dilW] = opts.dil ?? [1, 1];
  return { n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilH, dilW, groups: opts.groups ?? 1 };
}

const convCases: ConvCase[] = [
  { shape: conv(1, 1, 1, 1, 1, 1), bias: false, act: Act.none, alpha: 0 },
  { shape: conv(2, 3, 7, 9, 5, 3, { pad: [1, 1] }), bias: true, act: Act.none, alpha: 0 },
  { shape: conv(1, 3, 17, 17, 4, 7, { stride: [2, 2], pad: [3, 3] }), bias: false, act: Act.relu, alpha: 0 },
  { shape: conv(2, 4, 9, 8, 6, [3, 2], { stride: [2, 1], pad: [2, 1], dil: [2, 1], groups: 2 }), bias: true, act: Act.silu, alpha: 0 },
  { shape: conv(2, 8, 11, 10, 8, 3, { stride: [2, 2], pad: [1, 1], groups: 8 }), bias: true, act: Act.relu6, alpha: 0 },
  { shape: conv(1, 3, 9, 7, 6, 5, { pad: [2, 2], groups: 3 }), bias: true, act: Act.hardswish, alpha: 0 },
  { shape: conv(3, 17, 5, 7, 33, 1), bias: true, act: Act.leakyRelu, alpha: 0.1 },
  { shape: conv(1, 7, 9, 9, 3, 1, { stride: [2, 2] }), bias: false, act: Act.none, alpha: 0 },
  { shape: conv(1, 5, 13, 12, 7, 3, { pad: [2, 2], dil: [2, 2] }), bias: true, act: Act.none, alpha: 0 },
  { shape: conv(2, 33, 10, 9, 17, 3, { pad: [1, 1] }), bias: true, act: Act.relu, alpha: 0 },
  { shape: conv(1, 2, 7, 7, 3, 7), bias: true, act: Act.none, alpha: 0 },
  { shape: conv(1, 16, 6, 6, 16, 3, { stride: [2, 2], pad: [1, 1], groups: 16 }), bias: false, act: Act.silu, alpha: 0 },
  // Enough images x pixels that the native weight gradient sums slices of images (5 images in 3 slices, and grouped).
  { shape: conv(5, 2, 21, 20, 3, 3, { pad: [1, 1] }), bias: true, act: Act.none, alpha: 0 },
  { shape: conv(11, 4, 16, 16, 6, 3, { pad: [1, 1], groups: 2 }), bias: false, act: Act.relu, alpha: 0 },
];

function convSizes(s: ConvShape): { x: number; w: number; y: number; outH: number; outW: number } {
  const g = convGeom(s);
  const outH = g[14], outW = g[15];
  return { x: s.n * s.cIn * s.h * s.w, w: s.cOut * (s.cIn / s.groups) * s.kh * s.kw, y: s.n * s.cOut * outH * outW, outH, outW };
}

kernelTest("conv2d", (compare) => {
  const gen = new Gen(201);
  for (const c of convCases) {
    const s = c.shape, sz = convSizes(s), g = convGeom(s);
    const x = gen.f32(sz.x), w = gen.f32(sz.w), bias = c.bias ? gen.f32(s.cOut) : null;
    // cIn/groups·kh·kw products per output; the activation's slope is at most 1.5 (hardswish at 3).
    const k = (s.cIn / s.groups) * s.kh * s.kw;
    const tol = { atol: 1.5 * (sumTol(k, maxAbs(x) * maxAbs(w)) + 1e-6 * maxAbs(bias ?? [])), rtol: 1e-6 };
    compare(describe({ ...s, bias: c.bias, act: c.act }), gen, (kern, out) => {
      const y = out.f32(sz.y);
      kern.conv2d(g, x, w, bias, y, c.act, c.alpha);
      return { y };
    }, { y: { tol, shape: [s.n, s.cOut, sz.outH, sz.outW] } });
  }
});

kernelTest("conv2dBackwardInput", (compare) => {
  const gen = new Gen(202);
  for (const c of convCases) {
    const s = c.shape, sz = convSizes(s), g = convGeom(s);
    const dy = gen.f32(sz.y), w = gen.f32(sz.w);
    // At most cOut/groups·kh·kw products reach one input element.
    const tol = summed((s.cOut / s.groups) * s.kh * s.kw, maxAbs(dy) * maxAbs(w));
    compare(describe(s), gen, (k, out) => {
      const dx = out.f32(sz.x);
      k.conv2dBackwardInput(g, dy, w, dx);
      return { dx };
    }, { dx: { tol, shape: [s.n, s.cIn, s.h, s.w] } });
  }
});

kernelTest("conv2dBackwardWeight", (compare) => {
  const gen = new Gen(203);
  for (const c of convCases) {
    const s = c.shape, sz = convSizes(s), g = convGeom(s);
    const x = gen.f32(sz.x), dy = gen.f32(sz.y);
    // n·outH·outW products per weight and per bias element.
    const k = s.n * sz.outH * sz.outW;
    compare(describe({ ...s, bias: c.bias }), gen, (kern, out) => {
      const dw = out.f32(sz.w), dbias = c.bias ? out.f32(s.cOut) : null;
      kern.conv2dBackwardWeight(g, x, dy, dw, dbias);
      const grads: Record<string, Output> = dbias ? { dw, dbias } : { dw };
      return grads;
    }, {
      dw: { tol: summed(k, maxAbs(x) * maxAbs(dy)), shape: [s.cOut, s.cIn / s.groups, s.kh, s.kw] },
      dbias: { tol: summed(k, maxAbs(dy)) },
    });
  }
});

// ---- batch norm -----------------------------------------------------------------------------------

interface BnCase { n: number; c: number; hw: number; lo: number; hi: number; affine: boolean; running: boolean; eps: number; momentum: number }

const bnCases: BnCase[] = [
  { n: 1, c: 3, hw: 7, lo: -2, hi: 3, affine: true, running: true, eps: 1e-5, momentum: 0.1 },
  { n: 2, c: 5, hw: 17, lo: -2, hi: 3, affine: false, running: true, eps: 1e-5, momentum: 0.1 },
  { n: 4, c: 16, hw: 1, lo: -2, hi: 3, affine: true, running: false, eps: 1e-3, momentum: 0.3 },
  { n: 3, c: 7, hw: 33, lo: -2, hi: 3, affine: true, running: true, eps: 1e-5, momentum: 0.01 },
  { n: 2, c: 33, hw: 49, lo: -2, hi: 3, affine: true, running: true, eps: 1e-5, momentum: 0.1 },
  // A large mean against a small spread: a one-pass E[x²] - E[x]² in float32 loses it.
  { n: 2, c: 4, hw: 25, lo: 10, hi: 12, affine: true, running: true, eps: 1e-5, momentum: 0.1 },
];

/** Per-channel statistics of x [n, c, hw] in double: mean, max |x - mean|, 1/sqrt(var + eps). */
function channelStats(b: BnCase, x: F32): { maxMean: number; maxDev: number; maxInvStd: number } {
  let maxMean = 0, maxDev = 0, maxInvStd = 0;
  const m = b.n * b.hw;
  for (let ch = 0; ch < b.c; ch++) {
    const vals: number[] = [];
    for (let i = 0; i < b.n; i++) for (let p = 0; p < b.hw; p++) vals.push(x[(i * b.c + ch) * b.hw + p]);
    const mean = vals.reduce((s, v) => s + v, 0) / m;
    const variance = vals.reduce((s, v) => s + (v - mean) ** 2, 0) / m;
    maxMean = Math.max(maxMean, Math.abs(mean));
    maxDev = Math.max(maxDev, ...vals.map((v) => Math.abs(v - mean)));
    maxInvStd = Math.max(maxInvStd, 1 / Math.sqrt(variance + b.eps));
  }
  return { maxMean, maxDev, maxInvStd };
}

function bnInputs(gen: Gen, b: BnCase) {
  return {
    x: gen.f32(b.n * b.c * b.hw, b.lo, b.hi),
    weight: b.affine ? gen.f32(b.c, 0.5, 1.5) : null,
    bias: b.affine ? gen.f32(b.c, -0.5, 0.5) : null,
    runningMean: gen.f32(b.c, -0.5, 0.5),
    runningVar: gen.f32(b.c, 0.5, 2),
  };
}

kernelTest("batchNormTrain", (compare) => {
  const gen = new Gen(301);
  for (const b of bnCases) {
    const { x, weight, bias, runningMean, runningVar } = bnInputs(gen, b);
    const m = b.n * b.hw, st = channelStats(b, x), maxW = weight ? maxAbs(weight) : 1;
    // The mean is a sum of m terms |x| / m, then rounded to float32 (half an ulp of |mean|).
    const meanErr = sumTol(m, maxAbs(x)) / m + 1e-7 * st.maxMean;
    // The biased variance is a sum of m terms (x - mean)² / m; invStd's relative error is half
    // the variance's relative error.
    const varErr = sumTol(m, st.maxDev ** 2) / m;
    const invStdRel = 0.5 * varErr * st.maxInvStd ** 2 + 1e-6;
    // y = (x - mean)·invStd·w + b moves by w·invStd·meanErr and by w·|x - mean|·invStd·invStdRel.
    const yErr = maxW * st.maxInvStd * (meanErr + st.maxDev * invStdRel);
    compare(describe(b), gen, (k, out) => {
      const y = out.f32(x.length), saveMean = out.f32(b.c), saveInvStd = out.f32(b.c);
      const rm = b.running ? out.copyOf(runningMean) : null, rv = b.running ? out.copyOf(runningVar) : null;
      k.batchNormTrain(b.n, b.c, b.hw, x, weight, bias, b.eps, b.momentum, rm, rv, y, saveMean, saveInvStd, Act.none, 0, null);
      return { y, saveMean, saveInvStd, ...(rm && rv ? { runningMean: rm, runningVar: rv } : {}) };
    }, {
      y: { tol: { atol: yErr, rtol: 1e-6 }, shape: [b.n, b.c, b.hw] },
      saveMean: { tol: { atol: meanErr, rtol: 1e-6 } },
      saveInvStd: { tol: { atol: 0, rtol: invStdRel } },
      runningMean: { tol: { atol: b.momentum * meanErr + 1e-6 * maxAbs(runningMean), rtol: 1e-6 } },
      runningVar: { tol: { atol: b.momentum * varErr * (m / (m - 1)) + 1e-6 * maxAbs(runningVar), rtol: 1e-6 } },
    });
  }
});

kernelTest("batchNormInference", (compare) => {
  const gen = new Gen(302);
  for (const b of bnCases) {
    const { x, weight, bias, runningMean, runningVar } = bnInputs(gen, b);
    // Element-wise, but (x - mean) may cancel: the error scales with |x| + |mean|, times w·invStd.
    const scale = (weight ? maxAbs(weight) : 1) / Math.sqrt(Math.min(...runningVar) + b.eps);
    const tol = { atol: 1e-6 * ((maxAbs(x) + maxAbs(runningMean)) * scale + maxAbs(bias ?? [])), rtol: 1e-6 };
    compare(describe(b), gen, (k, out) => {
      const y = out.f32(x.length);
      k.batchNormInference(b.n, b.c, b.hw, x, weight, bias, runningMean, runningVar, b.eps, y);
      return { y };
    }, { y: { tol, shape: [b.n, b.c, b.hw] } });
  }
});

kernelTest("batchNormBackward", (compare) => {
  const gen = new Gen(303);
  // The large-mean case is left to the forward: there xhat's own rounding dominates the sums.
  for (const b of bnCases.filter((c) => c.lo < 0)) {
    const { x, weight, bias } = bnInputs(gen, b);
    const saveMean = new Float32Array(b.c), saveInvStd = new Float32Array(b.c);
    referenceKernels.batchNormTrain(b.n, b.c, b.hw, x, weight, bias, b.eps, b.momentum, null, null,
      new Float32Array(x.length), saveMean, saveInvStd, Act.none, 0, null);
    const mean = gen.floats(saveMean), invStd = gen.floats(saveInvStd), dy = gen.f32(x.length);
    const m = b.n * b.hw, st = channelStats(b, x), maxW = weight ? maxAbs(weight) : 1, maxDy = maxAbs(dy);
    const maxXhat = st.maxDev * st.maxInvStd;
    // dx = w·invStd·(dy - Σdy/m - xhat·Σ(dy·xhat)/m): the two sums' errors divided by m, plus rounding.
    const sumDyErr = sumTol(m, maxDy), sumDyXhatErr = sumTol(m, maxDy * maxXhat);
    const dxErr = maxW * st.maxInvStd * ((sumDyErr + maxXhat * sumDyXhatErr) / m + 1e-6 * maxDy * (2 + maxXhat ** 2));
    compare(describe(b), gen, (k, out) => {
      const dx = out.f32(x.length), dweight = weight ? out.f32(b.c) : null, dbias = weight ? out.f32(b.c) : null;
      k.batchNormBackward(b.n, b.c, b.hw, x, dy, weight, mean, invStd, dx, dweight, dbias, Act.none, 0, null);
      return { dx, ...(dweight && dbias ? { dweight, dbias } : {}) };
    }, {
      dx: { tol: { atol: dxErr, rtol: 1e-6 }, shape: [b.n, b.c, b.hw] },
      dweight: { tol: summed(m, maxDy * maxXhat) },
      dbias: { tol: summed(m, maxDy) },
    });
  }
});

// ---- pooling and resampling --------------------------------------------------------------------------

function pool(n: number, c: number, h: number, w: number, k: number | [number, number], stride: number | [number, number],
  opts: { pad?: [number, number]; dil?: [number, number]; ceilMode?: boolean } = {}): PoolShape {
  const [kh, kw] = typeof k === "number" ? [k, k] : k;
  const [strideH, strideW] = typeof stride === "number" ? [stride, stride] : stride;
  const [padH, padW] = opts.pad ?? [0, 0];
  const [dilH, dilW] = opts.dil ?? [1, 1];
  return { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilH, dilW, ceilMode: opts.ceilMode ?? false };
}

const maxPoolCases: PoolShape[] = [
  pool(1, 1, 1, 1, 1, 1),
  pool(2, 3, 7, 7, 2, 2),
  pool(2, 3, 7, 7, 2, 2, { ceilMode: true }),
  pool(1, 4, 17, 17, 3, 2, { pad: [1, 1] }),
  pool(1, 2, 9, 11, [3, 2], [2, 3], { pad: [1, 1], ceilMode: true }),
  pool(2, 3, 13, 12, 3, 1, { pad: [1, 1], dil: [2, 2] }),
  pool(1, 5, 13, 13, 5, 1, { pad: [2, 2] }),
  pool(1, 3, 8, 9, 3, 3, { pad: [1, 1], ceilMode: true }),
  pool(3, 17, 6, 5, 2, 1),
  // 2×2 stride 2 (the native fast path): rows wider than a vector, odd sizes, batch × channels.
  pool(2, 3, 12, 70, 2, 2),
  pool(4, 8, 9, 33, 2, 2),
];

const avgPoolCases: PoolShape[] = [
  pool(1, 1, 1, 1, 1, 1),
  pool(2, 3, 7, 7, 2, 2),
  pool(2, 3, 7, 7, 2, 2, { ceilMode: true }),
  pool(1, 4, 17, 17, 3, 2, { pad: [1, 1] }),
  pool(1, 2, 9, 11, [3, 2], [2, 3], { pad: [1, 1], ceilMode: true }),
  pool(1, 3, 8, 9, 3, 3, { pad: [1, 1], ceilMode: true }),
  pool(2, 5, 7, 6, [4, 3], [3, 2], { pad: [2, 1] }),
  pool(1, 3, 6, 6, 3, 2, { pad: [1, 1], ceilMode: true }),
];

function poolSizes(s: PoolShape): { x: number; y: number; outH: number; outW: number } {
  const g = poolGeom(s);
  return { x: s.n * s.c * s.h * s.w, y: s.n * s.c * g[12] * g[13], outH: g[12], outW: g[13] };
}

/** How many windows of one axis can cover an input element: ceil(k·dil / stride), at least 1. */
function overlap(k: number, stride: number, dil = 1): number {
  return Math.max(1, Math.ceil(((k - 1) * dil + 1) / stride));
}

kernelTest("maxPool2d", (compare) => {
  const gen = new Gen(401);
  for (const s of maxPoolCases) {
    const sz = poolSizes(s), g = poolGeom(s);
    // Values on a coarse grid so windows often hold ties: the first maximum must win.
    const x = gen.quantized(sz.x, -2, 2, 0.25);
    const shape = [s.n, s.c, sz.outH, sz.outW];
    compare(describe(s), gen, (k, out) => {
      const y = out.f32(sz.y), indices = out.i32(sz.y);
      k.maxPool2d(g, x, y, indices);
      return { y, indices };
    }, { y: { tol: "exact", shape }, indices: { tol: "exact", shape } });
  }
  // NaN wins its window and the later of two NaNs wins (PyTorch's rule), on the fast 2×2 path and the general one.
  for (const s of [pool(2, 3, 8, 40, 2, 2), pool(1, 2, 9, 9, 3, 2, { pad: [1, 1] })]) {
    const sz = poolSizes(s), g = poolGeom(s);
    const x = gen.quantized(sz.x, -2, 2, 0.25);
    for (let i = 0; i < x.length; i += 7) x[i] = NaN;
    const shape = [s.n, s.c, sz.outH, sz.outW];
    compare(`${describe(s)} with NaNs`, gen, (k, out) => {
      const y = out.f32(sz.y), indices = out.i32(sz.y);
      k.maxPool2d(g, x, y, indices);
      return { y, indices };
    }, { y: { tol: "exact", shape }, indices: { tol: "exact", shape } });
  }
});

kernelTest("maxPool2dBackward", (compare) => {
  const gen = new Gen(402);
  for (const s of maxPoolCases) {
    const sz = poolSizes(s), g = poolGeom(s);
    const x = gen.quantized(sz.x, -2, 2, 0.25);
    const y = new Float32Array(sz.y), idx = new Int32Array(sz.y);
    referenceKernels.maxPool2d(g, x, y, idx);
    const indices = gen.ints(idx), dy = gen.f32(sz.y);
    const k = overlap(s.kh, s.strideH, s.dilH) * overlap(s.kw, s.strideW, s.dilW);
    compare(describe(s), gen, (kern, out) => {
      const dx = out.f32(sz.x);
      kern.maxPool2dBackward(g, dy, indices, dx);
      return { dx };
    }, { dx: { tol: summed(k, maxAbs(dy)), shape: [s.n, s.c, s.h, s.w] } });
  }
});

kernelTest("avgPool2d", (compare) => {
  const gen = new Gen(403);
  for (const s of avgPoolCases) {
    for (const countIncludePad of [true, false]) {
      const sz = poolSizes(s), g = poolGeom(s);
      const x = gen.f32(sz.x);
      compare(describe({ ...s, countIncludePad }), gen, (k, out) => {
        const y = out.f32(sz.y);
        k.avgPool2d(g, countIncludePad, x, y);
        return { y };
      }, { y: { tol: summed(s.kh * s.kw, maxAbs(x)), shape: [s.n, s.c, sz.outH, sz.outW] } });
    }
  }
});

kernelTest("avgPool2dBackward", (compare) => {
  const gen = new Gen(404);
  for (const s of avgPoolCases) {
    for (const countIncludePad of [true, false]) {
      const sz = poolSizes(s), g = poolGeom(s);
      const dy = gen.f32(sz.y);
      const k = overlap(s.kh, s.strideH) * overlap(s.kw, s.strideW);
      compare(describe({ ...s, countIncludePad }), gen, (kern, out) => {
        const dx = out.f32(sz.x);
        kern.avgPool2dBackward(g, countIncludePad, dy, dx);
        return { dx };
      }, { dx: { tol: summed(k, maxAbs(dy)), shape: [s.n, s.c, s.h, s.w] } });
    }
  }
});

interface ResizeCase { n: number; c: number; h: number; w: number; outH: number; outW: number }

const adaptiveCases: ResizeCase[] = [
  { n: 1, c: 1, h: 1, w: 1, outH: 1, outW: 1 },
  { n: 2, c: 3, h: 7, w: 7, outH: 1, outW: 1 },
  { n: 1, c: 4, h: 7, w: 9, outH: 3, outW: 4 },
  { n: 2, c: 2, h: 5, w: 5, outH: 5, outW: 5 },
  { n: 1, c: 3, h: 17, w: 13, outH: 7, outW: 5 },
  { n: 1, c: 2, h: 3, w: 4, outH: 6, outW: 7 },
];

const upsampleCases: ResizeCase[] = [
  { n: 1, c: 1, h: 1, w: 1, outH: 3, outW: 3 },
  { n: 2, c: 3, h: 3, w: 4, outH: 6, outW: 8 },
  { n: 1, c: 2, h: 5, w: 7, outH: 10, outW: 21 },
  { n: 1, c: 3, h: 7, w: 5, outH: 3, outW: 2 },
  { n: 2, c: 2, h: 3, w: 5, outH: 7, outW: 11 },
];

/** Elements of an adaptive bin of `size` split into `out` bins (the largest bin) and bins per element. */
function adaptiveExtent(size: number, out: number): { bin: number; cover: number } {
  let bin = 0, cover = 0;
  const count = new Array<number>(size).fill(0);
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * size) / out), end = Math.ceil(((i + 1) * size) / out);
    bin = Math.max(bin, end - start);
    for (let j = start; j < end; j++) cover = Math.max(cover, ++count[j]);
  }
  return { bin, cover };
}

kernelTest("adaptiveAvgPool2d", (compare) => {
  const gen = new Gen(405);
  for (const r of adaptiveCases) {
    const x = gen.f32(r.n * r.c * r.h * r.w);
    const k = adaptiveExtent(r.h, r.outH).bin * adaptiveExtent(r.w, r.outW).bin;
    compare(describe(r), gen, (kern, out) => {
      const y = out.f32(r.n * r.c * r.outH * r.outW);
      kern.adaptiveAvgPool2d(r.n, r.c, r.h, r.w, r.outH, r.outW, x, y);
      return { y };
    }, { y: { tol: summed(k, maxAbs(x)), shape: [r.n, r.c, r.outH, r.outW] } });
  }
});

kernelTest("adaptiveAvgPool2dBackward", (compare) => {
  const gen = new Gen(406);
  for (const r of adaptiveCases) {
    const dy = gen.f32(r.n * r.c * r.outH * r.outW);
    const k = adaptiveExtent(r.h, r.outH).cover * adaptiveExtent(r.w, r.outW).cover;
    compare(describe(r), gen, (kern, out) => {
      const dx = out.f32(r.n * r.c * r.h * r.w);
      kern.adaptiveAvgPool2dBackward(r.n, r.c, r.h, r.w, r.outH, r.outW, dy, dx);
      return { dx };
    }, { dx: { tol: summed(k, maxAbs(dy)), shape: [r.n, r.c, r.h, r.w] } });
  }
});

kernelTest("upsampleNearest2d", (compare) => {
  const gen = new Gen(407);
  for (const r of upsampleCases) {
    const x = gen.f32(r.n * r.c * r.h * r.w);
    compare(describe(r), gen, (k, out) => {
      const y = out.f32(r.n * r.c * r.outH * r.outW);
      k.upsampleNearest2d(r.n, r.c, r.h, r.w, r.outH, r.outW, x, y);
      return { y };
    }, { y: { tol: "exact", shape: [r.n, r.c, r.outH, r.outW] } }); // pure data movement
  }
});

kernelTest("upsampleNearest2dBackward", (compare) => {
  const gen = new Gen(408);
  for (const r of upsampleCases) {
    const dy = gen.f32(r.n * r.c * r.outH * r.outW);
    // Each input element gathers at most ceil(out/in) + 1 rows and columns.
    const k = (Math.ceil(r.outH / r.h) + 1) * (Math.ceil(r.outW / r.w) + 1);
    compare(describe(r), gen, (kern, out) => {
      const dx = out.f32(r.n * r.c * r.h * r.w);
      kern.upsampleNearest2dBackward(r.n, r.c, r.h, r.w, r.outH, r.outW, dy, dx);
      return { dx };
    }, { dx: { tol: summed(k, maxAbs(dy)), shape: [r.n, r.c, r.h, r.w] } });
  }
});

// ---- element-wise ------------------------------------------------------------------------------------

/** Odd lengths around vector widths, and one long enough to be split across threads. */
const LENGTHS = [1, 7, 33, 1003, 40009];

/** Parameters and input range per unary op; the points where a gradient changes piece come first. */
const unarySetup: Record<keyof typeof Unary, { alpha: number; beta: number; lo: number; hi: number; edges: number[] }> = {
  relu: { alpha: 0, beta: 0, lo: -4, hi: 4, edges: [0] },
  relu6: { alpha: 0, beta: 0, lo: -2, hi: 8, edges: [0, 6] },
  leakyRelu: { alpha: 0.1, beta: 0, lo: -4, hi: 4, edges: [0] },
  silu: { alpha: 0, beta: 0, lo: -8, hi: 8, edges: [0] },
  sigmoid: { alpha: 0, beta: 0, lo: -8, hi: 8, edges: [0] },
  tanh: { alpha: 0, beta: 0, lo: -5, hi: 5, edges: [0] },
  hardswish: { alpha: 0, beta: 0, lo: -5, hi: 5, edges: [-3, 3, 0] },
  hardsigmoid: { alpha: 0, beta: 0, lo: -5, hi: 5, edges: [-3, 3, 0] },
  exp: { alpha: 0, beta: 0, lo: -8, hi: 4, edges: [0] },
  log: { alpha: 0, beta: 0, lo: 0.05, hi: 8, edges: [1] },
  sqrt: { alpha: 0, beta: 0, lo: 0.05, hi: 8, edges: [1] },
  neg: { alpha: 0, beta: 0, lo: -4, hi: 4, edges: [0] },
  abs: { alpha: 0, beta: 0, lo: -4, hi: 4, edges: [0] },
  clamp: { alpha: -1.5, beta: 2, lo: -4, hi: 4, edges: [-1.5, 2] },
  square: { alpha: 0, beta: 0, lo: -4, hi: 4, edges: [0] },
  affine: { alpha: 1.5, beta: -0.25, lo: -4, hi: 4, edges: [0] },
  reciprocal: { alpha: 0, beta: 0, lo: 0.1, hi: 4, edges: [1] },
};

function unaryInput(gen: Gen, name: keyof typeof Unary, n: number): F32 {
  const s = unarySetup[name];
  const values = Array.from({ length: n }, () => gen.between(s.lo, s.hi));
  s.edges.forEach((v, i) => { if (i < n) values[i] = v; });
  // reciprocal also on negatives: flip every other element's sign.
  if (name === "reciprocal") values.forEach((v, i) => { values[i] = i % 2 ? -v : v; });
  return gen.floats(values);
}

kernelTest("unary", (compare) => {
  const gen = new Gen(501);
  for (const name of Object.keys(Unary) as (keyof typeof Unary)[]) {
    const op: UnaryOp = Unary[name], { alpha, beta } = unarySetup[name];
    for (const n of LENGTHS) {
      const x = unaryInput(gen, name, n);
      compare(describe({ op: name, n }), gen, (k, out) => {
        const y = out.f32(n);
        k.unary(op, x, y, alpha, beta);
        return { y };
      }, { y: { tol: ELEMENTWISE } });
    }
    // In place (y may be x).
    const x = unaryInput(gen, name, 33);
    compare(describe({ op: name, n: 33, inPlace: true }), gen, (k, out) => {
      const y = out.copyOf(x);
      k.unary(op, y, y, alpha, beta);
      return { y };
    }, { y: { tol: ELEMENTWISE } });
  }
});

kernelTest("unaryBackward", (compare) => {
  const gen = new Gen(502);
  for (const name of Object.keys(Unary) as (keyof typeof Unary)[]) {
    const op: UnaryOp = Unary[name], { alpha, beta } = unarySetup[name];
    for (const n of [...LENGTHS, -33]) {
      const inPlace = n < 0, len = Math.abs(n);
      const x = unaryInput(gen, name, len);
      const yRef = new Float32Array(len);
      referenceKernels.unary(op, x, yRef, alpha, beta);
      const y = gen.floats(yRef), dy = gen.f32(len);
      compare(describe({ op: name, n: len, inPlace }), gen, (k, out) => {
        // In place: dx may be dy.
        const dx = inPlace ? out.copyOf(dy) : out.f32(len);
        k.unaryBackward(op, x, y, inPlace ? dx : dy, dx, alpha, beta);
        return { dx };
      }, { dx: { tol: ELEMENTWISE } });
    }
  }
});

/** Element strides of an operand of shape `inShape` (right-aligned) broadcast to `outShape`. */
function broadcastStrides(inShape: number[], outShape: number[]): Int32Array {
  const strides = new Int32Array(outShape.length);
  let s = 1;
  for (let d = inShape.length - 1; d >= 0; d--) {
    const od = d + outShape.length - inShape.length;
    strides[od] = inShape[d] === 1 && outShape[od] !== 1 ? 0 : s;
    s *= inShape[d];
  }
  return strides;
}

const numel = (shape: number[]): number => shape.reduce((p, v) => p * v, 1);

interface BinaryCase { name: string; a: number[]; b: number[]; out: number[]; transposeA?: boolean }

const binaryCases: BinaryCase[] = [
  { name: "same shape", a: [7, 17], b: [7, 17], out: [7, 17] },
  { name: "long", a: [40009], b: [40009], out: [40009] },
  { name: "scalar b", a: [3, 5, 7], b: [], out: [3, 5, 7] },
  { name: "scalar a", a: [], b: [17], out: [17] },
  { name: "per-channel", a: [2, 3, 5, 7], b: [1, 3, 1, 1], out: [2, 3, 5, 7] },
  { name: "row", a: [5, 33], b: [1, 33], out: [5, 33] },
  { name: "inner (column)", a: [5, 33], b: [5, 1], out: [5, 33] },
  { name: "both broadcast", a: [4, 1, 7], b: [1, 5, 7], out: [4, 5, 7] },
  { name: "rank 5", a: [2, 3, 1, 4, 5], b: [1, 3, 6, 1, 5], out: [2, 3, 6, 4, 5] },
  { name: "rank 0", a: [], b: [], out: [] },
  { name: "transposed a", a: [7, 5], b: [5, 7], out: [5, 7], transposeA: true },
];

kernelTest("binary", (compare) => {
  const gen = new Gen(503);
  for (const [opName, op] of Object.entries(Binary) as [string, BinaryOp][]) {
    // +, -, *, max, min of float32 values are correctly rounded in float32 and in double-then-float32
    // alike, so they must match exactly; division allows 1e-6 (a kernel may multiply by a reciprocal).
    const tol: Tol = op === Binary.div ? ELEMENTWISE : "exact";
    for (const c of binaryCases) {
      const a = gen.f32(numel(c.a), -4, 4);
      const bValues = Array.from({ length: numel(c.b) }, () => gen.between(0.5, 2) * (gen.uniform() < 0.5 ? -1 : 1));
      const b = gen.floats(bValues); // away from 0, for division
      const aStrides = c.transposeA ? Int32Array.of(1, 5) : broadcastStrides(c.a, c.out);
      const bStrides = broadcastStrides(c.b, c.out), shape = Int32Array.from(c.out);
      compare(describe({ op: opName, case: c.name, a: c.a, b: c.b }), gen, (k, out) => {
        const o = out.f32(numel(c.out));
        k.binary(op, a, aStrides, b, bStrides, o, shape);
        return { out: o };
      }, { out: { tol, shape: c.out } });
    }
  }
});

kernelTest("axpy", (compare) => {
  const gen = new Gen(504);
  for (const n of LENGTHS) {
    for (const alpha of [0.3, -2]) {
      const x = gen.f32(n), y0 = gen.f32(n);
      // y + alpha·x may cancel: the bound scales with |y| + |alpha·x|.
      const tol = { atol: 1e-6 * (maxAbs(y0) + Math.abs(alpha) * maxAbs(x)), rtol: 1e-6 };
      compare(describe({ n, alpha }), gen, (k, out) => {
        const y = out.copyOf(y0);
        k.axpy(alpha, x, y);
        return { y };
      }, { y: { tol } });
    }
  }
});

kernelTest("fill", (compare) => {
  const gen = new Gen(505);
  for (const n of LENGTHS) {
    for (const value of [0, 0.1, -3.5]) {
      compare(describe({ n, value }), gen, (k, out) => {
        const o = out.f32(n);
        k.fill(o, value);
        return { out: o };
      }, { out: { tol: "exact" } }); // the value rounded to float32, everywhere
    }
  }
});

interface CopyCase { name: string; shape: number[]; src: number[]; srcOffset: number; srcLength: number; dst: number[]; dstOffset: number; dstLength: number }

/** Strides of the permuted view of a contiguous tensor of shape `base`: dims taken in `perm` order. */
function permutedStrides(base: number[], perm: number[]): number[] {
  const contiguous = Array.from(broadcastStrides(base, base));
  return perm.map((d) => contiguous[d]);
}

const copyCases: CopyCase[] = [
  { name: "2-D transpose", shape: [7, 5], src: permutedStrides([5, 7], [1, 0]), srcOffset: 0, srcLength: 35, dst: [5, 1], dstOffset: 0, dstLength: 35 },
  { name: "NCHW to NHWC", shape: [2, 5, 7, 3], src: permutedStrides([2, 3, 5, 7], [0, 2, 3, 1]), srcOffset: 0, srcLength: 210, dst: [105, 21, 3, 1], dstOffset: 0, dstLength: 210 },
  { name: "rank-5 permute", shape: [2, 5, 3, 6, 4], src: permutedStrides([2, 3, 4, 5, 6], [0, 3, 1, 4, 2]), srcOffset: 0, srcLength: 720, dst: [360, 72, 24, 4, 1], dstOffset: 0, dstLength: 720 },
  // slice x[1:4, 2:9] of a [5, 11] tensor
  { name: "slice", shape: [3, 7], src: [11, 1], srcOffset: 13, srcLength: 55, dst: [7, 1], dstOffset: 0, dstLength: 21 },
  // the second part of cat([a [2,3,5], b [2,4,5]], dim 1) into [2,7,5]
  { name: "concat into", shape: [2, 4, 5], src: [20, 5, 1], srcOffset: 0, srcLength: 40, dst: [35, 5, 1], dstOffset: 15, dstLength: 70 },
  { name: "expand", shape: [3, 4, 17], src: [0, 17, 1], srcOffset: 0, srcLength: 68, dst: [68, 17, 1], dstOffset: 0, dstLength: 204 },
  { name: "long inner", shape: [3, 1003], src: [1, 3], srcOffset: 0, srcLength: 3009, dst: [1003, 1], dstOffset: 0, dstLength: 3009 },
  { name: "rank 0", shape: [], src: [], srcOffset: 2, srcLength: 3, dst: [], dstOffset: 1, dstLength: 2 },
  { name: "size-1 dims", shape: [1, 7, 1], src: [7, 1, 7], srcOffset: 0, srcLength: 7, dst: [7, 1, 1], dstOffset: 0, dstLength: 7 },
  { name: "empty", shape: [3, 0, 2], src: [0, 2, 1], srcOffset: 0, srcLength: 4, dst: [0, 2, 1], dstOffset: 0, dstLength: 4 },
];

kernelTest("copyStrided", (compare) => {
  const gen = new Gen(506);
  for (const c of copyCases) {
    const src = gen.f32(c.srcLength);
    compare(describe({ case: c.name, shape: c.shape }), gen, (k, out) => {
      // Elements of dst outside the copied region stay NaN in both runs.
      const dst = out.f32(c.dstLength);
      k.copyStrided(src, c.srcOffset, Int32Array.from(c.src), dst, c.dstOffset, Int32Array.from(c.dst), Int32Array.from(c.shape));
      return { dst };
    }, { dst: { tol: "exact" } }); // pure data movement
  }
});

// ---- reductions ---------------------------------------------------------------------------------------

const sumToCases: { x: number[]; out: number[] }[] = [
  { x: [2, 3, 5, 7], out: [1, 3, 1, 1] },
  { x: [5, 33], out: [1, 33] },
  { x: [5, 33], out: [5, 1] },
  { x: [3, 4, 5], out: [1, 1, 1] },
  { x: [17], out: [17] },
  { x: [2, 3, 4, 5, 6], out: [2, 1, 4, 1, 6] },
  { x: [40009], out: [1] },
  { x: [64, 37], out: [1, 37] },
  { x: [], out: [] },
];

kernelTest("sumTo", (compare) => {
  const gen = new Gen(601);
  for (const c of sumToCases) {
    const x = gen.f32(numel(c.x));
    const tol = summed(numel(c.x) / numel(c.out), maxAbs(x));
    compare(describe(c), gen, (k, out) => {
      const o = out.f32(numel(c.out));
      k.sumTo(x, Int32Array.from(c.x), o, Int32Array.from(c.out));
      return { out: o };
    }, { out: { tol, shape: c.out } });
  }
});

kernelTest("argmaxRows", (compare) => {
  const gen = new Gen(602);
  for (const [rows, cols] of [[1, 1], [7, 3], [33, 17], [5, 1003], [2, 40009]]) {
    // Few distinct values, so most rows hold ties: the first maximum must win.
    const x = gen.quantized(rows * cols, -2, 2, 0.5);
    compare(describe({ rows, cols }), gen, (k, out) => {
      const o = out.i32(rows);
      k.argmaxRows(rows, cols, x, o);
      return { out: o };
    }, { out: { tol: "exact" } });
  }
});

// ---- softmax and losses ----------------------------------------------------------------------------

const softmaxCases = [
  { outer: 1, dim: 1, inner: 1, lo: -8, hi: 8 },
  { outer: 1, dim: 10, inner: 1, lo: -8, hi: 8 },
  { outer: 3, dim: 7, inner: 1, lo: -8, hi: 8 },
  { outer: 2, dim: 17, inner: 5, lo: -8, hi: 8 },
  { outer: 4, dim: 33, inner: 3, lo: -8, hi: 8 },
  { outer: 1, dim: 1003, inner: 1, lo: -8, hi: 8 },
  // exp(100) overflows float32: only a max-subtracted softmax survives.
  { outer: 3, dim: 9, inner: 2, lo: 80, hi: 100 },
];

kernelTest("softmax", (compare) => {
  const gen = new Gen(701);
  for (const c of softmaxCases) {
    for (const log of [false, true]) {
      const x = gen.f32(c.outer * c.dim * c.inner, c.lo, c.hi);
      // Σ exp(x - max) has dim terms <= 1 and is >= 1: relative error sumTol(dim, 1). The log form adds
      // the rounding of x - max (up to the input's spread).
      const tol = log ? { atol: sumTol(c.dim, 1) + 1e-6 * (c.hi - c.lo), rtol: 1e-6 } : { atol: 1e-7, rtol: sumTol(c.dim, 1) + 1e-6 };
      compare(describe({ ...c, log }), gen, (k, out) => {
        const y = out.f32(x.length);
        k.softmax(c.outer, c.dim, c.inner, x, y, log);
        return { y };
      }, { y: { tol, shape: [c.outer, c.dim, c.inner] } });
    }
  }
});

kernelTest("softmaxBackward", (compare) => {
  const gen = new Gen(702);
  for (const c of softmaxCases) {
    for (const log of [false, true]) {
      const x = gen.f32(c.outer * c.dim * c.inner, c.lo, c.hi);
      const yRef = new Float32Array(x.length);
      referenceKernels.softmax(c.outer, c.dim, c.inner, x, yRef, log);
      const y = gen.floats(yRef), dy = gen.f32(x.length);
      const maxDy = maxAbs(dy);
      // softmax: dx = y·(dy - Σ dy·y), terms <= |dy|; log: dx = dy - exp(y)·Σ dy, exp(y) <= 1.
      const tol = { atol: sumTol(c.dim, maxDy) + 1e-6 * maxDy * (log ? c.dim : 1), rtol: 1e-6 };
      compare(describe({ ...c, log }), gen, (k, out) => {
        const dx = out.f32(x.length);
        k.softmaxBackward(c.outer, c.dim, c.inner, y, dy, dx, log);
        return { dx };
      }, { dx: { tol, shape: [c.outer, c.dim, c.inner] } });
    }
  }
});

interface CeCase { n: number; c: number; labelSmoothing: number; ignoreIndex: number; ignored: number }

const ceCases: CeCase[] = [
  { n: 1, c: 1, labelSmoothing: 0, ignoreIndex: -100, ignored: 0 },
  { n: 1, c: 10, labelSmoothing: 0, ignoreIndex: -100, ignored: 0 },
  { n: 4, c: 10, labelSmoothing: 0, ignoreIndex: -100, ignored: 0 },
  { n: 7, c: 10, labelSmoothing: 0.1, ignoreIndex: -100, ignored: 2 },
  // An ignore index inside [0, c): those rows are ignored, not scored.
  { n: 33, c: 17, labelSmoothing: 0.2, ignoreIndex: 3, ignored: 0 },
  { n: 5, c: 1003, labelSmoothing: 0.1, ignoreIndex: -1, ignored: 1 },
  { n: 64, c: 3, labelSmoothing: 0, ignoreIndex: -100, ignored: 5 },
];

function ceTargets(gen: Gen, c: CeCase): I32 {
  const t = Array.from({ length: c.n }, () => gen.int(0, c.c));
  for (let i = 0; i < c.ignored; i++) t[gen.int(0, c.n)] = c.ignoreIndex;
  return gen.ints(t);
}

kernelTest("crossEntropy", (compare) => {
  const gen = new Gen(801);
  for (const c of ceCases) {
    const logits = gen.f32(c.n * c.c, -6, 6), targets = ceTargets(gen, c);
    // loss = logsumexp - x_t: the relative error of Σ exp(x - max) (dim terms <= 1) plus the rounding
    // of x - max (the logits' spread, 12). Smoothing adds ls/c times a c-term sum of -logp, each
    // -logp <= spread + log c.
    const spread = 12, lse = sumTol(c.c, 1) + 1e-6 * spread;
    const lossTol = { atol: lse + c.labelSmoothing * (sumTol(c.c, spread + Math.log(c.c)) / c.c + lse), rtol: 1e-6 };
    compare(describe(c), gen, (k, out) => {
      const losses = out.f32(c.n), probs = out.f32(c.n * c.c);
      k.crossEntropy(c.n, c.c, logits, targets, c.labelSmoothing, c.ignoreIndex, losses, probs);
      return { losses, probs };
    }, {
      losses: { tol: lossTol },
      probs: { tol: { atol: 1e-7, rtol: sumTol(c.c, 1) + 1e-6 }, shape: [c.n, c.c] },
    });
  }
});

test("crossEntropy throws on a target outside [0, c) that is not the ignore index", () => {
  const native = requireNative("crossEntropy");
  const logits = new Float32Array(3 * 4), losses = new Float32Array(3), probs = new Float32Array(12);
  for (const bad of [4, -1, 1000]) {
    const targets = Int32Array.of(0, bad, 2);
    assert.throws(() => referenceKernels.crossEntropy(3, 4, logits, targets, 0, -100, losses, probs), new RegExp(`target ${bad}`));
    assert.throws(() => native.crossEntropy(3, 4, logits, targets, 0, -100, losses, probs), Error,
      `native crossEntropy accepted target ${bad} with c = 4`);
  }
});

kernelTest("crossEntropyBackward", (compare) => {
  const gen = new Gen(802);
  for (const c of ceCases) {
    const logits = gen.f32(c.n * c.c, -6, 6), targets = ceTargets(gen, c);
    const probsRef = new Float32Array(c.n * c.c);
    referenceKernels.crossEntropy(c.n, c.c, logits, targets, c.labelSmoothing, c.ignoreIndex, new Float32Array(c.n), probsRef);
    const probs = gen.floats(probsRef), dloss = gen.f32(c.n, 0, 1);
    compare(describe(c), gen, (k, out) => {
      const dlogits = out.f32(c.n * c.c);
      k.crossEntropyBackward(c.n, c.c, probs, targets, c.labelSmoothing, c.ignoreIndex, dloss, dlogits);
      return { dlogits };
    }, { dlogits: { tol: { atol: 1e-6 * maxAbs(dloss), rtol: 1e-6 }, shape: [c.n, c.c] } });
  }
});

function bceInputs(gen: Gen, n: number, hard: boolean): { x: F32; t: F32 } {
  // |x| up to 20, where a naive log(1 + exp(x)) loses everything.
  const x = gen.f32(n, -20, 20);
  const t = gen.floats(Array.from({ length: n }, () => (hard ? (gen.uniform() < 0.5 ? 0 : 1) : gen.uniform())));
  return { x, t };
}

kernelTest("bceWithLogits", (compare) => {
  const gen = new Gen(803);
  for (const n of LENGTHS) {
    for (const hard of [true, false]) {
      const { x, t } = bceInputs(gen, n, hard);
      // max(x,0) - x·t cancels terms of size |x|: the bound scales with 1 + |x|.
      compare(describe({ n, targets: hard ? "0/1" : "soft" }), gen, (k, out) => {
        const o = out.f32(n);
        k.bceWithLogits(x, t, o);
        return { out: o };
      }, { out: { tol: { atol: 1e-6 * (1 + maxAbs(x)), rtol: 1e-6 } } });
    }
  }
});

kernelTest("bceWithLogitsBackward", (compare) => {
  const gen = new Gen(804);
  for (const n of LENGTHS) {
    for (const hard of [true, false]) {
      const { x, t } = bceInputs(gen, n, hard);
      const dout = gen.f32(n);
      compare(describe({ n, targets: hard ? "0/1" : "soft" }), gen, (k, out) => {
        const dx = out.f32(n);
        k.bceWithLogitsBackward(x, t, dout, dx);
        return { dx };
      }, { dx: { tol: { atol: 1e-6 * maxAbs(dout), rtol: 1e-6 } } });
    }
  }
});

// ---- randomness ---------------------------------------------------------------------------------------

test("reference dropoutMask gives the documented hash's bits", () => {
  // Computed by hand with Python from the formula in kernels.ts: seedA 0xdeadbeef, seedB 12345, p 0.5.
  const expected = [2, 0, 0, 0, 0, 0, 0, 2, 0, 0, 2, 0, 2, 0, 0, 2, 0, 2, 2, 0];
  const mask = new Float32Array(20);
  referenceKernels.dropoutMask(0xdeadbeef, 12345, 0.5, mask);
  assert.deepEqual(Array.from(mask), expected);
});

kernelTest("dropoutMask", (compare) => {
  const gen = new Gen(901);
  const cases = [
    { seedA: 0, seedB: 0, p: 0.5, n: 1 },
    { seedA: 1, seedB: 2, p: 0.1, n: 7 },
    { seedA: 0xdeadbeef, seedB: 0x9e3779b9, p: 0.25, n: 1003 },
    { seedA: 123456789, seedB: 4000000000, p: 0.5, n: 40009 },
    { seedA: 7, seedB: 11, p: 0, n: 33 },
  ];
  for (const c of cases) {
    compare(describe(c), gen, (k, out) => {
      const mask = out.f32(c.n);
      k.dropoutMask(c.seedA, c.seedB, c.p, mask);
      return { mask };
    }, { mask: { tol: "exact" } }); // the same hash bits and the same float32 keep-scale, by contract
  }
});

// ---- optimizers ---------------------------------------------------------------------------------------

/** Parameter groups of odd sizes; one array per parameter tensor. */
const PARAM_SETS = [[1], [7, 33], [17, 1003, 3], [40009]];

/** Gradients with magnitudes spread over four decades (so Adam's eps matters for some). */
function gradients(gen: Gen, sizes: number[]): F32[] {
  return sizes.map((n) => gen.floats(Array.from({ length: n }, () => gen.between(-1, 1) * 10 ** gen.between(-4, 0))));
}

function named(prefix: string, arrays: F32[]): Record<string, F32> {
  return Object.fromEntries(arrays.map((a, i) => [`${prefix}${i}`, a]));
}

function checksFor(prefix: string, count: number, tol: Tol): Record<string, Check> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, { tol }]));
}

const STEPS = 3;

kernelTest("sgdStep", (compare) => {
  const gen = new Gen(1001);
  const configs = [
    { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 5e-4, nesterov: true },
    { lr: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.01, nesterov: false },
  ];
  for (const cfg of configs) {
    for (const sizes of PARAM_SETS) {
      const params = sizes.map((n) => gen.f32(n, -2, 2));
      const grads = Array.from({ length: STEPS }, () => gradients(gen, sizes));
      // Per step a few rounded ops on p and on buf (|buf| <= Σ 0.9^j·|d| < 3·max|d|); errors add over steps.
      const maxD = 1 + cfg.weightDecay * 2;
      const tolP = { atol: STEPS * 1e-6 * (maxAbs(...params) + cfg.lr * 6 * maxD), rtol: 1e-6 };
      const tolBuf = { atol: STEPS * 1e-6 * 3 * maxD, rtol: 1e-6 };
      compare(describe({ ...cfg, sizes }), gen, (k, out) => {
        const p = params.map((a) => out.copyOf(a)), bufs = sizes.map((n) => out.copyOf(new Float32Array(n)));
        for (let s = 0; s < STEPS; s++) {
          k.sgdStep(p, grads[s], bufs, cfg.lr, cfg.momentum, cfg.dampening, cfg.weightDecay, cfg.nesterov, s === 0);
        }
        // Without momentum the buffers are unused.
        return { ...named("param", p), ...(cfg.momentum !== 0 ? named("buf", bufs) : {}) };
      }, { ...checksFor("param", sizes.length, tolP), ...checksFor("buf", sizes.length, tolBuf) });
    }
  }
});

kernelTest("adamStep", (compare) => {
  const gen = new Gen(1002);
  const configs = [
    { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false },
    { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled: false },
    { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled: true },
    { lr: 1e-2, beta1: 0.8, beta2: 0.99, eps: 1e-4, weightDecay: 0.05, decoupled: true },
  ];
  for (const cfg of configs) {
    for (const sizes of PARAM_SETS) {
      const params = sizes.map((n) => gen.f32(n, -2, 2));
      const grads = Array.from({ length: STEPS }, () => gradients(gen, sizes));
      const maxP = maxAbs(...params), maxG = 1 + cfg.weightDecay * maxP;
      // Each step moves p by lr/(1-b1^t)·m/denom, |m/denom| <= ~1/sqrt(1-b2) (so < 32 here), in a
      // few rounded float32 ops; m and v are short recurrences on g and g².
      const stepSize = cfg.lr / (1 - cfg.beta1);
      const tolP = { atol: STEPS * (1e-6 * maxP + 1e-5 * stepSize * 32), rtol: 1e-6 };
      compare(describe({ ...cfg, sizes }), gen, (k, out) => {
        const p = params.map((a) => out.copyOf(a));
        const m = sizes.map((n) => out.copyOf(new Float32Array(n))), v = sizes.map((n) => out.copyOf(new Float32Array(n)));
        for (let s = 0; s < STEPS; s++) {
          k.adamStep(p, grads[s], m, v, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weightDecay, s + 1, cfg.decoupled);
        }
        return { ...named("param", p), ...named("expAvg", m), ...named("expAvgSq", v) };
      }, {
        ...checksFor("param", sizes.length, tolP),
        ...checksFor("expAvg", sizes.length, { atol: STEPS * 1e-6 * maxG, rtol: 1e-6 }),
        ...checksFor("expAvgSq", sizes.length, { atol: STEPS * 1e-6 * maxG ** 2, rtol: 1e-6 }),
      });
    }
  }
});

kernelTest("emaUpdate", (compare) => {
  const gen = new Gen(1003);
  for (const decay of [0.9999, 0.5]) {
    for (const sizes of PARAM_SETS) {
      const ema0 = sizes.map((n) => gen.f32(n, -2, 2)), values = sizes.map((n) => gen.f32(n, -2, 2));
      // Element-wise; the two terms may cancel, so the bound scales with |ema| + |value|.
      const tol = { atol: 1e-6 * (maxAbs(...ema0) + maxAbs(...values)), rtol: 1e-6 };
      compare(describe({ decay, sizes }), gen, (k, out) => {
        const ema = ema0.map((a) => out.copyOf(a));
        k.emaUpdate(ema, values, decay);
        return named("ema", ema);
      }, checksFor("ema", sizes.length, tol));
    }
  }
});

kernelTest("sumSquares", (compare) => {
  const gen = new Gen(1004);
  for (const sizes of [[], ...PARAM_SETS, [1003, 1003, 1003, 7]]) {
    const arrays = sizes.map((n) => gen.f32(n, -3, 3));
    // By contract the sum is in double: squares of float32 values are exact in double and the
    // order-dependent error of a double sum of K positive terms is < K·1.1e-16 of the total.
    compare(describe({ sizes }), gen, (k) => ({ sum: k.sumSquares(arrays) }), { sum: { tol: { atol: 0, rtol: 1e-9 } } });
  }
});

kernelTest("scaleArrays", (compare) => {
  const gen = new Gen(1005);
  for (const s of [0.3, -2, 0]) {
    for (const sizes of PARAM_SETS) {
      const arrays = sizes.map((n) => gen.f32(n, -3, 3));
      compare(describe({ s, sizes }), gen, (k, out) => {
        const xs = arrays.map((a) => out.copyOf(a));
        k.scaleArrays(xs, s);
        return named("x", xs);
      }, checksFor("x", sizes.length, ELEMENTWISE)); // one product (s may be rounded to float32 first)
    }
  }
});

kernelTest("allFinite", (compare) => {
  const gen = new Gen(1006);
  const poisoned = (sizes: number[], at: [number, number] | null, value: number): { sizes: number[]; at: string; value: number; arrays: F32[] } => {
    const arrays = sizes.map((n) => Array.from({ length: n }, () => gen.between(-3, 3)));
    if (at) arrays[at[0]][at[1]] = value;
    return { sizes, at: at ? `${at[0]}:${at[1]}` : "none", value, arrays: arrays.map((a) => gen.floats(a)) };
  };
  const cases = [
    poisoned([], null, 0),
    poisoned([7, 33], null, 0),
    poisoned([17], [0, 16], NaN), // in the vector tail
    poisoned([1003, 5], [0, 500], Infinity),
    poisoned([3, 40009], [1, 40008], -Infinity),
    poisoned([1, 1003], [0, 0], NaN),
    poisoned([40009], [0, 20000], 3.4e38), // the largest float32 values are finite
  ];
  for (const c of cases) {
    compare(describe({ sizes: c.sizes, at: c.at, value: c.value }), gen, (k) => ({ finite: k.allFinite(c.arrays) }),
      { finite: { tol: "exact" } });
  }
});

// ---- backend info and threads ----------------------------------------------------------------------

test("info names each backend", () => {
  assert.deepEqual(referenceKernels.info(), { name: "reference", isa: "js", threads: 1 });
  const native = requireNative("info");
  assert.equal(native.info().name, "native");
});

test("native setThreads leaves the bits of reductions unchanged", () => {
  const native = requireNative("setThreads");
  for (const kernel of ["gemm", "conv2dBackwardWeight", "sumTo", "sumSquares"] as const) requireNative(kernel);
  const gen = new Gen(1101);
  const a = gen.f32(64 * 300), b = gen.f32(300 * 96);
  const s = conv(4, 8, 15, 13, 16, 3, { pad: [1, 1] }), g = convGeom(s), sz = convSizes(s);
  const x = gen.f32(sz.x), dy = gen.f32(sz.y), big = gen.f32(40009);
  const run = (): ArrayBufferView[] => {
    const c = new Float32Array(64 * 96), dw = new Float32Array(sz.w), dbias = new Float32Array(s.cOut), sum = new Float32Array(1);
    native.gemm(1, false, false, 64, 96, 300, 1, a, 0, b, 0, 0, c, 0);
    native.conv2dBackwardWeight(g, x, dy, dw, dbias);
    native.sumTo(big, Int32Array.of(40009), sum, Int32Array.of(1));
    return [c, dw, dbias, sum, Float64Array.of(native.sumSquares([big, a]))];
  };
  const threads = native.info().threads;
  try {
    native.setThreads(1);
    const one = run();
    native.setThreads(3);
    const three = run();
    one.forEach((v, i) => assert.ok(sameBits(v, three[i]), `result #${i} differs between 1 and 3 threads`));
  } finally {
    native.setThreads(threads);
  }
});
