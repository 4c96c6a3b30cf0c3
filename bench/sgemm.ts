// SGEMM and convolution throughput of the native kernels, next to PyTorch's
// (bench/peer/sgemm.py: torch.mm and aten's convolution and its backward, on
// OpenBLAS/oneDNN with the same threads), as JSON lines with ratios.
//
//   npm run bench -- sgemm [--threads N] [--conv-only | --gemm-only] [--peer torch|none]
//
// Peak: the addon's `peakGflops()` runs independent FMA chains (more chains
// than FMA latency x ports, the widest FMA of the active ISA) on every pool
// thread at once and sums each thread's own flops per second; share_of_peak
// is measured GFLOP/s over that figure. Each figure is the best of several
// timed rounds (the machine is shared; the best round is the least disturbed).
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { nativeKernels, nativeLoadError } from "../src/engine/backend.js";
import { Act, convGeom, type ConvShape, type Kernels } from "../src/engine/kernels.js";
import { intFlag, PEER_PYTHON, round, runJson } from "./stats.js";

const PEER_SCRIPT = fileURLToPath(new URL("../../bench/peer/sgemm.py", import.meta.url));
const GEMM_SIZES = [256, 1024, 2048];

interface ConvRates { forward_gflops: number; backward_input_gflops: number; backward_weight_gflops: number }
interface PeerResult { gemm: Record<string, number>; conv: Record<string, ConvRates>; torch: string; threads: number }

type NativeKernels = Kernels & { peakGflops(): number };

function filled(length: number, seed: number): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = ((i * 7919 + seed * 104729) % 2001) / 1000 - 1;
  return a;
}

/** Best seconds per call over `rounds` rounds, each long enough (~0.2 s) to time. */
function bestSeconds(fn: () => void, rounds = 5): number {
  fn();
  let reps = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    if (performance.now() - t > 100) break;
    reps *= 2;
  }
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    best = Math.min(best, (performance.now() - t) / 1000 / reps);
  }
  return best;
}

function benchGemm(k: NativeKernels, peak: number, peer: PeerResult | null): void {
  const { isa, threads } = k.info();
  for (const size of GEMM_SIZES) {
    const a = filled(size * size, 1), b = filled(size * size, 2), c = new Float32Array(size * size);
    const s = bestSeconds(() => k.gemm(1, false, false, size, size, size, 1, a, 0, b, 0, 0, c, 0));
    const gflops = (2 * size ** 3) / s / 1e9;
    const torch = peer?.gemm[String(size)];
    console.log(JSON.stringify({
      m: size, n: size, k: size, gflops: round(gflops, 1), peak_gflops: round(peak, 1), share_of_peak: round(gflops / peak, 3),
      ...(torch === undefined ? {} : { torch_gflops: round(torch, 1), kiln_over_torch: round(gflops / torch, 3) }), threads, isa,
    }));
  }
}

// ResNet-18 at 64 px, batch 32: the stem and one conv of each stage, the downsample, and
// a MobileNetV2-style pointwise and a YOLOv8n-style stride-2 conv.
const convShapes: [string, ConvShape][] = [
  ["resnet18.conv1 3>64 7x7 s2 64px", conv(32, 3, 64, 64, 64, 7, 2, 3)],
  ["resnet18.layer1 64>64 3x3 16px", conv(32, 64, 16, 16, 64, 3, 1, 1)],
  ["resnet18.layer2 128>128 3x3 8px", conv(32, 128, 8, 8, 128, 3, 1, 1)],
  ["resnet18.layer2.down 64>128 1x1 s2", conv(32, 64, 16, 16, 128, 1, 2, 0)],
  ["resnet18.layer3 256>256 3x3 4px", conv(32, 256, 4, 4, 256, 3, 1, 1)],
  ["resnet18.layer4 512>512 3x3 2px", conv(32, 512, 2, 2, 512, 3, 1, 1)],
  ["resnet18.layer4.0 256>512 3x3 s2 4px", conv(32, 256, 4, 4, 512, 3, 2, 1)],
  ["mobilenetv2 1x1 24>144 24px", conv(32, 24, 24, 24, 144, 1, 1, 0)],
  ["yolov8n 3x3 s2 32>64 80px", conv(8, 32, 80, 80, 64, 3, 2, 1)],
];

function conv(n: number, cIn: number, h: number, w: number, cOut: number, k: number, stride: number, pad: number): ConvShape {
  return { n, cIn, h, w, cOut, kh: k, kw: k, strideH: stride, strideW: stride, padH: pad, padW: pad, dilH: 1, dilW: 1, groups: 1 };
}

function benchConv(k: NativeKernels, peer: PeerResult | null): void {
  const { isa, threads } = k.info();
  for (const [name, s] of convShapes) {
    const g = convGeom(s);
    const outH = g[14]!, outW = g[15]!;
    const x = filled(s.n * s.cIn * s.h * s.w, 1), w = filled(s.cOut * (s.cIn / s.groups) * s.kh * s.kw, 2);
    const y = new Float32Array(s.n * s.cOut * outH * outW), dy = filled(y.length, 3);
    const dx = new Float32Array(x.length), dw = new Float32Array(w.length), db = new Float32Array(s.cOut);
    const flops = 2 * s.n * s.cOut * outH * outW * (s.cIn / s.groups) * s.kh * s.kw;
    const rate = (fn: () => void): number => round(flops / bestSeconds(fn, 3) / 1e9, 1);
    const kiln: ConvRates = {
      forward_gflops: rate(() => k.conv2d(g, x, w, null, y, Act.none, 0)),
      backward_input_gflops: rate(() => k.conv2dBackwardInput(g, dy, w, dx)),
      backward_weight_gflops: rate(() => k.conv2dBackwardWeight(g, x, dy, dw, db)),
    };
    const torch = peer?.conv[name];
    const ratios = torch ? Object.fromEntries((Object.keys(kiln) as (keyof ConvRates)[]).flatMap((key) => [
      [`torch_${key}`, round(torch[key], 1)], [`${key.replace("_gflops", "")}_kiln_over_torch`, round(kiln[key] / torch[key], 3)],
    ])) : {};
    console.log(JSON.stringify({ conv: name, threads, isa, ...kiln, ...ratios }));
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      threads: { type: "string" }, "conv-only": { type: "boolean", default: false }, "gemm-only": { type: "boolean", default: false },
      peer: { type: "string", default: "torch" },
    },
    strict: true,
  });
  if (values.peer !== "torch" && values.peer !== "none") throw new Error(`--peer must be torch or none, got "${values.peer}"`);
  const k = nativeKernels() as NativeKernels | null;
  if (!k) throw new Error(`kiln: the native addon did not load: ${nativeLoadError()}`);
  if (values.threads !== undefined) k.setThreads(intFlag("--threads", values.threads, 0));
  const threads = k.info().threads;
  const gemm = !values["conv-only"], convs = !values["gemm-only"];
  // The peer runs first, alone, so the two never share the cores.
  const peer = values.peer === "torch" ? runJson<PeerResult>("PyTorch sgemm", PEER_PYTHON, [PEER_SCRIPT],
    // A plain mm goes straight to OpenBLAS, so here it gets the same threads (its fastest for this call).
    { ...process.env, OPENBLAS_NUM_THREADS: String(threads) }, JSON.stringify({ threads, gemm: gemm ? GEMM_SIZES : [], conv: convs ? convShapes : [] })).result : null;
  if (gemm) benchGemm(k, k.peakGflops(), peer);
  if (convs) benchConv(k, peer);
}
