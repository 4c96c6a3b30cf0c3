// `npm run bench -- ddp`: data-parallel training over MPI on one machine.
// 1. All-reduce bandwidth (sum of float32 in place, 2 ranks): kiln's MPI addon
//    from node against the same MPI_Allreduce from a C program compiled here
//    with mpicc (MPI's own figure on this machine), at each --sizes (floats;
//    the default adds resnet18's gradient size).
// 2. resnet18 at 64×64, global batch 32, SGD: 1 rank × 1 thread, 1 rank × 2
//    threads, 2 ranks × 1 thread (each 16 images, gradients all-reduced by
//    DataParallel as in `kiln train ranks=2`): images/s, scaling efficiency of
//    each against 1 × 1, and the share of a step spent in the all-reduce.
// 3. Would overlapping pay (starting each bucket's all-reduce while backward
//    still runs, as PyTorch's DDP does)? 2 ranks × 1 thread: forward+backward
//    alone, the gradient's all-reduce alone, and both at once (the all-reduce
//    on a libuv thread): hidden_share is the part of the all-reduce that
//    compute hid. kiln reduces after backward; this says what a hook in the
//    autograd engine to start buckets early would buy on this machine.
// Prints one JSON line per measurement, then a summary line. Needs mpicc and mpirun
// (apt-get install openmpi-bin libopenmpi-dev) and kiln's MPI addon.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { mpiAvailable, mpiAddonPath } from "../src/distributed/mpi.js";
import type { AllreduceResult, OverlapResult, TrainResult } from "./ddp-worker.js";
import { intFlag, round, runJson } from "./stats.js";

const WORKER = fileURLToPath(new URL("./ddp-worker.js", import.meta.url));

const C_ALLREDUCE = String.raw`
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
static int cmp(const void* a, const void* b) { double x = *(const double*)a, y = *(const double*)b; return (x > y) - (x < y); }
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long n = atol(argv[1]);
  int iters = atoi(argv[2]);
  float* data = malloc(sizeof(float) * n);
  double* times = malloc(sizeof(double) * iters);
  for (int w = 0; w < 3; w++) MPI_Allreduce(MPI_IN_PLACE, data, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  for (int i = 0; i < iters; i++) {
    for (long j = 0; j < n; j++) data[j] = (float)(rank + 1);
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, data, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    times[i] = MPI_Wtime() - t;
  }
  float expected = (float)(size * (size + 1) / 2);
  if (data[0] != expected || data[n - 1] != expected) { fprintf(stderr, "wrong sum\n"); MPI_Abort(MPI_COMM_WORLD, 1); }
  qsort(times, iters, sizeof(double), cmp);
  double med = iters % 2 ? times[iters / 2] : (times[iters / 2 - 1] + times[iters / 2]) / 2, slowest;
  MPI_Reduce(&med, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("{\"mode\":\"allreduce\",\"ranks\":%d,\"bytes\":%ld,\"iters\":%d,\"seconds_median\":%.9f,\"gb_per_s\":%.6f}\n", size, n * 4, iters, slowest, n * 4 / slowest / 1e9);
  free(data); free(times);
  MPI_Finalize();
  return 0;
}
`;

/** Open MPI on one machine, as root too; ranks not pinned to one core each (their threads would share it). */
function mpiEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_THREADS: String(threads) };
  if (process.getuid?.() === 0) Object.assign(env, { OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1" });
  env.OMPI_MCA_btl ??= "self,vader";
  return env;
}

function mpirun(ranks: number, program: string[]): string[] {
  return ["-np", String(ranks), "--bind-to", "none", ...program];
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { sizes: { type: "string" }, iters: { type: "string" }, steps: { type: "string" }, warmup: { type: "string" }, case: { type: "string" }, ranks: { type: "string" } },
    strict: true,
  });
  if (!mpiAvailable()) throw new Error(`bench ddp: kiln's MPI addon ${mpiAddonPath()} is not built (install openmpi-bin libopenmpi-dev, then npm run build)`);
  const ranks = intFlag("--ranks", values.ranks, 2, 2);
  const iters = intFlag("--iters", values.iters, 20);
  const steps = intFlag("--steps", values.steps, 10);
  const warmup = intFlag("--warmup", values.warmup, 2, 0);
  const name = values.case ?? "resnet18_64";
  // 1e6 floats (4 MB), and resnet18's 11.2 M parameters (its whole gradient in one call).
  const sizes = (values.sizes ?? "1000000,11181642").split(",").map((s) => intFlag("--sizes", s, 1));

  // ---- 1. all-reduce: MPI's C figure, then kiln's addon from node
  const dir = mkdtempSync(join(tmpdir(), "kiln-bench-ddp-"));
  const lines: Record<string, unknown>[] = [];
  const emit = (o: Record<string, unknown>): void => {
    lines.push(o);
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  try {
    const source = join(dir, "allreduce.c");
    writeFileSync(source, C_ALLREDUCE);
    const cc = spawnSync("mpicc", ["-O2", "-o", join(dir, "allreduce"), source], { encoding: "utf8" });
    if (cc.status !== 0) throw new Error(`mpicc failed: ${cc.error?.message ?? cc.stderr}`);
    const env = mpiEnv(1);
    for (const floats of sizes) {
      process.stderr.write(`allreduce ${floats} floats × ${ranks} ranks: C, then kiln\n`);
      const c = runJson<AllreduceResult>("C allreduce", "mpirun", mpirun(ranks, [join(dir, "allreduce"), String(floats), String(iters)]), env).result;
      const k = runJson<AllreduceResult>("kiln allreduce", "mpirun", mpirun(ranks, [process.execPath, WORKER, "--mode", "allreduce", "--floats", String(floats), "--iters", String(iters)]), env).result;
      emit({ bench: "allreduce", ranks, bytes: k.bytes, c_gb_per_s: round(c.gb_per_s, 3), kiln_gb_per_s: round(k.gb_per_s, 3), kiln_vs_c: round(k.gb_per_s / c.gb_per_s, 3),
        c_ms: round(c.seconds_median * 1000, 3), kiln_ms: round(k.seconds_median * 1000, 3) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // ---- 2. training throughput: 1 rank × 1 thread, 1 rank × N threads, N ranks × 1 thread
  const trainArgs = ["--mode", "train", "--case", name, "--steps", String(steps), "--warmup", String(warmup)];
  const configs: { label: string; ranks: number; threads: number; overlap?: boolean }[] = [
    { label: "1x1", ranks: 1, threads: 1 }, { label: `1x${ranks}`, ranks: 1, threads: ranks }, { label: `${ranks}x1`, ranks, threads: 1 },
    { label: `${ranks}x1 overlap`, ranks, threads: 1, overlap: true },
  ];
  const results = new Map<string, TrainResult>();
  for (const cfg of configs) {
    process.stderr.write(`${name}: ${cfg.ranks} rank(s) × ${cfg.threads} thread(s)${cfg.overlap ? ", all-reduce started during backward" : ""}\n`);
    const r = cfg.ranks === 1
      ? runJson<TrainResult>("kiln train step", process.execPath, [WORKER, ...trainArgs], { ...process.env, KILN_THREADS: String(cfg.threads) }).result
      : runJson<TrainResult>("kiln ddp train step", "mpirun", mpirun(cfg.ranks, [process.execPath, WORKER, ...trainArgs]),
        { ...mpiEnv(cfg.threads), KILN_DDP_OVERLAP: cfg.overlap ? "1" : "0" }).result;
    results.set(cfg.label, r);
  }
  const base = results.get("1x1")!;
  for (const cfg of configs) {
    const r = results.get(cfg.label)!;
    const workers = cfg.ranks * cfg.threads;
    emit({ bench: "train", case: name, ranks: cfg.ranks, threads: cfg.threads, overlap: cfg.overlap ?? false, global_batch: r.global_batch, images_per_s: round(r.images_per_s, 2), step_ms: round(r.step_ms, 1),
      scaling_efficiency: round(r.images_per_s / (base.images_per_s * workers), 3),
      allreduce_ms_per_step: round(r.allreduce_ms_per_step, 2), copy_ms_per_step: round(r.copy_ms_per_step, 2),
      allreduce_share_of_step: round(r.allreduce_ms_per_step / r.step_ms, 3), gradient_mb: round(r.gradient_mb, 1) });
  }
  process.stderr.write(`${name}: overlap of the all-reduce with forward+backward, ${ranks} ranks × 1 thread\n`);
  const o = runJson<OverlapResult>("kiln overlap", "mpirun", mpirun(ranks, [process.execPath, WORKER, "--mode", "overlap", "--case", name, "--steps", String(steps), "--warmup", String(warmup)]), mpiEnv(1)).result;
  emit({ bench: "overlap", case: name, ranks, threads: o.threads, gradient_mb: round(o.gradient_mb, 1), backward_ms: round(o.backward_ms, 1), allreduce_ms: round(o.allreduce_ms, 2),
    both_ms: round(o.both_ms, 1), hidden_share: round(o.hidden_share, 3), step_saving_if_overlapped: round((o.backward_ms + o.allreduce_ms - o.both_ms) / (o.backward_ms + o.allreduce_ms), 3) });
  const threaded = results.get(`1x${ranks}`)!;
  const ddp = results.get(`${ranks}x1`)!;
  const overlapped = results.get(`${ranks}x1 overlap`)!;
  emit({ bench: "ddp-summary", case: name, ranks_vs_threads: round(ddp.images_per_s / threaded.images_per_s, 3),
    overlap_speedup: round(overlapped.images_per_s / ddp.images_per_s, 3),
    overlap_would_save: round((o.backward_ms + o.allreduce_ms - o.both_ms) / (o.backward_ms + o.allreduce_ms), 3),
    note: `${ranks} ranks × 1 thread vs 1 rank × ${ranks} threads (images/s ratio > 1: ranks win); overlap_would_save: share of a step that starting the all-reduce during backward would save here; overlap_speedup: images/s with KILN_DDP_OVERLAP=1 over without.` });
}
