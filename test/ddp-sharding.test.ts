// Data-parallel training's pieces that need no MPI job: the sharded sampler
// (every rank's slices of a global batch, put side by side, are exactly the
// batch one process gets: the same images in the same order with the same
// augmentation), rank detection from launcher environments, the mpirun
// command line, and the error when MPI is absent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { DataLoader, shardSlice, type Batch, type LoaderOptions } from "../src/data/loader.js";
import type { Sample } from "../src/data/types.js";
import { DetectionLoader, type DetectionLoaderOptions } from "../src/data/detect/loader.js";
import { syntheticDetectionDataset } from "../src/data/detect/synthetic.js";
import { detectRankEnv, threadsPerRank } from "../src/distributed/env.js";
import { mpirunCommand } from "../src/distributed/launcher.js";
import { pixels } from "./fixtures-data/make.js";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";

const samples: Sample[] = Array.from({ length: 23 }, (_, i) => ({
  source: { kind: "pixels", width: 12, height: 12, channels: 3, data: pixels(12, 12, 3, (x, y, c) => (i * 37 + x * 11 + y * 29 + c * 71) % 256) },
  label: i % 5,
}));
const options: LoaderOptions = {
  batch: 6, imgsz: 8, channels: 3, shuffle: true, seed: 3, dropLast: false, normalize: { mean: [0, 0, 0], std: [1, 1, 1] }, cache: false, prefetch: 2,
  augment: { randomResizedCrop: { scale: [0.3, 1], ratio: [0.75, 4 / 3] }, fliplr: 0.5, hsv_h: 0.1, hsv_s: 0.5, hsv_v: 0.3 },
};

async function batches(loader: DataLoader, epoch: number): Promise<{ images: number[]; labels: number[]; indices: number[]; size: number; globalSize?: number }[]> {
  const out = [];
  for await (const b of loader.epoch(epoch) as AsyncIterable<Batch>) out.push({ images: [...b.images], labels: [...b.labels], indices: [...b.indices], size: b.size, globalSize: b.globalSize });
  return out;
}

test("shardSlice splits a batch into contiguous slices that cover it once, sizes differing by at most one", () => {
  for (const [size, ranks] of [[8, 2], [5, 2], [7, 3], [3, 4], [1, 1]]) {
    const slices = Array.from({ length: ranks }, (_, r) => shardSlice(size, r, ranks));
    assert.equal(slices[0][0], 0);
    assert.equal(slices[ranks - 1][1], size);
    for (let r = 1; r < ranks; r++) assert.equal(slices[r][0], slices[r - 1][1]);
    const sizes = slices.map(([a, b]) => b - a);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${size} over ${ranks}: ${sizes}`);
  }
});

test("the ranks' slices of each global batch, side by side, are the one-process batch (order, labels, augmented pixels)", async () => {
  for (const ranks of [2, 3]) {
    for (const epoch of [0, 1]) {
      const whole = await batches(new DataLoader(samples, options), epoch);
      const parts = await Promise.all(Array.from({ length: ranks }, (_, rank) => batches(new DataLoader(samples, { ...options, shard: { rank, ranks } }), epoch)));
      assert.equal(whole.length, 4); // 23 images, batch 6, the last one partial (5)
      for (const p of parts) assert.equal(p.length, whole.length, "every rank has as many batches");
      whole.forEach((w, i) => {
        assert.deepEqual(parts.map((p) => p[i].globalSize), parts.map(() => w.size));
        assert.deepEqual(parts.flatMap((p) => p[i].indices), w.indices, `epoch ${epoch} batch ${i}: indices`);
        assert.deepEqual(parts.flatMap((p) => p[i].labels), w.labels);
        assert.deepEqual(parts.flatMap((p) => p[i].images), w.images, `epoch ${epoch} batch ${i}: pixels`);
      });
    }
  }
});

test("detection: the ranks' slices of each global batch, side by side, are the one-process batch (mosaic, targets, pixels)", async () => {
  const det = syntheticDetectionDataset({ train: 11, val: 1, size: 64, seed: 5 }).splits.train!;
  const detOptions: DetectionLoaderOptions = {
    batch: 4, imgsz: 64, shuffle: true, seed: 3, dropLast: false,
    augment: { mosaic: 1, translate: 0.1, scale: 0.5, fliplr: 0.5, hsv_h: 0.015, hsv_s: 0.7, hsv_v: 0.4 },
  };
  type Flat = { indices: number[]; images: number[]; targets: number[][]; size: number; globalSize?: number };
  const flat = async (loader: DetectionLoader, offsetOf: (i: number) => number = () => 0): Promise<Flat[]> => {
    const out: Flat[] = [];
    for await (const b of loader.epoch(1)) {
      const i = out.length;
      out.push({
        indices: [...b.indices], images: [...b.images], size: b.size, globalSize: b.globalSize,
        targets: [...b.cls].map((c, k) => [b.batchIndex[k] + offsetOf(i), c, ...b.boxes.subarray(4 * k, 4 * k + 4)]),
      });
    }
    return out;
  };
  const whole = await flat(new DetectionLoader(det, detOptions));
  assert.equal(whole.length, 3); // 11 images, batch 4, the last one partial (3)
  assert.ok(whole.every((w) => w.targets.length > 0));
  for (const ranks of [2, 3]) {
    const parts = await Promise.all(Array.from({ length: ranks }, (_, rank) =>
      flat(new DetectionLoader(det, { ...detOptions, shard: { rank, ranks } }), (i) => shardSlice(whole[i].size, rank, ranks)[0])));
    whole.forEach((w, i) => {
      assert.deepEqual(parts.map((p) => p[i].globalSize), parts.map(() => w.size));
      assert.deepEqual(parts.flatMap((p) => p[i].indices), w.indices, `${ranks} ranks, batch ${i}: indices`);
      assert.deepEqual(parts.flatMap((p) => p[i].targets), w.targets, `${ranks} ranks, batch ${i}: targets`);
      assert.deepEqual(parts.flatMap((p) => p[i].images), w.images, `${ranks} ranks, batch ${i}: pixels`);
    });
  }
});

test("rank detection reads mpirun's, srun's (PMIx) and Hydra's variables, and nothing from a plain or sbatch environment", () => {
  assert.deepEqual(detectRankEnv({ OMPI_COMM_WORLD_RANK: "1", OMPI_COMM_WORLD_SIZE: "4", OMPI_COMM_WORLD_LOCAL_SIZE: "2" }), { rank: 1, size: 4, localSize: 2, launcher: "mpirun" });
  assert.deepEqual(detectRankEnv({ PMIX_RANK: "3", SLURM_STEP_NUM_TASKS: "4", SLURM_STEP_TASKS_PER_NODE: "2(x2)", SLURM_PROCID: "3" }), { rank: 3, size: 4, localSize: 2, launcher: "srun" });
  assert.deepEqual(detectRankEnv({ PMI_RANK: "0", PMI_SIZE: "2" }), { rank: 0, size: 2, localSize: null, launcher: "pmi" });
  // An sbatch script's shell has SLURM_PROCID and SLURM_NTASKS but is no MPI rank: `kiln train ranks=2` there launches mpirun itself.
  assert.equal(detectRankEnv({ SLURM_PROCID: "0", SLURM_NTASKS: "2", SLURM_JOB_ID: "7" }), null);
  assert.equal(detectRankEnv({}), null);
  assert.equal(threadsPerRank(16, 4, {}), 4);
  assert.equal(threadsPerRank(2, 4, {}), 1);
  assert.equal(threadsPerRank(16, 4, { SLURM_CPUS_PER_TASK: "3" }), 3);
});

test("mpirun is asked for unbound ranks (threads are not pinned to one core) and shared memory on one machine", () => {
  const { command, args, env } = mpirunCommand(2, "/tmp/spec.json", {});
  assert.equal(command, "mpirun");
  assert.deepEqual(args.slice(0, 4), ["-np", "2", "--bind-to", "none"]);
  assert.equal(args.at(-1), "/tmp/spec.json");
  assert.match(args.at(-2)!, /rank-main\.js$/);
  assert.equal(env.OMPI_MCA_btl, "self,vader");
  assert.equal(mpirunCommand(2, "s", { OMPI_MCA_btl: "self,tcp" }).env.OMPI_MCA_btl, "self,tcp", "the user's choice is kept");
  const many = mpirunCommand(4096, "s", {});
  assert.ok(many.args.includes("--oversubscribe"));
  assert.equal(many.env.OMPI_MCA_mpi_yield_when_idle, "1");
});

test("ranks=2 without kiln's MPI addon fails before training, naming the addon and how to install MPI", () => {
  const dir = scratchDir("kiln-ddp-");
  try {
    const r = runKiln(["train", "ranks=2", "epochs=1", "imgsz=16", "max_per_class=5", "project=runs"], dir, { KILN_MPI_ADDON: "/nonexistent/kiln_mpi.node" });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /ranks > 1 needs kiln's MPI addon \/nonexistent\/kiln_mpi\.node, which was not built\. Fix: install Open MPI \(Debian\/Ubuntu: apt-get install openmpi-bin libopenmpi-dev\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
