// The native kernels other than gemm and convolution, against straightforward
// double-precision oracles written here, on odd shapes, on every ISA path
// (child processes with KILN_ISA=avx2 / scalar) and with the same bits for
// KILN_THREADS=1 and 2 (child processes printing a digest of every output).
//
// Tolerances (|got - want| <= rtol·|want| + atol, per element, want in double):
// - exact (0): outputs that are one input value or one correctly rounded float
//   operation (relu, clamp, max pool, copies, binary ops, masks, indices);
// - 2e-6 relative: a few float operations after the oracle's exact value
//   (affine forms, SGD, softmax, exp-based activations whose exp is within
//   2 ulp; see the ulp test);
// - sums: 2e-6 relative plus 1e-6·Σ|terms| (native sums in double or in
//   float lanes, then rounded once; BN's y = x·scale + shift adds rounding
//   proportional to |mean·scale|).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { nativeKernels, nativeLoadError } from "../src/engine/backend.js";
import { Act, Binary, Unary, poolGeom, type Kernels, type PoolShape } from "../src/engine/kernels.js";

function loadKernels(): Kernels {
  const k = nativeKernels();
  assert.ok(k, `native addon failed to load: ${nativeLoadError()}`);
  return k;
}

/** Deterministic pseudo-random numbers (mulberry32) in [lo, hi). */
function rng(seed: number): (lo?: number, hi?: number) => number {
  let s = seed >>> 0;
  return (lo = -1, hi = 1) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + (hi - lo) * u;
  };
}

function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r(lo, hi);
  return out;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rtol = 0, atol = 0): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w)) {
      if (!Number.isNaN(g)) assert.fail(`${what}[${i}]: got ${g}, want NaN`);
      continue;
    }
    if (g === w) continue;
    const err = Math.abs(g - w);
    const tol = rtol * Math.abs(w) + atol;
    if (!(err <= tol)) assert.fail(`${what}[${i}]: got ${g}, want ${w} (error ${err} > tolerance ${tol})`);
  }
}

const REL = 2e-6;

// In the determinism test's child processes this file only prints a digest.
const digestMode = process.env.KILN_NATIVE_KERNELS_DIGEST === "1";
const check = (name: string, fn: () => void): void => {
  if (!digestMode) test(name, fn);
};

// ---- unary -------------------------------------------------------------------------------------

type UnaryName = keyof typeof Unary;
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const relu6 = (x: number): number => Math.min(Math.max(x, 0), 6);

const unaryOracle: Record<UnaryName, (x: number, alpha: number, beta: number) => number> = {
  relu: (x) => Math.max(x, 0),
  relu6,
  leakyRelu: (x, a) => (x > 0 ? x : a * x),
  silu: (x) => x * sigmoid(x),
  sigmoid,
  tanh: Math.tanh,
  hardswish: (x) => (x * relu6(x + 3)) / 6,
  hardsigmoid: (x) => relu6(x + 3) / 6,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  neg: (x) => -x,
  abs: Math.abs,
  clamp: (x, a, b) => Math.min(Math.max(x, a), b),
  square: (x) => x * x,
  affine: (x, a, b) => a * x + b,
  reciprocal: (x) => 1 / x,
};

/** d f / d x in terms of x (PyTorch's conventions at the kinks). */
const unaryDerivative: Record<UnaryName, (x: number, alpha: number, beta: number) => number> = {
  relu: (x) => (x > 0 ? 1 : 0),
  relu6: (x) => (x > 0 && x < 6 ? 1 : 0),
  leakyRelu: (x, a) => (x > 0 ? 1 : a),
  silu: (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x))),
  sigmoid: (x) => sigmoid(x) * (1 - sigmoid(x)),
  tanh: (x) => 1 - Math.tanh(x) ** 2,
  hardswish: (x) => (x < -3 ? 0 : x <= 3 ? (2 * x + 3) / 6 : 1),
  hardsigmoid: (x) => (x > -3 && x < 3 ? 1 / 6 : 0),
  exp: Math.exp,
  log: (x) => 1 / x,
  sqrt: (x) => 0.5 / Math.sqrt(x),
  neg: () => -1,
  abs: (x) => Math.sign(x),
  clamp: (x, a, b) => (x >= a && x <= b ? 1 : 0),
  square: (x) => 2 * x,
  affine: (_x, a) => a,
  reciprocal: (x) => -1 / (x * x),
};

const unaryParams: Partial<Record<UnaryName, [number, number]>> = {
  leakyRelu: [0.1, 0],
  clamp: [-0.5, 2],
  affine: [1.5, -0.25],
};
const positiveOnly = new Set<UnaryName>(["log", "sqrt", "reciprocal"]);
/** Ops whose result is an input value: exact. */
const selectsInput = new Set<UnaryName>(["relu", "relu6", "neg", "abs", "clamp"]);

/** Odd length, values spread over [-8, 8] plus every kink of every op. */
function unaryInput(name: UnaryName, n: number, seed: number): Float32Array {
  const x = positiveOnly.has(name) ? randomArray(n, seed, 0.01, 20) : randomArray(n, seed, -8, 8);
  if (!positiveOnly.has(name)) {
    const kinks = [-3, 3, 0, 6, -0.5, 2, -1e-3, 1e-3, 1e-6, -20, 20, 0.54, 0.56];
    kinks.forEach((v, i) => (x[(i * 37) % n] = v));
  }
  return x;
}

check("unary matches the oracle for every op (odd lengths, kinks, in place)", () => {
  const k = loadKernels();
  for (const name of Object.keys(Unary) as UnaryName[]) {
    const [alpha, beta] = unaryParams[name] ?? [0, 0];
    for (const n of [1, 15, 17, 1037, 100_003]) {
      const x = unaryInput(name, n, n + 7);
      const y = new Float32Array(n);
      k.unary(Unary[name], x, y, alpha, beta);
      const want = Array.from(x, (v) => unaryOracle[name](v, alpha, beta));
      // Transcendentals: a few ulp; the rest: one or two roundings. Affine without
      // FMA (scalar path) rounds alpha*x first: an error of ulp(|alpha*x| <= 12).
      const atol = name === "affine" ? 1e-6 : 1e-37;
      assertClose(y, want, `unary ${name} n=${n}`, selectsInput.has(name) ? 0 : REL, atol);
      k.unary(Unary[name], x, x, alpha, beta);
      assert.deepEqual(x, y, `unary ${name} in place`);
    }
  }
});

check("unary propagates NaN and handles infinities and extremes", () => {
  const k = loadKernels();
  const x = Float32Array.of(NaN, Infinity, -Infinity, 100, -100, 89, -104, 0);
  const y = new Float32Array(x.length);
  for (const name of ["relu", "relu6", "silu", "sigmoid", "tanh", "exp", "clamp", "hardswish"] as UnaryName[]) {
    const [alpha, beta] = unaryParams[name] ?? [0, 0];
    k.unary(Unary[name], x, y, alpha, beta);
    assert.ok(Number.isNaN(y[0]), `${name}(NaN) is NaN`);
  }
  k.unary(Unary.exp, x, y, 0, 0);
  assertClose(y.subarray(1), [Infinity, 0, Infinity, Math.fround(Math.exp(-100)), Infinity, 0, 1], "exp extremes",
    1e-6, 0);
  k.unary(Unary.sigmoid, x, y, 0, 0);
  assertClose(y.subarray(1), [1, 0, 1, 0, 1, 0, 0.5], "sigmoid extremes", 0, 1e-37);
  k.unary(Unary.tanh, x, y, 0, 0);
  assertClose(y.subarray(1), [1, -1, 1, -1, 1, -1, 0], "tanh extremes");
  k.unary(Unary.log, Float32Array.of(0, -1, Infinity, 1e-40), y.subarray(0, 4), 0, 0);
  assertClose(y.subarray(0, 4), [-Infinity, NaN, Infinity, Math.log(Math.fround(1e-40))], "log specials", 1e-6);
});

/** Distance in float32 steps. */
function ulps(a: number, b: number): number {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  const key = (v: number): number => (v < 0 ? -0x80000000 - v : v);
  return Math.abs(key(i[0]!) - key(i[1]!));
}

check("vectorised exp and log are within 2 ulp (3 on the scalar path, which has no FMA)", () => {
  const k = loadKernels();
  const limit = k.info().isa === "scalar" ? 3 : 2;
  const n = 200_000;
  const xe = randomArray(n, 11, -87, 88);
  const ye = new Float32Array(n);
  k.unary(Unary.exp, xe, ye, 0, 0);
  const xl = new Float32Array(n);
  const r = rng(12);
  for (let i = 0; i < n; i++) xl[i] = Math.exp(r(-87, 88)); // every binade
  const yl = new Float32Array(n);
  k.unary(Unary.log, xl, yl, 0, 0);
  let worstExp = 0, worstLog = 0;
  for (let i = 0; i < n; i++) {
    worstExp = Math.max(worstExp, ulps(ye[i]!, Math.fround(Math.exp(xe[i]!))));
    worstLog = Math.max(worstLog, ulps(yl[i]!, Math.fround(Math.log(xl[i]!))));
  }
  assert.ok(worstExp <= limit, `exp: ${worstExp} ulp`);
  assert.ok(worstLog <= limit, `log: ${worstLog} ulp`);
});

check("unaryBackward matches the derivative for every op (kinks as PyTorch, dx may be dy)", () => {
  const k = loadKernels();
  for (const name of Object.keys(Unary) as UnaryName[]) {
    const [alpha, beta] = unaryParams[name] ?? [0, 0];
    for (const n of [1, 17, 1037, 70_001]) {
      const x = unaryInput(name, n, n + 3);
      const y = new Float32Array(n);
      k.unary(Unary[name], x, y, alpha, beta);
      const dy = randomArray(n, n + 5);
      const dx = new Float32Array(n);
      k.unaryBackward(Unary[name], x, y, dy, dx, alpha, beta);
      const want = Array.from(x, (v, i) => dy[i]! * unaryDerivative[name](v, alpha, beta));
      // Gradients read y = f(x) (rounded) where PyTorch does: allow a few ulp of f on top.
      assertClose(dx, want, `unaryBackward ${name} n=${n}`, 1e-5, 1e-7);
      k.unaryBackward(Unary[name], x, y, dy, dy, alpha, beta);
      assert.deepEqual(dy, dx, `unaryBackward ${name} in place`);
    }
  }
});

// ---- binary ------------------------------------------------------------------------------------

const binaryOracle: Record<keyof typeof Binary, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
};

/** Contiguous strides of `shape`, with 0 where `of` (same rank) has size 1. */
function broadcastStrides(of: number[], shape: number[]): Int32Array {
  const strides = new Int32Array(shape.length);
  let run = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = of[d] === 1 && shape[d] !== 1 ? 0 : run;
    run *= of[d]!;
  }
  return strides;
}

function forEachIndex(shape: number[], fn: (idx: number[], flat: number) => void): void {
  const total = shape.reduce((p, s) => p * s, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < total; flat++) {
    fn(idx, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

const dot = (idx: number[], strides: ArrayLike<number>, base = 0): number =>
  idx.reduce((s, v, d) => s + v * strides[d]!, base);

check("binary broadcasts every pattern exactly (same shape, per-channel, scalar, row, both sides, strided)", () => {
  const k = loadKernels();
  const cases: { out: number[]; a: number[]; b: number[]; bTransposed?: boolean }[] = [
    { out: [2, 3, 5, 7], a: [2, 3, 5, 7], b: [2, 3, 5, 7] },
    { out: [2, 3, 5, 7], a: [2, 3, 5, 7], b: [1, 3, 1, 1] },
    { out: [2, 3, 5, 7], a: [1, 3, 1, 1], b: [2, 3, 5, 7] },
    { out: [2, 3, 5, 7], a: [2, 3, 5, 7], b: [1, 1, 1, 1] },
    { out: [2, 3, 5, 7], a: [1, 1, 1, 7], b: [2, 3, 5, 1] },
    { out: [1, 33], a: [1, 33], b: [1, 1] },
    { out: [7, 37], a: [7, 37], b: [7, 37], bTransposed: true },
    { out: [3, 100_003], a: [3, 100_003], b: [3, 1] },
    { out: [64, 2049], a: [64, 2049], b: [1, 2049] },
    { out: [], a: [], b: [] },
  ];
  for (const c of cases) {
    for (const op of Object.keys(Binary) as (keyof typeof Binary)[]) {
      const size = (s: number[]): number => s.reduce((p, v) => p * v, 1);
      const a = randomArray(size(c.a), 21, -2, 2);
      const b = randomArray(size(c.b), 22, 0.5, 2);
      if (a.length > 3) a[3] = NaN;
      const aStrides = broadcastStrides(c.a, c.out);
      // A transposed view of b: b stored [cols, rows].
      const bStrides = c.bTransposed ? Int32Array.of(1, c.out[0]!) : broadcastStrides(c.b, c.out);
      const out = new Float32Array(size(c.out));
      k.binary(Binary[op], a, aStrides, b, bStrides, out, Int32Array.from(c.out));
      const want = new Float64Array(out.length);
      forEachIndex(c.out, (idx, flat) => {
        want[flat] = Math.fround(binaryOracle[op](a[dot(idx, aStrides)]!, b[dot(idx, bStrides)]!));
      });
      assertClose(out, want, `binary ${op} out=[${c.out}] a=[${c.a}] b=[${c.b}]`);
    }
  }
});

check("binary refuses strides that leave its inputs", () => {
  const k = loadKernels();
  assert.throws(() => k.binary(Binary.add, new Float32Array(6), Int32Array.of(3, 1), new Float32Array(5),
    Int32Array.of(3, 1), new Float32Array(6), Int32Array.of(2, 3)), /out of bounds/);
  assert.throws(() => k.binary(Binary.add, new Float32Array(6), Int32Array.of(3, 1), new Float32Array(6),
    Int32Array.of(3, 1), new Float32Array(5), Int32Array.of(2, 3)), /out has 5 elements, expected 6/);
});

check("axpy and fill", () => {
  const k = loadKernels();
  for (const n of [1, 31, 100_001]) {
    const x = randomArray(n, 31), y = randomArray(n, 32);
    const want = Array.from(y, (v, i) => v + 0.75 * x[i]!);
    k.axpy(0.75, x, y);
    assertClose(y, want, `axpy n=${n}`, 1e-7, 1e-7);
    k.fill(y, -2.5);
    assert.ok(y.every((v) => v === -2.5), "fill");
  }
  assert.throws(() => k.axpy(1, new Float32Array(3), new Float32Array(4)), /y has 4 elements, expected 3/);
});

// ---- reductions ----------------------------------------------------------------------------------

function sumToOracle(x: Float32Array, xShape: number[], outShape: number[]): { value: Float64Array; mag: Float64Array } {
  const n = outShape.reduce((p, v) => p * v, 1);
  const value = new Float64Array(n), mag = new Float64Array(n);
  const outStrides = broadcastStrides(outShape, xShape);
  forEachIndex(xShape, (idx, flat) => {
    const o = dot(idx, outStrides);
    value[o]! += x[flat]!;
    mag[o]! += Math.abs(x[flat]!);
  });
  return { value, mag };
}

const sumToCases: [number[], number[]][] = [
  [[5, 7], [1, 7]], // bias gradient
  [[3, 5, 6, 7], [1, 5, 1, 1]], // BN-style per channel
  [[3, 5, 6, 7], [1, 1, 1, 1]], // full
  [[3, 5, 6, 7], [3, 1, 6, 7]],
  [[3, 5, 6, 7], [3, 5, 1, 1]],
  [[4, 1, 5, 3], [1, 1, 5, 1]],
  [[2, 3, 4], [2, 3, 4]], // nothing reduced
  [[70_001, 3], [1, 3]], // short rows: blocked
  [[3, 5000], [1, 5000]], // long rows: column chunks
  [[200_003], [1]], // full, several blocks
  [[2, 90_000, 3], [2, 1, 1]],
  [[1], [1]],
];

check("sumTo reduces every pattern (double oracle)", () => {
  const k = loadKernels();
  for (const [xs, os] of sumToCases) {
    const x = randomArray(xs.reduce((p, v) => p * v, 1), 41, -1, 3);
    const out = new Float32Array(os.reduce((p, v) => p * v, 1));
    k.sumTo(x, Int32Array.from(xs), out, Int32Array.from(os));
    const { value, mag } = sumToOracle(x, xs, os);
    for (let i = 0; i < out.length; i++) {
      const err = Math.abs(out[i]! - value[i]!);
      assert.ok(err <= REL * Math.abs(value[i]!) + 1e-9 * mag[i]!, `sumTo [${xs}]->[${os}] [${i}]: ${out[i]} vs ${value[i]}`);
    }
  }
  assert.throws(() => k.sumTo(new Float32Array(6), Int32Array.of(2, 3), new Float32Array(2), Int32Array.of(2, 2)),
    /equal x's or be 1/);
});

check("argmaxRows: first maximum on ties, NaN counts as the maximum", () => {
  const k = loadKernels();
  const x = Float32Array.of(1, 3, 3, 2, /**/ -5, -5, -5, -5, /**/ 0, NaN, 9, NaN, /**/ 7, 1, 2, 7);
  const out = new Int32Array(4);
  k.argmaxRows(4, 4, x, out);
  assert.deepEqual(Array.from(out), [1, 0, 1, 0]);
  const big = randomArray(37 * 1001, 51);
  const got = new Int32Array(1001);
  k.argmaxRows(1001, 37, big, got);
  for (let r = 0; r < 1001; r++) {
    let best = 0;
    for (let j = 1; j < 37; j++) if (big[r * 37 + j]! > big[r * 37 + best]!) best = j;
    assert.equal(got[r], best, `row ${r}`);
  }
});

// ---- softmax and losses ----------------------------------------------------------------------------

function softmaxOracle(outer: number, dim: number, inner: number, x: Float32Array, log: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const at = (d: number): number => (o * dim + d) * inner + j;
      let m = -Infinity;
      for (let d = 0; d < dim; d++) m = Math.max(m, x[at(d)]!);
      let s = 0;
      for (let d = 0; d < dim; d++) s += Math.exp(x[at(d)]! - m);
      for (let d = 0; d < dim; d++) y[at(d)] = log ? x[at(d)]! - m - Math.log(s) : Math.exp(x[at(d)]! - m) / s;
    }
  }
  return y;
}

const softmaxShapes: [number, number, number][] = [[1, 1, 1], [3, 7, 1], [5, 1000, 1], [2, 33, 1], [2, 16, 37], [3, 5, 1100], [1, 3, 2]];

check("softmax and log-softmax over rows and over a middle axis", () => {
  const k = loadKernels();
  for (const [outer, dim, inner] of softmaxShapes) {
    for (const log of [false, true]) {
      const x = randomArray(outer * dim * inner, 61, -20, 20);
      const y = new Float32Array(x.length);
      k.softmax(outer, dim, inner, x, y, log);
      assertClose(y, softmaxOracle(outer, dim, inner, x, log), `softmax [${outer},${dim},${inner}] log=${log}`,
        1e-5, log ? 1e-5 : 1e-12);
    }
  }
});

check("softmaxBackward (softmax and log-softmax)", () => {
  const k = loadKernels();
  for (const [outer, dim, inner] of softmaxShapes) {
    for (const log of [false, true]) {
      const x = randomArray(outer * dim * inner, 62, -5, 5);
      const y = new Float32Array(x.length);
      k.softmax(outer, dim, inner, x, y, log);
      const dy = randomArray(x.length, 63);
      const dx = new Float32Array(x.length);
      k.softmaxBackward(outer, dim, inner, y, dy, dx, log);
      const want = new Float64Array(x.length);
      let scale = 0;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const at = (d: number): number => (o * dim + d) * inner + j;
          let s = 0;
          for (let d = 0; d < dim; d++) s += log ? dy[at(d)]! : dy[at(d)]! * y[at(d)]!;
          for (let d = 0; d < dim; d++) {
            want[at(d)] = log ? dy[at(d)]! - Math.exp(y[at(d)]!) * s : y[at(d)]! * (dy[at(d)]! - s);
            scale = Math.max(scale, Math.abs(s));
          }
        }
      }
      assertClose(dx, want, `softmaxBackward [${outer},${dim},${inner}] log=${log}`, 1e-5, 1e-6 * (1 + scale));
    }
  }
});

function crossEntropyOracle(n: number, c: number, x: Float32Array, t: Int32Array, ls: number, ignore: number): number[] {
  const losses: number[] = [];
  for (let i = 0; i < n; i++) {
    if (t[i] === ignore) {
      losses.push(0);
      continue;
    }
    const row = Array.from(x.subarray(i * c, (i + 1) * c));
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    const logp = row.map((v) => v - lse);
    losses.push((1 - ls) * -logp[t[i]!]! + (ls / c) * logp.reduce((s, v) => s - v, 0));
  }
  return losses;
}

check("crossEntropy and its backward: label smoothing, ignore_index, odd class counts", () => {
  const k = loadKernels();
  for (const [n, c] of [[1, 1], [5, 10], [9, 37], [300, 1003]] as [number, number][]) {
    for (const ls of [0, 0.1]) {
      const x = randomArray(n * c, 71 + c, -10, 10);
      const t = new Int32Array(n);
      const r = rng(72);
      for (let i = 0; i < n; i++) t[i] = i % 4 === 2 ? -100 : Math.floor(r(0, c));
      const losses = new Float32Array(n), probs = new Float32Array(n * c);
      k.crossEntropy(n, c, x, t, ls, -100, losses, probs);
      const where = `crossEntropy n=${n} c=${c} ls=${ls}`;
      assertClose(losses, crossEntropyOracle(n, c, x, t, ls, -100), where, 1e-5, 1e-5);
      assertClose(probs, softmaxOracle(n, c, 1, x, false), `${where} probs`, 1e-5, 1e-12);
      const dloss = randomArray(n, 73);
      const dlogits = new Float32Array(n * c);
      k.crossEntropyBackward(n, c, probs, t, ls, -100, dloss, dlogits);
      const want = new Float64Array(n * c);
      for (let i = 0; i < n; i++) {
        if (t[i] === -100) continue;
        for (let j = 0; j < c; j++) {
          const q = (j === t[i] ? 1 - ls : 0) + ls / c;
          want[i * c + j] = dloss[i]! * (probs[i * c + j]! - q);
        }
      }
      assertClose(dlogits, want, `${where} backward`, 1e-5, 1e-7);
    }
  }
});

check("crossEntropy refuses a target outside [0, c) and mismatched lengths", () => {
  const k = loadKernels();
  const x = new Float32Array(6), probs = new Float32Array(6), losses = new Float32Array(2);
  assert.throws(() => k.crossEntropy(2, 3, x, Int32Array.of(0, 3), 0, -100, losses, probs), /target 3 at row 1/);
  assert.throws(() => k.crossEntropy(2, 3, x, Int32Array.of(0, -1), 0, -100, losses, probs), /target -1/);
  assert.throws(() => k.crossEntropyBackward(2, 3, probs, Int32Array.of(7, 0), 0, -100, losses, x), /target 7/);
  assert.throws(() => k.crossEntropy(2, 3, x, Int32Array.of(0), 0, -100, losses, probs), /targets has 1/);
});

check("bceWithLogits is stable for large |x| and its backward is sigmoid(x) - t", () => {
  const k = loadKernels();
  const n = 2001;
  const x = randomArray(n, 81, -30, 30);
  Float32Array.of(30, -100, 0, 1e-8, -1e-8, 88, -88, 100).forEach((v, i) => (x[i * 7] = v));
  const t = randomArray(n, 82, 0, 1);
  t[0] = 1;
  t[7] = 0;
  const out = new Float32Array(n);
  k.bceWithLogits(x, t, out);
  const want = Array.from(x, (v, i) => Math.max(v, 0) - v * t[i]! + Math.log1p(Math.exp(-Math.abs(v))));
  assertClose(out, want, "bceWithLogits", 1e-5, 2e-6 * 30);
  // Tiny losses keep their relative precision (log1p of a tiny exp).
  assertClose(out.subarray(0, 1), [Math.log1p(Math.exp(-30))], "bce(30, 1)", 1e-5);
  const dout = randomArray(n, 83);
  const dx = new Float32Array(n);
  k.bceWithLogitsBackward(x, t, dout, dx);
  assertClose(dx, Array.from(x, (v, i) => dout[i]! * (sigmoid(v) - t[i]!)), "bceWithLogitsBackward", 1e-5, 1e-7);
});

// ---- batch norm --------------------------------------------------------------------------------------

interface BnCase { n: number; c: number; hw: number; affine: boolean; offset: number }
const bnCases: BnCase[] = [
  { n: 1, c: 3, hw: 35, affine: true, offset: 0 },
  { n: 4, c: 5, hw: 1, affine: false, offset: 0 },
  { n: 2, c: 17, hw: 33, affine: true, offset: 0 },
  { n: 3, c: 2, hw: 1000, affine: true, offset: 1000 }, // |mean| >> std
  { n: 2, c: 9, hw: 7, affine: true, offset: -3 },
];

function bnStats(cs: BnCase, x: Float32Array): { mean: number[]; varB: number[] } {
  const mean: number[] = [], varB: number[] = [];
  const m = cs.n * cs.hw;
  for (let ch = 0; ch < cs.c; ch++) {
    let s = 0;
    for (let i = 0; i < cs.n; i++) for (let j = 0; j < cs.hw; j++) s += x[(i * cs.c + ch) * cs.hw + j]!;
    const mu = s / m;
    let q = 0;
    for (let i = 0; i < cs.n; i++) for (let j = 0; j < cs.hw; j++) q += (x[(i * cs.c + ch) * cs.hw + j]! - mu) ** 2;
    mean.push(mu);
    varB.push(q / m);
  }
  return { mean, varB };
}

check("batchNormTrain: batch statistics, running stats (unbiased, momentum), y", () => {
  const k = loadKernels();
  for (const cs of bnCases) {
    const total = cs.n * cs.c * cs.hw;
    const x = randomArray(total, 91 + cs.c, cs.offset - 2, cs.offset + 2);
    const w = cs.affine ? randomArray(cs.c, 92, 0.5, 1.5) : null;
    const b = cs.affine ? randomArray(cs.c, 93) : null;
    const rm = randomArray(cs.c, 94), rv = randomArray(cs.c, 95, 0.5, 2);
    const rm0 = rm.slice(), rv0 = rv.slice();
    const y = new Float32Array(total), sm = new Float32Array(cs.c), si = new Float32Array(cs.c);
    k.batchNormTrain(cs.n, cs.c, cs.hw, x, w, b, 1e-5, 0.1, rm, rv, y, sm, si, Act.none, 0, null);
    const { mean, varB } = bnStats(cs, x);
    const m = cs.n * cs.hw;
    const where = `batchNormTrain ${JSON.stringify(cs)}`;
    assertClose(sm, mean, `${where} mean`, 1e-6, 1e-6);
    assertClose(si, varB.map((v) => 1 / Math.sqrt(v + 1e-5)), `${where} invStd`, 1e-5);
    assertClose(rm, mean.map((v, c) => 0.9 * rm0[c]! + 0.1 * v), `${where} runningMean`, 1e-6, 1e-6);
    const unbiased = varB.map((v) => (m > 1 ? (v * m) / (m - 1) : Infinity));
    if (m > 1) assertClose(rv, unbiased.map((v, c) => 0.9 * rv0[c]! + 0.1 * v), `${where} runningVar`, 1e-5);
    const want = new Float64Array(total);
    for (let i = 0; i < total; i++) {
      const ch = Math.floor(i / cs.hw) % cs.c;
      want[i] = ((x[i]! - mean[ch]!) / Math.sqrt(varB[ch]! + 1e-5)) * (w ? w[ch]! : 1) + (b ? b[ch]! : 0);
    }
    // y = x*scale + shift: rounding of |x*scale| ~ |mean|/std adds to the error.
    assertClose(y, want, `${where} y`, 1e-5, 1e-5 * (1 + Math.abs(cs.offset) * 3));
  }
});

check("batchNormInference uses the running statistics", () => {
  const k = loadKernels();
  const [n, c, hw] = [2, 5, 13];
  const x = randomArray(n * c * hw, 96), w = randomArray(c, 97), b = randomArray(c, 98);
  const rm = randomArray(c, 99), rv = randomArray(c, 100, 0.5, 2);
  const y = new Float32Array(x.length);
  for (const affine of [true, false]) {
    k.batchNormInference(n, c, hw, x, affine ? w : null, affine ? b : null, rm, rv, 1e-3, y);
    const want = Array.from(x, (v, i) => {
      const ch = Math.floor(i / hw) % c;
      return ((v - rm[ch]!) / Math.sqrt(rv[ch]! + 1e-3)) * (affine ? w[ch]! : 1) + (affine ? b[ch]! : 0);
    });
    assertClose(y, want, `batchNormInference affine=${affine}`, 1e-5, 1e-6);
  }
});

check("batchNormBackward: dx, dweight, dbias against the closed form", () => {
  const k = loadKernels();
  for (const cs of bnCases) {
    const total = cs.n * cs.c * cs.hw;
    const x = randomArray(total, 101 + cs.c, cs.offset - 2, cs.offset + 2);
    const w = cs.affine ? randomArray(cs.c, 102, 0.5, 1.5) : null;
    const dy = randomArray(total, 103);
    const y = new Float32Array(total), sm = new Float32Array(cs.c), si = new Float32Array(cs.c);
    k.batchNormTrain(cs.n, cs.c, cs.hw, x, w, null, 1e-5, 0.1, null, null, y, sm, si, Act.none, 0, null);
    const dx = new Float32Array(total), dw = new Float32Array(cs.c), db = new Float32Array(cs.c);
    k.batchNormBackward(cs.n, cs.c, cs.hw, x, dy, w, sm, si, dx, cs.affine ? dw : null, cs.affine ? db : null, Act.none, 0, null);
    const m = cs.n * cs.hw;
    const sdy = new Float64Array(cs.c), sdyx = new Float64Array(cs.c), mag = new Float64Array(cs.c);
    for (let i = 0; i < total; i++) {
      const ch = Math.floor(i / cs.hw) % cs.c;
      sdy[ch]! += dy[i]!;
      sdyx[ch]! += dy[i]! * (x[i]! - sm[ch]!) * si[ch]!;
      mag[ch]! += Math.abs(dy[i]!);
    }
    const want = Array.from(x, (v, i) => {
      const ch = Math.floor(i / cs.hw) % cs.c;
      const xhat = (v - sm[ch]!) * si[ch]!;
      return (w ? w[ch]! : 1) * si[ch]! * (dy[i]! - sdy[ch]! / m - (xhat * sdyx[ch]!) / m);
    });
    const where = `batchNormBackward ${JSON.stringify(cs)}`;
    const dxScale = Math.max(...Array.from(si)) * 1.5;
    assertClose(dx, want, `${where} dx`, 1e-4, 1e-5 * dxScale);
    if (cs.affine) {
      assertClose(db, sdy, `${where} dbias`, 1e-5, 1e-6 * Math.max(...mag));
      assertClose(dw, sdyx, `${where} dweight`, 1e-4, 1e-5 * Math.max(...mag));
    }
  }
});

// ---- pooling ---------------------------------------------------------------------------------------

const poolCases: PoolShape[] = [
  { n: 1, c: 1, h: 4, w: 4, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 },
  { n: 2, c: 3, h: 9, w: 7, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
  { n: 2, c: 3, h: 9, w: 8, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1, ceilMode: true },
  { n: 1, c: 2, h: 10, w: 11, kh: 3, kw: 2, strideH: 3, strideW: 2, padH: 0, padW: 1, ceilMode: true },
  { n: 1, c: 4, h: 11, w: 11, kh: 5, kw: 5, strideH: 1, strideW: 1, padH: 2, padW: 2 },
  { n: 1, c: 2, h: 12, w: 13, kh: 3, kw: 3, strideH: 2, strideW: 1, padH: 1, padW: 1, dilH: 2, dilW: 2 },
];

check("maxPool2d values and indices (first max wins, -inf padding, dilation, ceil_mode) and its backward", () => {
  const k = loadKernels();
  for (const ps of poolCases) {
    const g = poolGeom(ps);
    const [oh, ow] = [g[12]!, g[13]!];
    const dilH = ps.dilH ?? 1, dilW = ps.dilW ?? 1;
    const x = randomArray(ps.n * ps.c * ps.h * ps.w, 111);
    // Ties: a run of equal values so "first max wins" is tested.
    for (let i = 0; i < x.length; i += 5) x[i] = 0.5;
    const y = new Float32Array(ps.n * ps.c * oh * ow), idx = new Int32Array(y.length);
    k.maxPool2d(g, x, y, idx);
    const wantY: number[] = [], wantI: number[] = [];
    for (let p = 0; p < ps.n * ps.c; p++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let best = -Infinity, at = -1;
          for (let a = 0; a < ps.kh; a++) {
            for (let b = 0; b < ps.kw; b++) {
              const r = i * ps.strideH - ps.padH + a * dilH, s = j * ps.strideW - ps.padW + b * dilW;
              if (r < 0 || r >= ps.h || s < 0 || s >= ps.w) continue;
              const v = x[p * ps.h * ps.w + r * ps.w + s]!;
              if (v > best) [best, at] = [v, r * ps.w + s];
            }
          }
          wantY.push(best);
          wantI.push(at);
        }
      }
    }
    assertClose(y, wantY, `maxPool2d ${JSON.stringify(ps)}`);
    assert.deepEqual(Array.from(idx), wantI, `maxPool2d indices ${JSON.stringify(ps)}`);
    const dy = randomArray(y.length, 112);
    const dx = new Float32Array(x.length).fill(7);
    k.maxPool2dBackward(g, dy, idx, dx);
    const wantDx = new Float64Array(x.length);
    const plane = ps.h * ps.w, outPlane = oh * ow;
    for (let o = 0; o < y.length; o++) wantDx[Math.floor(o / outPlane) * plane + idx[o]!]! += dy[o]!;
    assertClose(dx, wantDx, `maxPool2dBackward ${JSON.stringify(ps)}`, 1e-6, 1e-7);
  }
  const g = poolGeom(poolCases[0]!);
  assert.throws(() => k.maxPool2dBackward(g, new Float32Array(4), Int32Array.of(0, 1, 16, 2), new Float32Array(16)),
    /outside its input plane/);
});

/** PyTorch's avg_pool2d divisor, written from its documented rule. */
function avgOracle(ps: PoolShape, includePad: boolean, oh: number, ow: number, x: Float32Array): {
  y: Float64Array; windows: { plane: number; cells: number[]; div: number }[];
} {
  const y = new Float64Array(ps.n * ps.c * oh * ow);
  const windows: { plane: number; cells: number[]; div: number }[] = [];
  for (let p = 0; p < ps.n * ps.c; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const r0 = i * ps.strideH - ps.padH, s0 = j * ps.strideW - ps.padW;
        // The window clipped to the padded input, then to the input.
        const r1 = Math.min(r0 + ps.kh, ps.h + ps.padH), s1 = Math.min(s0 + ps.kw, ps.w + ps.padW);
        const padded = (r1 - r0) * (s1 - s0);
        const cells: number[] = [];
        for (let r = Math.max(r0, 0); r < Math.min(r1, ps.h); r++)
          for (let s = Math.max(s0, 0); s < Math.min(s1, ps.w); s++) cells.push(r * ps.w + s);
        const div = includePad ? padded : cells.length;
        const o = (p * oh + i) * ow + j;
        y[o] = cells.length === 0 ? 0 : cells.reduce((acc, c) => acc + x[p * ps.h * ps.w + c]!, 0) / div;
        windows.push({ plane: p, cells, div });
      }
    }
  }
  return { y, windows };
}

check("avgPool2d with and without count_include_pad, ceil_mode, and its backward", () => {
  const k = loadKernels();
  for (const ps of poolCases.filter((p) => (p.dilH ?? 1) === 1)) {
    for (const includePad of [true, false]) {
      const g = poolGeom(ps);
      const [oh, ow] = [g[12]!, g[13]!];
      const x = randomArray(ps.n * ps.c * ps.h * ps.w, 121);
      const y = new Float32Array(ps.n * ps.c * oh * ow);
      k.avgPool2d(g, includePad, x, y);
      const { y: want, windows } = avgOracle(ps, includePad, oh, ow, x);
      const where = `avgPool2d ${JSON.stringify(ps)} includePad=${includePad}`;
      assertClose(y, want, where, 1e-6, 1e-7);
      const dy = randomArray(y.length, 122);
      const dx = new Float32Array(x.length);
      k.avgPool2dBackward(g, includePad, dy, dx);
      const wantDx = new Float64Array(x.length);
      windows.forEach((win, o) => {
        for (const c of win.cells) wantDx[win.plane * ps.h * ps.w + c]! += dy[o]! / win.div;
      });
      assertClose(dx, wantDx, `${where} backward`, 1e-6, 1e-7);
    }
  }
});

check("adaptiveAvgPool2d bins and backward (global, shrinking, growing)", () => {
  const k = loadKernels();
  for (const [h, w, oh, ow] of [[6, 6, 1, 1], [7, 5, 3, 2], [5, 5, 7, 7], [13, 1, 4, 1]] as number[][]) {
    const [n, c] = [2, 3];
    const x = randomArray(n * c * h! * w!, 131);
    const y = new Float32Array(n * c * oh! * ow!);
    k.adaptiveAvgPool2d(n, c, h!, w!, oh!, ow!, x, y);
    const want = new Float64Array(y.length);
    const wantDx = new Float64Array(x.length);
    const dy = randomArray(y.length, 132);
    for (let p = 0; p < n * c; p++) {
      for (let i = 0; i < oh!; i++) {
        for (let j = 0; j < ow!; j++) {
          const r0 = Math.floor((i * h!) / oh!), r1 = Math.ceil(((i + 1) * h!) / oh!);
          const s0 = Math.floor((j * w!) / ow!), s1 = Math.ceil(((j + 1) * w!) / ow!);
          const o = (p * oh! + i) * ow! + j;
          const count = (r1 - r0) * (s1 - s0);
          for (let r = r0; r < r1; r++) {
            for (let s = s0; s < s1; s++) {
              want[o]! += x[p * h! * w! + r * w! + s]! / count;
              wantDx[p * h! * w! + r * w! + s]! += dy[o]! / count;
            }
          }
        }
      }
    }
    assertClose(y, want, `adaptiveAvgPool2d ${h}x${w}->${oh}x${ow}`, 1e-6, 1e-7);
    const dx = new Float32Array(x.length);
    k.adaptiveAvgPool2dBackward(n, c, h!, w!, oh!, ow!, dy, dx);
    assertClose(dx, wantDx, `adaptiveAvgPool2dBackward ${h}x${w}->${oh}x${ow}`, 1e-6, 1e-7);
  }
});

check("upsampleNearest2d index rule and backward (x2, odd ratios, downsampling)", () => {
  const k = loadKernels();
  for (const [h, w, oh, ow] of [[4, 5, 8, 10], [5, 3, 7, 8], [6, 6, 4, 3], [1, 1, 3, 2]] as number[][]) {
    const [n, c] = [1, 3];
    const x = randomArray(n * c * h! * w!, 141);
    const y = new Float32Array(n * c * oh! * ow!);
    k.upsampleNearest2d(n, c, h!, w!, oh!, ow!, x, y);
    const want: number[] = [];
    const dy = randomArray(y.length, 142);
    const wantDx = new Float64Array(x.length);
    for (let p = 0; p < n * c; p++) {
      for (let i = 0; i < oh!; i++) {
        for (let j = 0; j < ow!; j++) {
          const r = Math.min(Math.floor((i * h!) / oh!), h! - 1), s = Math.min(Math.floor((j * w!) / ow!), w! - 1);
          want.push(x[p * h! * w! + r * w! + s]!);
          wantDx[p * h! * w! + r * w! + s]! += dy[(p * oh! + i) * ow! + j]!;
        }
      }
    }
    assertClose(y, want, `upsampleNearest2d ${h}x${w}->${oh}x${ow}`);
    const dx = new Float32Array(x.length);
    k.upsampleNearest2dBackward(n, c, h!, w!, oh!, ow!, dy, dx);
    assertClose(dx, wantDx, `upsampleNearest2dBackward ${h}x${w}->${oh}x${ow}`, 1e-6, 1e-7);
  }
});

// ---- layout ----------------------------------------------------------------------------------------

function copyOracle(src: Float32Array, srcOffset: number, ss: number[], dst: Float32Array, dstOffset: number,
  ds: number[], shape: number[]): Float32Array {
  const out = dst.slice();
  forEachIndex(shape, (idx) => {
    out[dot(idx, ds, dstOffset)] = src[dot(idx, ss, srcOffset)]!;
  });
  return out;
}

const contiguous = (shape: number[]): number[] => {
  const s = new Array<number>(shape.length);
  let run = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = run;
    run *= shape[d]!;
  }
  return s;
};

check("copyStrided: permutes, transposes, slices, expands, concatenates, rank 8", () => {
  const k = loadKernels();
  const perm = (shape: number[], order: number[]): { shape: number[]; strides: number[] } => {
    const st = contiguous(shape);
    return { shape: order.map((d) => shape[d]!), strides: order.map((d) => st[d]!) };
  };
  const cases: { name: string; srcLen: number; srcOffset: number; ss: number[]; dstLen: number; dstOffset: number;
    ds: number[]; shape: number[] }[] = [];
  const nchw = perm([2, 5, 7, 9], [0, 2, 3, 1]); // NCHW -> NHWC
  cases.push({ name: "nchw->nhwc", srcLen: 630, srcOffset: 0, ss: nchw.strides, dstLen: 630, dstOffset: 0,
    ds: contiguous(nchw.shape), shape: nchw.shape });
  const t2 = perm([37, 53], [1, 0]);
  cases.push({ name: "transpose 37x53", srcLen: 37 * 53, srcOffset: 0, ss: t2.strides, dstLen: 37 * 53, dstOffset: 0,
    ds: contiguous(t2.shape), shape: t2.shape });
  cases.push({ name: "slice", srcLen: 6 * 11, srcOffset: 13, ss: [11, 1], dstLen: 4 * 7, dstOffset: 0,
    ds: [7, 1], shape: [4, 7] });
  cases.push({ name: "expand", srcLen: 5, srcOffset: 0, ss: [0, 1, 0], dstLen: 3 * 5 * 4, dstOffset: 0,
    ds: [20, 4, 1], shape: [3, 5, 4] });
  cases.push({ name: "concat part", srcLen: 2 * 3 * 8, srcOffset: 0, ss: [24, 8, 1], dstLen: 2 * 7 * 8, dstOffset: 16,
    ds: [56, 8, 1], shape: [2, 3, 8] });
  const r8 = perm([2, 3, 1, 2, 5, 2, 3, 2], [7, 1, 4, 0, 6, 2, 5, 3]);
  cases.push({ name: "rank 8 permute", srcLen: 720, srcOffset: 0, ss: r8.strides, dstLen: 720, dstOffset: 0,
    ds: contiguous(r8.shape), shape: r8.shape });
  const big = perm([3, 64, 40, 41], [0, 2, 3, 1]);
  cases.push({ name: "large nchw->nhwc", srcLen: 3 * 64 * 40 * 41, srcOffset: 0, ss: big.strides,
    dstLen: 3 * 64 * 40 * 41, dstOffset: 0, ds: contiguous(big.shape), shape: big.shape });
  cases.push({ name: "large contiguous", srcLen: 300_007, srcOffset: 0, ss: [1], dstLen: 300_007, dstOffset: 0,
    ds: [1], shape: [300_007] });
  cases.push({ name: "scalar", srcLen: 3, srcOffset: 2, ss: [], dstLen: 2, dstOffset: 1, ds: [], shape: [] });
  for (const c of cases) {
    const src = randomArray(c.srcLen, 151);
    const dst = randomArray(c.dstLen, 152);
    const want = copyOracle(src, c.srcOffset, c.ss, dst, c.dstOffset, c.ds, c.shape);
    k.copyStrided(src, c.srcOffset, Int32Array.from(c.ss), dst, c.dstOffset, Int32Array.from(c.ds), Int32Array.from(c.shape));
    assert.deepEqual(dst, want, `copyStrided ${c.name}`);
  }
  assert.throws(() => k.copyStrided(new Float32Array(10), 5, Int32Array.of(1), new Float32Array(10), 0, Int32Array.of(1),
    Int32Array.of(6)), /src is indexed out of bounds/);
  assert.throws(() => k.copyStrided(new Float32Array(10), 0, Int32Array.of(1), new Float32Array(10), 0, Int32Array.of(2),
    Int32Array.of(6)), /dst is indexed out of bounds/);
});

// ---- optimizers ------------------------------------------------------------------------------------

const paramSizes = [1, 17, 40_000, 3];

function arrays(seed: number, lo = -1, hi = 1): Float32Array[] {
  return paramSizes.map((n, i) => randomArray(n, seed + i, lo, hi));
}

check("sgdStep follows PyTorch's SGD (momentum, dampening, nesterov, weight decay, first step)", () => {
  const k = loadKernels();
  const configs = [
    { momentum: 0, dampening: 0, wd: 0, nesterov: false },
    { momentum: 0.9, dampening: 0, wd: 5e-4, nesterov: false },
    { momentum: 0.9, dampening: 0.1, wd: 0, nesterov: false },
    { momentum: 0.8, dampening: 0, wd: 1e-2, nesterov: true },
  ];
  for (const cfg of configs) {
    const p = arrays(161), bufs = arrays(163);
    const ref = p.map((a) => Array.from(a)), refBuf = bufs.map((a) => Array.from(a));
    for (let step = 0; step < 3; step++) {
      const g = arrays(170 + step);
      const first = step === 0;
      k.sgdStep(p, g, cfg.momentum ? bufs : [], 0.1, cfg.momentum, cfg.dampening, cfg.wd, cfg.nesterov, first);
      ref.forEach((pa, a) => {
        for (let i = 0; i < pa.length; i++) {
          let d = g[a]![i]! + cfg.wd * pa[i]!;
          if (cfg.momentum) {
            const b = first ? d : cfg.momentum * refBuf[a]![i]! + (1 - cfg.dampening) * d;
            refBuf[a]![i] = Math.fround(b);
            d = cfg.nesterov ? d + cfg.momentum * b : b;
          }
          pa[i] = Math.fround(pa[i]! - 0.1 * d);
        }
      });
    }
    p.forEach((a, i) => assertClose(a, ref[i]!, `sgd ${JSON.stringify(cfg)} param ${i}`, 1e-5, 1e-6));
  }
  assert.throws(() => k.sgdStep([new Float32Array(3)], [new Float32Array(2)], [], 0.1, 0, 0, 0, false, true),
    /grads\[0\] has 2 elements, expected 3/);
});

check("adamStep follows PyTorch's Adam and AdamW", () => {
  const k = loadKernels();
  for (const decoupled of [false, true]) {
    const p = arrays(181), m = paramSizes.map((n) => new Float32Array(n)), v = paramSizes.map((n) => new Float32Array(n));
    const ref = p.map((a) => Array.from(a));
    const rm = paramSizes.map((n) => new Float64Array(n)), rv = paramSizes.map((n) => new Float64Array(n));
    const [lr, b1, b2, eps, wd] = [1e-3, 0.9, 0.999, 1e-8, 0.01];
    for (let step = 1; step <= 3; step++) {
      const g = arrays(190 + step);
      k.adamStep(p, g, m, v, lr, b1, b2, eps, wd, step, decoupled);
      ref.forEach((pa, a) => {
        for (let i = 0; i < pa.length; i++) {
          let gi = g[a]![i]!;
          let pi = pa[i]!;
          if (decoupled) pi *= 1 - lr * wd;
          else gi += wd * pi;
          rm[a]![i] = b1 * rm[a]![i]! + (1 - b1) * gi;
          rv[a]![i] = b2 * rv[a]![i]! + (1 - b2) * gi * gi;
          const denom = Math.sqrt(rv[a]![i]!) / Math.sqrt(1 - b2 ** step) + eps;
          pa[i] = pi - (lr / (1 - b1 ** step)) * (rm[a]![i]! / denom);
        }
      });
    }
    p.forEach((a, i) => assertClose(a, ref[i]!, `adam decoupled=${decoupled} param ${i}`, 1e-5, 1e-6));
    m.forEach((a, i) => assertClose(a, rm[i]!, `adam expAvg ${i}`, 1e-5, 1e-7));
  }
});

check("emaUpdate, sumSquares, scaleArrays, allFinite", () => {
  const k = loadKernels();
  const e = arrays(201), val = arrays(202);
  const want = e.map((a, i) => Array.from(a, (x, j) => 0.99 * x + 0.01 * val[i]![j]!));
  k.emaUpdate(e, val, 0.99);
  e.forEach((a, i) => assertClose(a, want[i]!, `ema ${i}`, 1e-6, 1e-7));

  const x = arrays(203, -3, 3);
  const exact = x.reduce((s, a) => s + a.reduce((t, v) => t + v * v, 0), 0);
  assertClose([k.sumSquares(x)], [exact], "sumSquares", 1e-12);
  assert.equal(k.sumSquares([]), 0);

  const wantScaled = x.map((a) => Array.from(a, (v) => Math.fround(v * Math.fround(0.3))));
  k.scaleArrays(x, 0.3);
  x.forEach((a, i) => assertClose(a, wantScaled[i]!, `scaleArrays ${i}`));

  assert.equal(k.allFinite(x), true);
  for (const [arr, at, bad] of [[2, 39_999, NaN], [1, 16, Infinity], [0, 0, -Infinity], [2, 12_345, NaN]] as const) {
    const y = arrays(204);
    y[arr]![at] = bad;
    assert.equal(k.allFinite(y), false, `${bad} at array ${arr} index ${at}`);
  }
});

// ---- randomness ------------------------------------------------------------------------------------

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

check("dropoutMask gives the documented hash's bits", () => {
  const k = loadKernels();
  for (const [seedA, seedB, p] of [[1, 2, 0.5], [0xdeadbeef, 7, 0.1], [123, 0xffffffff, 0.9], [5, 6, 0]] as const) {
    const mask = new Float32Array(70_001);
    k.dropoutMask(seedA, seedB, p, mask);
    const keep = Math.fround(1 / (1 - p));
    for (let i = 0; i < mask.length; i++) {
      const h = fmix32((fmix32((Math.imul(i, 0x9e3779b9) + seedA) >>> 0) ^ seedB) >>> 0);
      const u = (h >>> 8) / 2 ** 24;
      const want = u < p ? 0 : keep;
      if (mask[i] !== want) assert.fail(`mask[${i}] = ${mask[i]}, want ${want} (seeds ${seedA}, ${seedB})`);
    }
  }
});

check("length mismatches are refused with the kernel's and the array's names", () => {
  const k = loadKernels();
  const f = (n: number): Float32Array => new Float32Array(n);
  assert.throws(() => k.unary(Unary.relu, f(4), f(3), 0, 0), /unary: y has 3 elements, expected 4/);
  assert.throws(() => k.batchNormTrain(2, 3, 4, f(23), null, null, 1e-5, 0.1, null, null, f(24), f(3), f(3), Act.none, 0, null),
    /batchNormTrain: x has 23/);
  assert.throws(() => k.batchNormBackward(2, 3, 4, f(24), f(24), f(2), f(3), f(3), f(24), null, null, Act.none, 0, null),
    /weight has 2/);
  assert.throws(() => k.softmax(2, 3, 4, f(24), f(23), false), /softmax: y has 23/);
  assert.throws(() => k.bceWithLogits(f(3), f(4), f(3)), /t has 4/);
  assert.throws(() => k.maxPool2d(poolGeom(poolCases[0]!), f(15), f(4), new Int32Array(4)), /x has 15/);
});

// ---- determinism and the other ISA paths ------------------------------------------------------------

/** Runs every reduction-bearing kernel on fixed inputs and hashes all outputs. */
function digest(k: Kernels): string {
  const h = createHash("sha256");
  const add = (...xs: ArrayBufferView[]): void => xs.forEach((x) => h.update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)));
  for (const [n, c, hw] of [[8, 3, 4099], [4, 64, 257], [64, 2, 3], [2, 1, 100_000]]) {
    const x = randomArray(n! * c! * hw!, 301, 0.5, 3), dy = randomArray(x.length, 302);
    const y = new Float32Array(x.length), sm = new Float32Array(c!), si = new Float32Array(c!);
    const rm = new Float32Array(c!), rv = new Float32Array(c!).fill(1);
    k.batchNormTrain(n!, c!, hw!, x, null, null, 1e-5, 0.1, rm, rv, y, sm, si, Act.none, 0, null);
    const dx = new Float32Array(x.length), dw = new Float32Array(c!), db = new Float32Array(c!);
    k.batchNormBackward(n!, c!, hw!, x, dy, null, sm, si, dx, dw, db, Act.none, 0, null);
    add(y, sm, si, rm, rv, dx, dw, db);
  }
  for (const [xs, os] of sumToCases) {
    const x = randomArray(xs.reduce((p, v) => p * v, 1), 303);
    const out = new Float32Array(os.reduce((p, v) => p * v, 1));
    k.sumTo(x, Int32Array.from(xs), out, Int32Array.from(os));
    add(out);
  }
  const big = [randomArray(1_000_003, 304), randomArray(77, 305)];
  h.update(String(k.sumSquares(big)));
  for (const [outer, dim, inner] of [...softmaxShapes, [2000, 37, 1]] as [number, number, number][]) {
    const x = randomArray(outer * dim * inner, 306, -5, 5), y = new Float32Array(x.length), dx = new Float32Array(x.length);
    k.softmax(outer, dim, inner, x, y, false);
    k.softmaxBackward(outer, dim, inner, y, x, dx, false);
    add(y, dx);
  }
  const [n, c] = [3000, 21];
  const logits = randomArray(n * c, 307, -4, 4), t = Int32Array.from({ length: n }, (_, i) => (i * 7) % c);
  const losses = new Float32Array(n), probs = new Float32Array(n * c);
  k.crossEntropy(n, c, logits, t, 0.1, -100, losses, probs);
  add(losses, probs);
  const g = poolGeom({ n: 8, c: 16, h: 31, w: 29, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 });
  const px = randomArray(8 * 16 * 31 * 29, 308), gy = new Float32Array(8 * 16 * g[12]! * g[13]!);
  const pdx = new Float32Array(px.length);
  k.avgPool2d(g, true, px, gy);
  k.avgPool2dBackward(g, true, gy, pdx);
  add(gy, pdx);
  return h.digest("hex");
}

const thisFile = fileURLToPath(import.meta.url);

function runChild(env: Record<string, string>, args: string[]): { status: number | null; stdout: string; stderr: string } {
  // Without the parent runner's context, so that the child reports in plain TAP.
  const childEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, args, { env: childEnv, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

if (digestMode) {
  process.stdout.write(`${digest(loadKernels())}\n`);
} else if (!process.env.KILN_ISA) {
  check("reductions give the same bits with KILN_THREADS=1 and 2", () => {
    const digests = ["1", "2"].map((threads) => {
      const r = runChild({ KILN_THREADS: threads, KILN_NATIVE_KERNELS_DIGEST: "1" }, [thisFile]);
      assert.equal(r.status, 0, `child with KILN_THREADS=${threads} failed:\n${r.stderr}`);
      return r.stdout.trim();
    });
    assert.match(digests[0]!, /^[0-9a-f]{64}$/);
    assert.equal(digests[0], digests[1]);
  });
  for (const isa of ["avx2", "scalar"]) {
    check(`every test above passes with KILN_ISA=${isa}`, () => {
      const r = runChild({ KILN_ISA: isa }, ["--test", thisFile]);
      assert.equal(r.status, 0, `KILN_ISA=${isa}:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
    });
  }
} else {
  check("the child runs on the ISA it was asked for", () => {
    const isa = loadKernels().info().isa;
    // KILN_ISA only lowers the ISA, so a CPU without AVX2 stays on scalar.
    assert.ok(isa === process.env.KILN_ISA || isa === "scalar", `KILN_ISA=${process.env.KILN_ISA} but isa=${isa}`);
  });
}
