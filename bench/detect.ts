// `npm run bench -- detect`: a YOLOv8n training step with the real detection
// loss (TaskAlignedAssigner, CIoU, DFL, BCE), kiln against PyTorch. Random
// images (each side its own: the content does not change the work) and the
// same random boxes on both sides, generated here from a seed and passed to
// each process as JSON on stdin. Protocol as bench/engine.ts: kiln and
// PyTorch alternate in fresh processes, never at once; medians compared;
// PyTorch gets kiln's thread count and OPENBLAS_NUM_THREADS=1.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Rng } from "../src/engine/index.js";
import type { DetectTargetsJson, DetectWorkerResult } from "./detect-worker.js";
import { intFlag, median, PEER_PYTHON, round, runJson } from "./stats.js";

const PEER_SCRIPT = fileURLToPath(new URL("../../bench/peer/detect.py", import.meta.url));
const WORKER_SCRIPT = fileURLToPath(new URL("./detect-worker.js", import.meta.url));

interface PeerResult {
  images_per_s: number;
  step_ms: number;
  loss_ms: number;
  peak_rss_mb: number;
  threads: number;
  blas: string;
  torch: string;
  params: number;
  loss: number;
}

/**
 * 1–8 objects per image (one image in eight empty, as real batches have some), random classes,
 * sides 4–60 % of the image, centres keeping the box inside: what a mosaic batch holds.
 */
export function randomTargets(batch: number, imgsz: number, nc: number, seed: number): DetectTargetsJson {
  const rng = new Rng(seed);
  const t: DetectTargetsJson = { batch, imgsz, nc, batch_idx: [], cls: [], bboxes: [] };
  for (let b = 0; b < batch; b++) {
    const n = b % 8 === 7 ? 0 : 1 + (rng.nextUint32() % 8);
    for (let k = 0; k < n; k++) {
      const w = 0.04 + 0.56 * rng.uniform(), h = 0.04 + 0.56 * rng.uniform();
      const cx = w / 2 + (1 - w) * rng.uniform(), cy = h / 2 + (1 - h) * rng.uniform();
      t.batch_idx.push(b);
      t.cls.push(rng.nextUint32() % nc);
      t.bboxes.push([cx, cy, w, h].map((v) => Math.fround(v)));
    }
  }
  return t;
}

interface RunOptions {
  steps: number;
  warmup: number;
  input: string;
}

function runKiln(o: RunOptions): DetectWorkerResult {
  return runJson<DetectWorkerResult>("kiln detect", process.execPath,
    [WORKER_SCRIPT, "--steps", String(o.steps), "--warmup", String(o.warmup)], process.env, o.input).result;
}

function runTorch(o: RunOptions, threads: number): PeerResult {
  return runJson<PeerResult>("PyTorch detect", PEER_PYTHON,
    [PEER_SCRIPT, "--steps", String(o.steps), "--warmup", String(o.warmup), "--threads", String(threads)],
    { ...process.env, OPENBLAS_NUM_THREADS: "1" }, o.input).result;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      batch: { type: "string" },
      imgsz: { type: "string" },
      peer: { type: "string", default: "torch" },
      pairs: { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string" },
      seed: { type: "string" },
    },
    strict: true,
  });
  if (values.peer !== "torch" && values.peer !== "none") throw new Error(`--peer must be torch or none, got "${values.peer}"`);
  const withPeer = values.peer === "torch";
  const batch = intFlag("--batch", values.batch, 16);
  const imgsz = intFlag("--imgsz", values.imgsz, 320, 32);
  if (imgsz % 32 !== 0) throw new Error(`--imgsz must be a multiple of 32, got ${imgsz}`);
  const pairs = intFlag("--pairs", values.pairs, 3);
  const nc = 80;
  const targets = randomTargets(batch, imgsz, nc, intFlag("--seed", values.seed, 0, 0));
  const o: RunOptions = { steps: intFlag("--steps", values.steps, 5), warmup: intFlag("--warmup", values.warmup, 2, 0), input: JSON.stringify(targets) };

  const kiln: DetectWorkerResult[] = [];
  const torch: PeerResult[] = [];
  for (let p = 1; p <= pairs; p++) {
    const k = runKiln(o);
    kiln.push(k);
    let line = `[detect] ${p}/${pairs}: kiln ${k.images_per_s.toFixed(2)} img/s (loss ${k.loss_ms.toFixed(1)} ms of ${k.step_ms.toFixed(0)} ms, ${k.threads} threads, ${k.isa})`;
    if (withPeer) {
      const t = runTorch(o, k.threads);
      torch.push(t);
      line += `, torch ${t.images_per_s.toFixed(2)} img/s (loss ${t.loss_ms.toFixed(1)} ms of ${t.step_ms.toFixed(0)} ms)`;
    }
    process.stderr.write(`${line}\n`);
  }
  const kilnRate = median(kiln.map((r) => r.images_per_s));
  const torchRate = withPeer ? median(torch.map((r) => r.images_per_s)) : null;
  const out = {
    case: `yolov8n_${imgsz}_detect`,
    kiln_images_per_s: round(kilnRate, 2),
    torch_images_per_s: torchRate === null ? null : round(torchRate, 2),
    ratio: torchRate === null ? null : round(kilnRate / torchRate, 3),
    kiln_step_ms: round(median(kiln.map((r) => r.step_ms)), 1),
    torch_step_ms: withPeer ? round(median(torch.map((r) => r.step_ms)), 1) : null,
    kiln_loss_ms: round(median(kiln.map((r) => r.loss_ms)), 2),
    torch_loss_ms: withPeer ? round(median(torch.map((r) => r.loss_ms)), 2) : null,
    batch,
    imgsz,
    nc,
    objects: targets.cls.length,
    steps: o.steps,
    warmup: o.warmup,
    pairs,
    threads: kiln[0].threads,
    isa: kiln[0].isa,
    backend: kiln[0].backend,
    kiln_peak_rss_mb: round(median(kiln.map((r) => r.peak_rss_mb)), 1),
    torch_peak_rss_mb: withPeer ? round(median(torch.map((r) => r.peak_rss_mb)), 1) : null,
    kiln_runs: kiln.map((r) => round(r.images_per_s, 2)),
    torch_runs: withPeer ? torch.map((r) => round(r.images_per_s, 2)) : null,
    kiln_loss: round(kiln[0].loss, 4),
    torch_loss: withPeer ? round(torch[0].loss, 4) : null,
    kiln_params: kiln[0].params,
    torch_params: withPeer ? torch[0].params : null,
    torch_threads: withPeer ? torch[0].threads : null,
    torch_version: withPeer ? torch[0].torch : null,
    blas: withPeer ? torch[0].blas : null,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
