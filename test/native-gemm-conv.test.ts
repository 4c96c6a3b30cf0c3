// The native gemm and convolution kernels against naive double-precision
// oracles written here (plain loops), on every ISA path and thread count.
//
// Tolerance: a float32 dot product of K terms, accumulated in any order, is
// within K·2⁻²⁴·Σ|aᵢbᵢ| of the exact value (the classic γ_K bound), so each
// element is checked against (K + 4)·2⁻²⁴·Σ|aᵢbᵢ| computed by the oracle,
// plus |ref|·2⁻²⁰ for the fused activation's own rounding (exp in silu).
// The bound is per element, so a wrong index shows up even in a large sum.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { nativeKernels, nativeLoadError } from "../src/engine/backend.js";
import { Act, convGeom, type ActOp, type ConvShape, type Kernels } from "../src/engine/kernels.js";

const EPS = 2 ** -24;

function loadKernels(): Kernels {
  const k = nativeKernels();
  assert.ok(k, `native addon failed to load: ${nativeLoadError()}`);
  return k;
}

/** Deterministic pseudo-random floats in [-1, 1) (xorshift32). */
function randomArray(length: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Oracle result: the exact-ish value, the bound's scale Σ|terms| and the number of terms. */
interface Oracle { value: Float64Array; magnitude: Float64Array; terms: number }

function assertClose(got: Float32Array, want: Oracle, what: string, slope = 1): void {
  assert.equal(got.length, want.value.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const ref = want.value[i]!;
    const tol = slope * (want.terms + 4) * EPS * want.magnitude[i]! + Math.abs(ref) * 2 ** -20 + 1e-30;
    const err = Math.abs(got[i]! - ref);
    if (!(err <= tol)) assert.fail(`${what}[${i}]: got ${got[i]}, want ${ref} (error ${err} > tolerance ${tol})`);
  }
}

// In the determinism test's child processes this file only prints a digest.
const digestMode = process.env.KILN_GEMM_CONV_DIGEST === "1";
const check = (name: string, fn: () => void): void => {
  if (!digestMode) test(name, fn);
};

// ---- gemm ------------------------------------------------------------------

function naiveGemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: Float32Array, b: Float32Array, beta: number, c: Float32Array): Oracle {
  const value = new Float64Array(m * n), magnitude = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0, abs = 0;
      for (let p = 0; p < k; p++) {
        const t = (transA ? a[p * m + i]! : a[i * k + p]!) * (transB ? b[j * k + p]! : b[p * n + j]!);
        s += t;
        abs += Math.abs(t);
      }
      const old = beta === 0 ? 0 : beta * c[i * n + j]!;
      value[i * n + j] = alpha * s + old;
      magnitude[i * n + j] = Math.abs(alpha) * abs + Math.abs(old);
    }
  }
  return { value, magnitude, terms: k + 1 };
}

const gemmSizes: [number, number, number][] = [
  [1, 1, 1], [1, 7, 33], [7, 1, 5], [7, 33, 257], [33, 7, 2], [15, 31, 17], [17, 65, 300], [130, 47, 513],
  [29, 100, 1], [257, 33, 64],
];

check("gemm matches the oracle for every transpose combination, odd sizes, alpha and beta", () => {
  const k = loadKernels();
  let seed = 1;
  for (const [m, n, kk] of gemmSizes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const [alpha, beta] of [[1, 0], [-0.75, 0.5], [2, 1]] as const) {
          const a = randomArray(m * kk, seed++), b = randomArray(kk * n, seed++), c = randomArray(m * n, seed++);
          const want = naiveGemm(transA, transB, m, n, kk, alpha, a, b, beta, c);
          k.gemm(1, transA, transB, m, n, kk, alpha, a, 0, b, 0, beta, c, 0);
          assertClose(c, want, `gemm ${m}x${n}x${kk} tA=${transA} tB=${transB} alpha=${alpha} beta=${beta}`);
        }
      }
    }
  }
});

check("gemm with beta = 0 ignores NaN in C, and k = 0 scales C by beta", () => {
  const k = loadKernels();
  const a = randomArray(5 * 3, 7), b = randomArray(3 * 4, 8);
  const c = new Float32Array(5 * 4).fill(NaN);
  k.gemm(1, false, false, 5, 4, 3, 1, a, 0, b, 0, 0, c, 0);
  assertClose(c, naiveGemm(false, false, 5, 4, 3, 1, a, b, 0, c), "beta=0 over NaN");
  const d = Float32Array.from({ length: 6 }, (_, i) => i + 1);
  k.gemm(1, false, false, 2, 3, 0, 1, new Float32Array(0), 0, new Float32Array(0), 0, 0.5, d, 0);
  assert.deepEqual(Array.from(d), [0.5, 1, 1.5, 2, 2.5, 3]);
  d.fill(NaN);
  k.gemm(1, false, false, 2, 3, 0, 1, new Float32Array(0), 0, new Float32Array(0), 0, 0, d, 0);
  assert.deepEqual(Array.from(d), [0, 0, 0, 0, 0, 0]);
});

check("batched gemm: per-item strides, stride 0 reuses one matrix, views are respected", () => {
  const k = loadKernels();
  const batch = 3, m = 9, n = 21, kk = 13;
  const a = randomArray(m * kk, 11);  // shared: stride 0
  const bBig = randomArray(batch * kk * n + 5, 12);
  const b = bBig.subarray(5);          // a view with a byte offset
  const c = randomArray(batch * m * n, 13);
  const wants = [];
  for (let i = 0; i < batch; i++) {
    wants.push(naiveGemm(false, true, m, n, kk, 1.25, a, b.subarray(i * kk * n, (i + 1) * kk * n), 0.5,
      c.subarray(i * m * n, (i + 1) * m * n)));
  }
  k.gemm(batch, false, true, m, n, kk, 1.25, a, 0, b, kk * n, 0.5, c, m * n);
  for (let i = 0; i < batch; i++) assertClose(c.subarray(i * m * n, (i + 1) * m * n), wants[i]!, `batch item ${i}`);
});

check("gemm rejects arrays too short for the shape", () => {
  const k = loadKernels();
  assert.throws(() => k.gemm(2, false, false, 4, 4, 4, 1, new Float32Array(16), 16, new Float32Array(16), 0, 0,
    new Float32Array(32), 16));
});

// ---- convolution ---------------------------------------------------------------

interface ConvCase extends ConvShape { bias: boolean; act: ActOp; alpha?: number }

function dims(s: ConvShape): { outH: number; outW: number; cInG: number; cOutG: number } {
  const g = convGeom(s);
  return { outH: g[14]!, outW: g[15]!, cInG: s.cIn / s.groups, cOutG: s.cOut / s.groups };
}

/** Calls visit(n, co, oy, ox, ci, ky, kx, xIndex) for every valid (output, tap) pair. */
function forEachTap(s: ConvShape, visit: (yIndex: number, xIndex: number, wIndex: number) => void): void {
  const { outH, outW, cInG, cOutG } = dims(s);
  for (let n = 0; n < s.n; n++)
    for (let co = 0; co < s.cOut; co++) {
      const grp = Math.floor(co / cOutG);
      for (let oy = 0; oy < outH; oy++)
        for (let ox = 0; ox < outW; ox++) {
          const yIndex = ((n * s.cOut + co) * outH + oy) * outW + ox;
          for (let ci = 0; ci < cInG; ci++)
            for (let ky = 0; ky < s.kh; ky++) {
              const iy = oy * s.strideH - s.padH + ky * s.dilH;
              if (iy < 0 || iy >= s.h) continue;
              for (let kx = 0; kx < s.kw; kx++) {
                const ix = ox * s.strideW - s.padW + kx * s.dilW;
                if (ix < 0 || ix >= s.w) continue;
                const xIndex = ((n * s.cIn + grp * cInG + ci) * s.h + iy) * s.w + ix;
                visit(yIndex, xIndex, ((co * cInG + ci) * s.kh + ky) * s.kw + kx);
              }
            }
        }
    }
}

function activate(act: ActOp, alpha: number, v: number): number {
  switch (act) {
    case Act.relu: return Math.max(v, 0);
    case Act.relu6: return Math.min(Math.max(v, 0), 6);
    case Act.leakyRelu: return v > 0 ? v : alpha * v;
    case Act.silu: return v / (1 + Math.exp(-v));
    case Act.hardswish: return v * Math.min(Math.max(v + 3, 0), 6) / 6;
    default: return v;
  }
}

function naiveConv(s: ConvCase, x: Float32Array, w: Float32Array, bias: Float32Array | null): Oracle {
  const { outH, outW, cInG } = dims(s);
  const size = s.n * s.cOut * outH * outW;
  const sum = new Float64Array(size), magnitude = new Float64Array(size);
  forEachTap(s, (yi, xi, wi) => {
    sum[yi] += x[xi]! * w[wi]!;
    magnitude[yi] += Math.abs(x[xi]! * w[wi]!);
  });
  const value = new Float64Array(size);
  const plane = outH * outW;
  for (let i = 0; i < size; i++) {
    const b = bias ? bias[Math.floor(i / plane) % s.cOut]! : 0;
    value[i] = activate(s.act, s.alpha ?? 0, sum[i]! + b);
    magnitude[i] += Math.abs(b);
  }
  return { value, magnitude, terms: cInG * s.kh * s.kw + 1 };
}

function naiveConvBackwardInput(s: ConvShape, dy: Float32Array, w: Float32Array): Oracle {
  const size = s.n * s.cIn * s.h * s.w;
  const value = new Float64Array(size), magnitude = new Float64Array(size);
  forEachTap(s, (yi, xi, wi) => {
    value[xi] += dy[yi]! * w[wi]!;
    magnitude[xi] += Math.abs(dy[yi]! * w[wi]!);
  });
  return { value, magnitude, terms: s.cOut * s.kh * s.kw };
}

function naiveConvBackwardWeight(s: ConvShape, x: Float32Array, dy: Float32Array): { dw: Oracle; db: Oracle } {
  const { outH, outW, cInG } = dims(s);
  const wSize = s.cOut * cInG * s.kh * s.kw;
  const value = new Float64Array(wSize), magnitude = new Float64Array(wSize);
  forEachTap(s, (yi, xi, wi) => {
    value[wi] += dy[yi]! * x[xi]!;
    magnitude[wi] += Math.abs(dy[yi]! * x[xi]!);
  });
  const plane = outH * outW;
  const bValue = new Float64Array(s.cOut), bMagnitude = new Float64Array(s.cOut);
  for (let i = 0; i < dy.length; i++) {
    const c = Math.floor(i / plane) % s.cOut;
    bValue[c] += dy[i]!;
    bMagnitude[c] += Math.abs(dy[i]!);
  }
  const terms = s.n * plane;
  return { dw: { value, magnitude, terms }, db: { value: bValue, magnitude: bMagnitude, terms } };
}

function shape(n: number, cIn: number, h: number, w: number, cOut: number, k: number | [number, number],
  opts: Partial<ConvCase> = {}): ConvCase {
  const [kh, kw] = typeof k === "number" ? [k, k] : k;
  return {
    n, cIn, h, w, cOut, kh, kw, strideH: 1, strideW: 1, padH: 0, padW: 0, dilH: 1, dilW: 1, groups: 1,
    bias: false, act: Act.none, ...opts,
  };
}

const convCases: [string, ConvCase][] = [
  ["mnist-like 1->5 3x3 p1", shape(2, 1, 9, 9, 5, 3, { padH: 1, padW: 1, bias: true, act: Act.relu })],
  ["7x7 stride 2 stem, batch 1", shape(1, 3, 13, 11, 17, 7, { strideH: 2, strideW: 2, padH: 3, padW: 3, bias: true })],
  ["1x1 pointwise", shape(3, 19, 5, 6, 33, 1, { bias: true, act: Act.silu })],
  ["1x1 stride 2 downsample", shape(2, 8, 7, 7, 12, 1, { strideH: 2, strideW: 2 })],
  ["3x3 dilation 2", shape(2, 5, 10, 9, 7, 3, { padH: 2, padW: 2, dilH: 2, dilW: 2, act: Act.leakyRelu, alpha: 0.1 })],
  ["groups 2", shape(2, 6, 8, 8, 10, 3, { padH: 1, padW: 1, groups: 2, bias: true, act: Act.hardswish })],
  ["depthwise 3x3", shape(2, 9, 11, 10, 9, 3, { padH: 1, padW: 1, groups: 9, bias: true, act: Act.relu6 })],
  ["depthwise 3x3 stride 2", shape(2, 7, 11, 12, 7, 3, { strideH: 2, strideW: 2, padH: 1, padW: 1, groups: 7 })],
  ["depthwise 5x5 dilation 2", shape(1, 4, 13, 12, 4, 5, { padH: 3, padW: 1, dilH: 2, dilW: 2, groups: 4 })],
  ["depthwise 1x1", shape(2, 5, 6, 7, 5, 1, { groups: 5, bias: true, act: Act.silu })],
  ["depthwise 1x1 stride 2, padding 1", shape(1, 3, 7, 8, 3, 1, { strideH: 2, strideW: 2, padH: 1, padW: 1, groups: 3 })],
  ["depthwise 7x7 padding 3, leaky relu",
    shape(2, 4, 9, 10, 4, 7, { padH: 3, padW: 3, groups: 4, bias: true, act: Act.leakyRelu, alpha: 0.1 })],
  ["depthwise 3x5, stride 2x3, dilation 2x1", shape(2, 3, 13, 17, 3, [3, 5],
    { strideH: 2, strideW: 3, padH: 2, padW: 1, dilH: 2, groups: 3, bias: true, act: Act.hardswish })],
  ["depthwise 3x3 stride 2, dilation 3", shape(1, 2, 15, 16, 2, 3,
    { strideH: 2, strideW: 2, padH: 3, padW: 3, dilH: 3, dilW: 3, groups: 2 })],
  ["depthwise padding wider than the kernel", shape(1, 2, 4, 5, 2, 3, { padH: 3, padW: 4, groups: 2 })],
  ["depthwise 3x3, width 48", shape(2, 3, 7, 48, 3, 3, { padH: 1, padW: 1, groups: 3, bias: true, act: Act.relu })],
  ["depthwise 3x3 stride 2, width 48", shape(1, 3, 9, 48, 3, 3, { strideH: 2, strideW: 2, padH: 1, padW: 1, groups: 3 })],
  // Every narrow width, stride 1 and 2 with padding 1 (batch 1 and 2).
  ...Array.from({ length: 34 }, (_, i): [string, ConvCase] => {
    const w = (i >> 1) + 1, s = (i & 1) + 1, h = 1 + (w * 5) % 9;
    return [`depthwise 3x3 stride ${s}, ${h}x${w}`, shape(1 + (i & 1), 3, h, w, 3, 3,
      { strideH: s, strideW: s, padH: 1, padW: 1, groups: 3, bias: w % 3 === 0, act: w % 4 === 0 ? Act.relu6 : Act.none })];
  }),
  ["tiny 2x2 maps, tiles straddle images", shape(5, 20, 2, 2, 40, 3, { padH: 1, padW: 1, bias: true })],
  ["32->64 3x3 on 12x12 (several depth blocks)", shape(2, 32, 12, 12, 64, 3, { padH: 1, padW: 1 })],
  ["3x3 stride 2 on odd input", shape(3, 6, 9, 11, 18, 3, { strideH: 2, strideW: 2, padH: 1, padW: 1, act: Act.silu })],
  ["padding wider than the kernel", shape(2, 3, 5, 4, 4, 3, { padH: 3, padW: 2 })],
  ["1x1 with padding", shape(2, 3, 4, 5, 6, 1, { padH: 1, padW: 1 })],
  ["rectangular kernel and stride", shape(2, 5, 9, 8, 6, [3, 1], { strideH: 2, strideW: 1, padH: 1, padW: 0 })],
  ["groups 3 of 1x1", shape(2, 9, 5, 5, 6, 1, { groups: 3, bias: true })],
  ["narrow maps, many images (many pixel runs per depth block)", shape(40, 3, 4, 2, 5, 3, { padH: 1, padW: 1 })],
  ["3x3 stride 3 (no table path)", shape(2, 4, 11, 10, 5, 3, { strideH: 3, strideW: 3, padH: 1, padW: 1 })],
  ["4x4 maps, deep: staged output", shape(3, 40, 4, 4, 20, 3, { padH: 1, padW: 1, bias: true, act: Act.relu })],
  ["groups 2, 3x3 maps, deep: staged output", shape(2, 80, 3, 3, 18, 3, { padH: 1, padW: 1, groups: 2, bias: true })],
  // Small padded maps with >= 64 input channels, in batches that fill the
  // micro-kernel's columns, take the sum over valid taps (conv_tapsum.h);
  // those with >= 64 output channels also in backward input.
  ["tap sum: 2x2 maps", shape(32, 64, 2, 2, 20, 3, { padH: 1, padW: 1, bias: true, act: Act.relu })],
  ["tap sum: 4x3 maps, 70 channels", shape(32, 70, 4, 3, 33, 3, { padH: 1, padW: 1, act: Act.silu })],
  ["tap sum: stride 2", shape(32, 64, 5, 4, 16, 3, { strideH: 2, strideW: 2, padH: 1, padW: 1, bias: true })],
  ["tap sum: dilation 2, padding 2", shape(32, 64, 3, 3, 8, 3, { padH: 2, padW: 2, dilH: 2, dilW: 2 })],
  ["tap sum: 3x5 kernel", shape(32, 66, 3, 4, 12, [3, 5], { padH: 1, padW: 2, bias: true })],
  ["tap sum: 530 channels (two depth blocks)", shape(32, 530, 2, 2, 17, 3, { padH: 1, padW: 1 })],
  ["tap sum in backward input: 3x3 maps", shape(32, 20, 3, 3, 72, 3, { padH: 1, padW: 1 })],
  ["tap sum both ways: 65 output channels (13-row panels)", shape(32, 64, 2, 3, 65, 3, { padH: 1, padW: 1, bias: true })],
  // A batch too small to fill the columns: the direct GEMM (same answers).
  ["2x2 maps, batch 3: direct", shape(3, 64, 2, 2, 20, 3, { padH: 1, padW: 1, bias: true })],
  ["tap sum: weight gradient two depth blocks deep", shape(40, 64, 4, 4, 8, 3, { padH: 1, padW: 1 })],
  // Inputs of <= 4 channels with outputs >= 16 wide take the direct forward
  // convolution (conv_small_input.h): stride phases, dilation, tails of a vector.
  ["direct: 3->17 3x3 stride 2 on 40x34", shape(2, 3, 40, 34, 17, 3, { strideH: 2, strideW: 2, padH: 1, padW: 1, bias: true, act: Act.silu })],
  ["direct: 7x7 stride 2 stem on 37x41", shape(1, 3, 37, 41, 9, 7, { strideH: 2, strideW: 2, padH: 3, padW: 3, bias: true })],
  ["direct: 1 channel 5x5 dilation 2", shape(2, 1, 12, 30, 6, 5, { padH: 3, padW: 3, dilH: 2, dilW: 2, act: Act.relu })],
  ["direct: 4 channels, 70 wide, stride 3x1", shape(1, 4, 9, 70, 5, [3, 2], { strideH: 3, strideW: 1, padH: 1, padW: 0 })],
];

check("conv2d forward matches the oracle, with bias and fused activations", () => {
  const k = loadKernels();
  let seed = 100;
  for (const [name, s] of convCases) {
    const { outH, outW, cInG } = dims(s);
    const x = randomArray(s.n * s.cIn * s.h * s.w, seed++);
    const w = randomArray(s.cOut * cInG * s.kh * s.kw, seed++);
    const bias = s.bias ? randomArray(s.cOut, seed++) : null;
    const y = new Float32Array(s.n * s.cOut * outH * outW).fill(NaN);
    k.conv2d(convGeom(s), x, w, bias, y, s.act, s.alpha ?? 0);
    // Activations' slopes are at most 1.5 (hardswish), so the sum's error grows by that much.
    assertClose(y, naiveConv(s, x, w, bias), `conv2d ${name}`, 1.5);
  }
});

check("conv2d backward input and weight (and bias) match the oracle", () => {
  const k = loadKernels();
  let seed = 500;
  for (const [name, s] of convCases) {
    const { outH, outW, cInG } = dims(s);
    const x = randomArray(s.n * s.cIn * s.h * s.w, seed++);
    const w = randomArray(s.cOut * cInG * s.kh * s.kw, seed++);
    const dy = randomArray(s.n * s.cOut * outH * outW, seed++);
    const g = convGeom(s);
    const dx = new Float32Array(x.length).fill(NaN);
    k.conv2dBackwardInput(g, dy, w, dx);
    assertClose(dx, naiveConvBackwardInput(s, dy, w), `conv2dBackwardInput ${name}`);
    const dw = new Float32Array(w.length).fill(NaN), db = new Float32Array(s.cOut).fill(NaN);
    const want = naiveConvBackwardWeight(s, x, dy);
    k.conv2dBackwardWeight(g, x, dy, dw, s.bias ? db : null);
    assertClose(dw, want.dw, `conv2dBackwardWeight ${name}`);
    if (s.bias) assertClose(db, want.db, `conv2dBackwardWeight bias ${name}`);
  }
});

check("conv2d rejects a geometry whose output size does not match", () => {
  const k = loadKernels();
  const g = convGeom(shape(1, 1, 4, 4, 1, 3));
  g[14] = 3;
  assert.throws(() => k.conv2d(g, new Float32Array(16), new Float32Array(9), null, new Float32Array(9), Act.none, 0));
});

// ---- every ISA path, and the same bits for any thread count ----------------------

const thisFile = fileURLToPath(import.meta.url);

/** Digest of gemm and conv outputs on shapes big enough to be split over threads. */
function outputDigest(k: Kernels): string {
  const hash = createHash("sha256");
  const add = (a: Float32Array): void => { hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)); };
  const m = 301, n = 203, kk = 700;
  const c = randomArray(m * n, 3);
  k.gemm(1, false, true, m, n, kk, 1, randomArray(m * kk, 1), 0, randomArray(n * kk, 2), 0, 0.5, c, 0);
  add(c);
  for (const s of [shape(4, 32, 17, 17, 48, 3, { padH: 1, padW: 1 }), shape(8, 40, 4, 4, 72, 3, { strideH: 2, strideW: 2, padH: 1, padW: 1 }),
    shape(4, 24, 9, 9, 24, 3, { padH: 1, padW: 1, groups: 24 }),
    shape(8, 80, 7, 7, 80, 3, { strideH: 2, strideW: 2, padH: 1, padW: 1, groups: 80 }),
    shape(32, 64, 4, 4, 96, 3, { padH: 1, padW: 1 }), shape(2, 3, 40, 40, 16, 3, { strideH: 2, strideW: 2, padH: 1, padW: 1 })]) {
    const { outH, outW, cInG } = dims(s);
    const x = randomArray(s.n * s.cIn * s.h * s.w, 4), w = randomArray(s.cOut * cInG * 9, 5);
    const dy = randomArray(s.n * s.cOut * outH * outW, 6);
    const g = convGeom(s);
    const y = new Float32Array(dy.length), dx = new Float32Array(x.length), dw = new Float32Array(w.length);
    const db = new Float32Array(s.cOut);
    k.conv2d(g, x, w, null, y, Act.none, 0);
    k.conv2dBackwardInput(g, dy, w, dx);
    k.conv2dBackwardWeight(g, x, dy, dw, db);
    [y, dx, dw, db].forEach(add);
  }
  return hash.digest("hex");
}

function runChild(env: Record<string, string>, args: string[]): { status: number | null; stdout: string; stderr: string } {
  // Without the parent runner's context, so that the child reports in plain TAP.
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, args, { env: childEnv, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

if (digestMode) {
  process.stdout.write(`digest ${outputDigest(loadKernels())}\n`);
} else if (!process.env.KILN_ISA) {
  check("same bits with KILN_THREADS=1 and 2", () => {
    const digest = (threads: string): string => {
      const r = runChild({ KILN_THREADS: threads, KILN_GEMM_CONV_DIGEST: "1" }, [thisFile]);
      assert.equal(r.status, 0, `KILN_THREADS=${threads} child: status ${r.status}\n${r.stderr}`);
      const line = r.stdout.split("\n").find((l) => l.startsWith("digest "));
      assert.ok(line, r.stdout);
      return line;
    };
    assert.equal(digest("1"), digest("2"));
  });

  for (const isa of ["avx2", "scalar"]) {
    check(`every test above passes with KILN_ISA=${isa}`, () => {
      const r = runChild({ KILN_ISA: isa }, ["--test", thisFile]);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /# pass [1-9]/);
      assert.match(r.stdout, /# fail 0/);
    });
  }
} else {
  check("the forced ISA is the one in use", () => {
    const isa = loadKernels().info().isa;
    // KILN_ISA only lowers the ISA, so a CPU without AVX2 stays on scalar.
    assert.ok(isa === process.env.KILN_ISA || isa === "scalar", `KILN_ISA=${process.env.KILN_ISA} but isa=${isa}`);
  });
}
