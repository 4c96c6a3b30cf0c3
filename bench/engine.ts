// `npm run bench -- engine`: a full training step (forward, loss, backward,
// SGD-momentum update) of four reference models, kiln against PyTorch.
// Protocol (../shared/reference/machine.md): per case, kiln and PyTorch run
// alternately in fresh processes (≥ 3 pairs), each with warm-up steps then timed
// steps; the medians are compared. PyTorch gets kiln's thread count and
// OPENBLAS_NUM_THREADS=1, its fastest configuration on this machine.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ENGINE_CASES } from "./engine-cases.js";
import type { WorkerResult } from "./engine-worker.js";
import { intFlag, median, PEER_PYTHON, round, runJson } from "./stats.js";

const PEER_SCRIPT = fileURLToPath(new URL("../../bench/peer/engine.py", import.meta.url));
const WORKER_SCRIPT = fileURLToPath(new URL("./engine-worker.js", import.meta.url));

interface PeerResult {
  images_per_s: number;
  step_ms: number;
  peak_rss_mb: number;
  threads: number;
  blas: string;
  torch: string;
  params: number;
}

interface RunOptions {
  steps: number;
  warmup: number;
}

function runKiln(name: string, o: RunOptions): WorkerResult {
  return runJson<WorkerResult>(`kiln ${name}`, process.execPath,
    [WORKER_SCRIPT, "--case", name, "--steps", String(o.steps), "--warmup", String(o.warmup)], process.env).result;
}

function runTorch(name: string, o: RunOptions, threads: number): PeerResult {
  return runJson<PeerResult>(`PyTorch ${name}`, PEER_PYTHON,
    [PEER_SCRIPT, "--case", name, "--steps", String(o.steps), "--warmup", String(o.warmup), "--threads", String(threads)],
    { ...process.env, OPENBLAS_NUM_THREADS: "1" }).result;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      case: { type: "string", multiple: true },
      peer: { type: "string", default: "torch" },
      pairs: { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string" },
    },
    strict: true,
  });
  const names = values.case ?? Object.keys(ENGINE_CASES);
  for (const name of names) {
    if (!(name in ENGINE_CASES)) throw new Error(`unknown case "${name}"; the cases: ${Object.keys(ENGINE_CASES).join(", ")}`);
  }
  if (values.peer !== "torch" && values.peer !== "none") throw new Error(`--peer must be torch or none, got "${values.peer}"`);
  const withPeer = values.peer === "torch";
  const pairs = intFlag("--pairs", values.pairs, 3);
  const warmup = intFlag("--warmup", values.warmup, 3, 0);

  for (const name of names) {
    const o = { steps: intFlag("--steps", values.steps, ENGINE_CASES[name].steps), warmup };
    const kiln: WorkerResult[] = [];
    const torch: PeerResult[] = [];
    for (let p = 1; p <= pairs; p++) {
      kiln.push(runKiln(name, o));
      const k = kiln[kiln.length - 1];
      let line = `[engine] ${name} ${p}/${pairs}: kiln ${k.images_per_s.toFixed(1)} img/s (${k.threads} threads, ${k.isa})`;
      if (withPeer) {
        torch.push(runTorch(name, o, k.threads));
        line += `, torch ${torch[torch.length - 1].images_per_s.toFixed(1)} img/s`;
      }
      process.stderr.write(`${line}\n`);
    }
    const kilnRate = median(kiln.map((r) => r.images_per_s));
    const torchRate = withPeer ? median(torch.map((r) => r.images_per_s)) : null;
    const out = {
      case: name,
      kiln_images_per_s: round(kilnRate, 1),
      torch_images_per_s: torchRate === null ? null : round(torchRate, 1),
      ratio: torchRate === null ? null : round(kilnRate / torchRate, 3),
      kiln_peak_rss_mb: round(median(kiln.map((r) => r.peak_rss_mb)), 1),
      torch_peak_rss_mb: withPeer ? round(median(torch.map((r) => r.peak_rss_mb)), 1) : null,
      batch: ENGINE_CASES[name].batch,
      steps: o.steps,
      warmup,
      pairs,
      threads: kiln[0].threads,
      isa: kiln[0].isa,
      backend: kiln[0].backend,
      kiln_step_ms: round(median(kiln.map((r) => r.step_ms)), 2),
      torch_step_ms: withPeer ? round(median(torch.map((r) => r.step_ms)), 2) : null,
      kiln_runs: kiln.map((r) => round(r.images_per_s, 1)),
      torch_runs: withPeer ? torch.map((r) => round(r.images_per_s, 1)) : null,
      kiln_params: kiln[0].params,
      torch_params: withPeer ? torch[0].params : null,
      torch_threads: withPeer ? torch[0].threads : null,
      torch_version: withPeer ? torch[0].torch : null,
      blas: withPeer ? torch[0].blas : null,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
}
