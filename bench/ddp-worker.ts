// One rank of the data-parallel benchmark (bench/ddp.ts), run under mpirun (or
// alone for one rank); rank 0 prints one JSON line.
//   --mode allreduce --floats N --iters K: kiln's MPI addon summing a Float32Array in place
//   --mode train --case resnet18_64 --steps S --warmup W: training steps with the global batch
//     split over the ranks and gradients summed by DataParallel (what `kiln train ranks=N` does)
//   --mode overlap --case resnet18_64 --steps S: would starting the all-reduce while backward runs
//     pay? Times forward+backward alone, the gradient-sized all-reduce alone, and both at once (the
//     all-reduce on a libuv thread while this thread runs forward+backward on the kernels' pool)
import { parseArgs } from "node:util";
import { Rng, kernels, mul, randn, tidy } from "../src/engine/index.js";
import { SGD } from "../src/optim/index.js";
import { Communicator } from "../src/distributed/mpi.js";
import { DataParallel } from "../src/distributed/parallel.js";
import { detectRankEnv } from "../src/distributed/env.js";
import { shardSlice } from "../src/data/loader.js";
import { ENGINE_CASES } from "./engine-cases.js";
import { intFlag, median } from "./stats.js";

export interface AllreduceResult { mode: "allreduce"; ranks: number; bytes: number; iters: number; seconds_median: number; gb_per_s: number }
export interface OverlapResult {
  mode: "overlap"; case: string; ranks: number; threads: number; gradient_mb: number;
  backward_ms: number; allreduce_ms: number; both_ms: number;
  /** Share of the all-reduce hidden behind compute: (backward + allreduce - both) / allreduce (1: fully hidden, 0: none). */
  hidden_share: number;
}

export interface TrainResult {
  mode: "train"; case: string; ranks: number; threads: number; global_batch: number; steps: number;
  images_per_s: number; step_ms: number; allreduce_ms_per_step: number; copy_ms_per_step: number; gradient_mb: number;
}

function allreduce(comm: Communicator, floats: number, iters: number): AllreduceResult {
  const data = new Float32Array(floats).fill(comm.rank + 1);
  for (let i = 0; i < 3; i++) comm.sum(data); // warm-up: connections, pages
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    data.fill(comm.rank + 1);
    comm.barrier();
    const t = comm.wtime();
    comm.sum(data);
    times.push(comm.wtime() - t);
  }
  const expected = (comm.size * (comm.size + 1)) / 2;
  if (data[0] !== expected || data[floats - 1] !== expected) throw new Error(`allreduce gave ${data[0]}, expected ${expected}`);
  // The slowest rank's median: a collective ends when its last rank does.
  const seconds = Math.max(...comm.allgather(median(times)));
  return { mode: "allreduce", ranks: comm.size, bytes: floats * 4, iters, seconds_median: seconds, gb_per_s: (floats * 4) / seconds / 1e9 };
}

function train(comm: Communicator | null, name: string, steps: number, warmup: number): TrainResult {
  const rank = comm?.rank ?? 0;
  const ranks = comm?.size ?? 1;
  const { c, model, forwardLoss, xs, ts, share } = caseSlice(name, rank, ranks);
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  // KILN_DDP_OVERLAP=1, as for `kiln train`: buckets start their all-reduce while backward runs.
  const parallel = comm && ranks > 1 ? new DataParallel(comm, undefined, process.env.KILN_DDP_OVERLAP === "1") : null;
  const params = model.parameters();
  const buffers = model.namedBuffers().map(([, t]) => t);
  model.train();
  const step = (): void => {
    const hook = parallel?.backwardHook(params, buffers) ?? undefined;
    tidy(() => mul(forwardLoss(xs, ts), share).backward(undefined, hook));
    parallel?.reduceGradients(params, buffers, false);
    optimizer.step();
    optimizer.zeroGrad();
  };
  for (let i = 0; i < warmup; i++) step();
  const before = parallel ? { ...parallel.timings } : null;
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const s = performance.now();
    step();
    times.push(performance.now() - s);
  }
  const total = (performance.now() - t0) / 1000;
  const reduceMs = parallel && before ? ((parallel.timings.allreduceSeconds - before.allreduceSeconds) * 1000) / steps : 0;
  const copyMs = parallel && before ? ((parallel.timings.copySeconds - before.copySeconds) * 1000) / steps : 0;
  return {
    mode: "train", case: name, ranks, threads: kernels().info().threads, global_batch: c.batch, steps,
    images_per_s: (c.batch * steps) / total, step_ms: median(times), allreduce_ms_per_step: reduceMs, copy_ms_per_step: copyMs,
    gradient_mb: (model.numParameters() * 4) / 2 ** 20,
  };
}

/** This rank's slice of a case's fixed random global batch, and its model. */
function caseSlice(name: string, rank: number, ranks: number) {
  const c = ENGINE_CASES[name];
  if (!c) throw new Error(`unknown case "${name}"`);
  const rng = new Rng(0);
  const built = c.build();
  const x = randn([c.batch, ...c.input], rng);
  const targets = Int32Array.from({ length: c.batch }, () => rng.nextUint32() % c.classes);
  const [lo, hi] = shardSlice(c.batch, rank, ranks);
  const per = x.numel / c.batch;
  const xs = randn([hi - lo, ...c.input], rng);
  xs.data.set(x.data.subarray(lo * per, hi * per));
  return { c, ...built, xs, ts: targets.slice(lo, hi), share: (hi - lo) / c.batch };
}

async function overlap(comm: Communicator, name: string, steps: number, warmup: number): Promise<OverlapResult> {
  const { model, forwardLoss, xs, ts, share } = caseSlice(name, comm.rank, comm.size);
  const grads = new Float32Array(model.numParameters());
  model.train();
  const forwardBackward = (): void => {
    tidy(() => mul(forwardLoss(xs, ts), share).backward());
    model.zeroGrad();
  };
  const timed = async (f: () => void | Promise<void>): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      comm.barrier();
      const t = performance.now();
      await f();
      if (i >= warmup) times.push(performance.now() - t);
    }
    return Math.max(...comm.allgather(median(times)));
  };
  const backwardMs = await timed(forwardBackward);
  const allreduceMs = await timed(() => comm.sum(grads));
  const bothMs = await timed(async () => {
    const reducing = comm.sumAsync(grads);
    forwardBackward();
    await reducing;
  });
  return {
    mode: "overlap", case: name, ranks: comm.size, threads: kernels().info().threads, gradient_mb: (grads.length * 4) / 2 ** 20,
    backward_ms: backwardMs, allreduce_ms: allreduceMs, both_ms: bothMs, hidden_share: (backwardMs + allreduceMs - bothMs) / allreduceMs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { mode: { type: "string" }, floats: { type: "string" }, iters: { type: "string" }, case: { type: "string" }, steps: { type: "string" }, warmup: { type: "string" } },
    strict: true,
  });
  // A plain process (one rank, no mpirun) does not load MPI at all: the one-process baseline.
  const comm = detectRankEnv() ? Communicator.world() : null;
  let clean = false;
  comm?.finalizeOnExit(() => clean);
  const steps = intFlag("--steps", values.steps, 10);
  const warmup = intFlag("--warmup", values.warmup, 2, 0);
  const result = values.mode === "allreduce"
    ? allreduce(comm ?? Communicator.world(), intFlag("--floats", values.floats, 1_000_000), intFlag("--iters", values.iters, 20))
    : values.mode === "overlap" ? await overlap(comm ?? Communicator.world(), values.case ?? "resnet18_64", steps, warmup)
      : train(comm, values.case ?? "resnet18_64", steps, warmup);
  clean = true;
  if ((comm?.rank ?? 0) === 0) process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
