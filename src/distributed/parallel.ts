// Data parallelism in the training loop (the Trainer's `Parallel`): after each
// backward pass, every rank's gradients are summed into every rank's `.grad`
// in buckets (each an MPI all-reduce over a contiguous copy), so the optimizer
// step that follows is the same on every rank and the parameters stay equal.
// Batch-norm layers normalise with their own rank's batch statistics; their
// running statistics are averaged over the ranks in the same reduction, so
// every rank holds the same model (and rank 0's checkpoint is the whole state:
// an interrupted run resumes exactly).
//
// The loss of each rank's slice is scaled by slice/global batch before
// backward (Trainer), so the sum over ranks is the gradient of the mean loss
// over the whole global batch: what one process with that batch computes.
//
// Overlap (KILN_DDP_OVERLAP=1): on the last backward before an optimizer
// step, a bucket's all-reduce starts (MPI_Iallreduce) as soon as backward has
// finished every gradient in it, and is moved on (MPI_Test) while backward
// goes on; the rest start after backward, and all are waited for before the
// step. Buckets start in the same order on every rank (bucket order, never
// readiness order), and hold the same floats as in the blocking path, so the
// sums are the same: bit-identical with 2 ranks (a + b either way); with more,
// MPI's non-blocking algorithm may add the ranks in another order.
//
// Agreement: whatever decides where the loop goes (an interrupt, a stop, the
// run directory) is agreed on in collectives every rank reaches together, so
// no rank waits in a collective that another has left.
import type { LeafDone, Tensor } from "../engine/index.js";
import { persistent, zeros } from "../engine/index.js";
import type { JsonValue } from "../train/callbacks.js";
import type { EpochStats } from "../train/task.js";
import type { Parallel } from "../train/trainer.js";
import type { Communicator, SumRequest } from "./mpi.js";

/** Floats per all-reduce call (16 MiB): few calls for small models, bounded copies for large ones. */
export const DEFAULT_BUCKET_FLOATS = 4 * 1024 * 1024;

export interface ReduceTimings {
  /** Steps whose gradients were reduced. */
  steps: number;
  /** Seconds in MPI_Allreduce (blocked), and in packing/unpacking the buckets. */
  allreduceSeconds: number;
  copySeconds: number;
  /** Floats reduced per step (gradients + control). */
  floatsPerStep: number;
  /** Overlap: buckets whose all-reduce started while backward still ran, and all buckets reduced. */
  bucketsDuringBackward: number;
  buckets: number;
}

/** One step's overlapped reduction: which gradients are packed, which buckets started. */
interface InFlight {
  packed: Uint8Array;
  /** Per bucket: gradients not packed yet. */
  missing: number[];
  requests: SumRequest[];
  index: Map<Tensor, number>;
  params: readonly Tensor[];
}

export class DataParallel implements Parallel {
  readonly rank: number;
  readonly size: number;
  readonly timings: ReduceTimings = { steps: 0, allreduceSeconds: 0, copySeconds: 0, floatsPerStep: 0, bucketsDuringBackward: 0, buckets: 0 };
  private buckets: Float32Array[] = [];
  private layout: { param: number; bucket: number; offset: number }[] = [];
  private layoutKey = "";
  private bufferOffset = 0;
  private steps = 0;
  /** Test hook (KILN_DDP_FAIL=rank:step): this rank throws at that optimizer step, to prove a failing rank ends the job. */
  private readonly failAt: { rank: number; step: number } | null;
  private inFlight: InFlight | null = null;

  constructor(private readonly comm: Communicator, private readonly bucketFloats = DEFAULT_BUCKET_FLOATS, private readonly overlap = false) {
    this.rank = comm.rank;
    this.size = comm.size;
    const m = /^(\d+):(\d+)$/.exec(process.env.KILN_DDP_FAIL ?? "");
    this.failAt = m ? { rank: Number(m[1]), step: Number(m[2]) } : null;
  }

  /**
   * Buckets in reverse parameter order (the order backward finishes them),
   * each up to bucketFloats; the buffers (running statistics) and control
   * floats (interrupt, then one "has a gradient" flag per parameter) ride in
   * the last bucket.
   */
  private plan(params: readonly Tensor[], buffers: readonly Tensor[]): void {
    const bufferFloats = buffers.reduce((n, t) => n + t.numel, 0);
    const key = `${params.map((p) => p.numel).join(",")}|${bufferFloats}`;
    if (key === this.layoutKey) return;
    this.layoutKey = key;
    this.layout = new Array(params.length);
    const sizes: number[] = [0];
    for (let i = params.length - 1; i >= 0; i--) {
      const n = params[i].numel;
      if (sizes[sizes.length - 1] > 0 && sizes[sizes.length - 1] + n > this.bucketFloats) sizes.push(0);
      this.layout[i] = { param: i, bucket: sizes.length - 1, offset: sizes[sizes.length - 1] };
      sizes[sizes.length - 1] += n;
    }
    this.bufferOffset = sizes[sizes.length - 1];
    sizes[sizes.length - 1] += bufferFloats + 1 + params.length;
    this.buckets = sizes.map((n) => new Float32Array(n));
    this.timings.floatsPerStep = sizes.reduce((a, b) => a + b, 0);
  }

  /** Copies parameter i's gradient (zeros when it has none) into its bucket, and its "has a gradient" flag. */
  private pack(params: readonly Tensor[], i: number): void {
    const last = this.buckets[this.buckets.length - 1];
    const control = last.length - 1 - params.length;
    const p = params[i];
    const { bucket, offset } = this.layout[i];
    const grad = p.grad !== null && !p.grad.isDisposed ? p.grad : null;
    if (grad) this.buckets[bucket].set(grad.data, offset);
    else this.buckets[bucket].fill(0, offset, offset + p.numel);
    last[control + 1 + i] = grad ? 1 : 0;
  }

  /**
   * Overlap: the hook for the last backward before an optimizer step (null
   * without overlap). It packs each gradient as backward finishes it and
   * starts every complete bucket, in bucket order; the last bucket (with the
   * buffers and control floats) starts in reduceGradients.
   */
  backwardHook(params: readonly Tensor[], buffers: readonly Tensor[]): LeafDone | null {
    if (!this.overlap || this.size === 1) return null;
    this.plan(params, buffers);
    const missing = this.buckets.map(() => 0);
    for (const { bucket } of this.layout) missing[bucket]++;
    const flight: InFlight = { packed: new Uint8Array(params.length), missing, requests: [], index: new Map(params.map((p, i) => [p, i])), params };
    this.inFlight = flight;
    const packOne = (i: number): void => {
      this.pack(params, i);
      flight.packed[i] = 1;
      flight.missing[this.layout[i].bucket]--;
    };
    // Frozen parameters (YOLO's DFL projection, freeze=) get no gradient: final already. A trainable one
    // that this forward did not use holds its bucket back until reduceGradients (correct, just later).
    params.forEach((p, i) => { if (!p.requiresGrad) packOne(i); });
    return (leaf) => {
      const i = flight.index.get(leaf);
      if (i === undefined || flight.packed[i]) return;
      const t0 = performance.now();
      packOne(i);
      this.timings.copySeconds += (performance.now() - t0) / 1000;
      while (flight.requests.length < this.buckets.length - 1 && flight.missing[flight.requests.length] === 0) {
        flight.requests.push(this.comm.startSum(this.buckets[flight.requests.length]));
        this.timings.bucketsDuringBackward++;
      }
      for (const r of flight.requests) r.test(); // MPI moves non-blocking collectives on inside its calls
    };
  }

  reduceGradients(params: readonly Tensor[], buffers: readonly Tensor[], interrupt: boolean): boolean {
    this.steps++;
    const flight = this.inFlight;
    this.inFlight = null;
    if (this.failAt && this.failAt.rank === this.rank && this.failAt.step === this.steps) {
      throw new Error(`KILN_DDP_FAIL test hook: rank ${this.rank} fails at optimizer step ${this.steps}`);
    }
    if (flight && flight.params.some((p, i) => p !== params[i])) throw new Error("kiln: DataParallel: the backward hook was made for other parameters");
    this.plan(params, buffers);
    const last = this.buckets[this.buckets.length - 1];
    const control = last.length - 1 - params.length;
    let t0 = performance.now();
    last[control] = interrupt ? 1 : 0;
    let o = this.bufferOffset;
    for (const t of buffers) {
      last.set(t.data, o);
      o += t.numel;
    }
    for (let i = 0; i < params.length; i++) if (!flight?.packed[i]) this.pack(params, i);
    let copy = performance.now() - t0;
    t0 = performance.now();
    if (flight) {
      // The buckets backward did not start, in bucket order, then every sum finished.
      const requests = [...flight.requests];
      for (let b = requests.length; b < this.buckets.length; b++) requests.push(this.comm.startSum(this.buckets[b]));
      for (const r of requests) r.wait();
    } else {
      for (const b of this.buckets) this.comm.sum(b);
    }
    this.timings.buckets += this.buckets.length;
    this.timings.allreduceSeconds += (performance.now() - t0) / 1000;
    t0 = performance.now();
    params.forEach((p, i) => {
      if (last[control + 1 + i] === 0) return; // no rank has a gradient for it: leave it as one process would
      if (p.grad === null || p.grad.isDisposed) p.grad = persistent(() => zeros(p.shape));
      const { bucket, offset } = this.layout[i];
      p.grad.data.set(this.buckets[bucket].subarray(offset, offset + p.numel));
    });
    o = this.bufferOffset;
    for (const t of buffers) {
      const d = t.data;
      for (let i = 0; i < t.numel; i++) d[i] = last[o + i] / this.size;
      o += t.numel;
    }
    copy += performance.now() - t0;
    this.timings.copySeconds += copy / 1000;
    this.timings.steps++;
    return last[control] > 0;
  }

  first<T extends JsonValue>(value: T | null): T | null {
    return this.comm.allgather<T | null>(value).find((v) => v !== null) ?? null;
  }

  sumStats(stats: EpochStats): EpochStats {
    const all = this.comm.allgather<EpochStats>(stats);
    const out: EpochStats = { seen: 0, sums: {} };
    for (const s of all) {
      out.seen += s.seen;
      for (const [k, v] of Object.entries(s.sums)) out.sums[k] = (out.sums[k] ?? 0) + v;
    }
    return out;
  }
}
