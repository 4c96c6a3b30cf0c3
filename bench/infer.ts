// `npm run bench -- infer`: batch-1 inference latency of resnet18 at 224 and
// yolov8n at 320 (its raw head maps), kiln against PyTorch and against
// onnxruntime-node running kiln's own exported ONNX model.
// Protocol (../shared/reference/machine.md): the three runners alternate in
// fresh processes (≥ 3 rounds), each warming up then timing single-image
// forwards; per runner the median of the per-process medians is reported.
// PyTorch and onnxruntime get kiln's thread count (PyTorch with
// OPENBLAS_NUM_THREADS=1, its fastest configuration here). kiln runs its
// fused inference path (model.fuse(), noGrad), as `kiln predict` does.
// This file is also the worker: `infer.js --worker kiln|ort --case NAME`.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { intFlag, median, PEER_PYTHON, round, runJson } from "./stats.js";

const PEER_SCRIPT = fileURLToPath(new URL("../../bench/peer/infer.py", import.meta.url));
const SELF = fileURLToPath(import.meta.url);

const CASES = {
  resnet18_224: { model: "resnet18", nc: 1000, imgsz: 224 },
  yolov8n_320: { model: "yolov8n", nc: 80, imgsz: 320 },
} as const;
type CaseName = keyof typeof CASES;

interface RunResult { runner: string; ms: number; threads: number; detail: string }

async function worker(runner: string, name: CaseName, iters: number, warmup: number, onnxPath: string): Promise<void> {
  const { createModel } = await import("../src/models/index.js");
  const { kernels, noGrad, randn, Rng, tidy } = await import("../src/engine/index.js");
  const c = CASES[name];
  const model = createModel(c.model, { nc: c.nc, rng: new Rng(0) });
  model.eval();
  const x = randn([1, 3, c.imgsz, c.imgsz], new Rng(1));
  const threads = kernels().info().threads;
  let run: () => Promise<void>;
  let detail: string = kernels().info().isa;
  if (runner === "kiln") {
    model.fuse();
    const fwd = model as unknown as { forward(t: typeof x): unknown };
    run = async () => noGrad(() => tidy(() => void fwd.forward(x)));
  } else {
    const { exportOnnx } = await import("../src/io/onnx/export.js");
    writeFileSync(onnxPath, exportOnnx(model, { input: [3, c.imgsz, c.imgsz] }).bytes);
    const ort = await import("onnxruntime-node");
    const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    const input = new ort.Tensor("float32", x.data.slice(), [1, 3, c.imgsz, c.imgsz]);
    run = async () => void (await session.run({ images: input }));
    detail = "onnxruntime-node CPU";
  }
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const start = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  process.stdout.write(`${JSON.stringify({ runner, ms: median(times), threads, detail })}\n`);
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      case: { type: "string", multiple: true }, peer: { type: "string", default: "torch" },
      rounds: { type: "string" }, iters: { type: "string" }, warmup: { type: "string" },
      worker: { type: "string" }, out: { type: "string" },
    },
    strict: true,
  });
  const iters = intFlag("--iters", values.iters, 30);
  const warmup = intFlag("--warmup", values.warmup, 5, 0);
  if (values.worker !== undefined) {
    await worker(values.worker, values.case![0] as CaseName, iters, warmup, values.out!);
    return;
  }
  const names = (values.case ?? Object.keys(CASES)) as CaseName[];
  for (const n of names) if (!(n in CASES)) throw new Error(`unknown case "${n}"; the cases: ${Object.keys(CASES).join(", ")}`);
  if (values.peer !== "torch" && values.peer !== "none") throw new Error(`--peer must be torch or none, got "${values.peer}"`);
  const rounds = intFlag("--rounds", values.rounds, 3);
  const dir = mkdtempSync(join(tmpdir(), "kiln-bench-infer-"));
  for (const name of names) {
    const c = CASES[name];
    const results: Record<string, RunResult[]> = { kiln: [], ort: [], torch: [] };
    const common = ["--case", name, "--iters", String(iters), "--warmup", String(warmup)];
    for (let r = 1; r <= rounds; r++) {
      for (const runner of ["kiln", "ort"]) {
        results[runner].push(runJson<RunResult>(`${runner} ${name}`, process.execPath, [SELF, "--worker", runner, "--out", join(dir, `${name}.onnx`), ...common], process.env).result);
      }
      const threads = results.kiln[results.kiln.length - 1].threads;
      if (values.peer === "torch") {
        results.torch.push(runJson<RunResult>(`PyTorch ${name}`, PEER_PYTHON,
          [PEER_SCRIPT, "--model", c.model, "--imgsz", String(c.imgsz), "--nc", String(c.nc), "--iters", String(iters), "--warmup", String(warmup), "--threads", String(threads)],
          { ...process.env, OPENBLAS_NUM_THREADS: "1" }).result);
      }
      const last = (k: string): string => (results[k].length ? `${k} ${results[k][results[k].length - 1].ms.toFixed(2)} ms` : "");
      process.stderr.write(`[infer] ${name} ${r}/${rounds}: ${["kiln", "ort", "torch"].map(last).filter(Boolean).join(", ")}\n`);
    }
    const med = (k: string): number | null => (results[k].length ? round(median(results[k].map((x) => x.ms)), 3) : null);
    const kiln = med("kiln")!, ort = med("ort")!, torch = med("torch");
    process.stdout.write(`${JSON.stringify({
      case: name, batch: 1, imgsz: c.imgsz, kiln_ms: kiln, onnxruntime_ms: ort, torch_ms: torch,
      kiln_vs_torch: torch === null ? null : round(kiln / torch, 3), kiln_vs_onnxruntime: round(kiln / ort, 3),
      target: "kiln <= torch and kiln <= 1.25 x onnxruntime",
      rounds, iters, warmup, threads: results.kiln[0].threads, isa: results.kiln[0].detail,
      kiln_runs: results.kiln.map((x) => round(x.ms, 3)), onnxruntime_runs: results.ort.map((x) => round(x.ms, 3)),
      torch_runs: results.torch.map((x) => round(x.ms, 3)), torch: results.torch[0]?.detail ?? null,
    })}\n`);
  }
}

// Run as a worker process (node dist/bench/infer.js --worker …).
if (process.argv[1] === SELF && process.argv.includes("--worker")) await main(process.argv.slice(2));
