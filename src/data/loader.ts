// DataLoader: a seeded order per epoch, batches decoded ahead while the caller computes,
// written into a small ring of reused Float32Arrays.
//
// Threads: sharp decodes in libuv's thread pool (UV_THREADPOOL_SIZE, default 4, shared
// with fs and zlib), and libvips may use sharp.concurrency() threads inside one image.
// Both compete for cores with the kernels' pool; on a small machine a pool of 2–4 and
// sharp.concurrency(1) keep decoding from starving the training step. Set
// UV_THREADPOOL_SIZE before the process starts (libuv reads it once).
import { KilnError } from "../errors.js";
import { Rng } from "../engine/rng.js";
import { centrePlacement, newPlacement, randomPlacement, Renderer, type AugmentOptions } from "./augment.js";
import { decodeImage } from "./decode.js";
import { epochOrder, prefetchRing } from "./batches.js";
import { mixSeed } from "./seed.js";
import type { RawImage, Sample } from "./types.js";

export interface Batch {
  images: Float32Array; // [size, C, imgsz, imgsz], normalised
  labels: Int32Array;
  indices: Int32Array; // positions in the loader's samples
  size: number;
  /** With a shard: the images of the whole (global) batch across all ranks; this rank holds `size` of them. */
  globalSize?: number;
}

/** Data-parallel training: rank `rank` of `ranks` takes the rank-th contiguous slice of every global batch. */
export interface Shard { rank: number; ranks: number }

/** The slice [from, to) of a global batch of `size` images that rank `rank` of `ranks` takes. */
export function shardSlice(size: number, rank: number, ranks: number): [number, number] {
  return [Math.floor((size * rank) / ranks), Math.floor((size * (rank + 1)) / ranks)];
}

export interface LoaderOptions {
  batch: number;
  imgsz: number;
  channels: 1 | 3;
  shuffle: boolean;
  seed: number;
  dropLast: boolean;
  augment: AugmentOptions | null; // null for val/test
  normalize: { mean: number[]; std: number[] };
  cache: boolean; // keep decoded (pre-augmentation) images in RAM
  prefetch: number; // batches decoded ahead (default 2)
  workers?: number; // images decoded at once across the batches being filled (0 or absent: no limit)
  /** Data-parallel: `batch` is the global batch and this loader yields only this rank's slice of each (same order, same augmentation). */
  shard?: Shard;
}

const ORDER_STREAM = 0x0de5;
const AUGMENT_STREAM = 0xa06;

interface Slot { images: Float32Array; labels: Int32Array; indices: Int32Array }

export class DataLoader {
  readonly length: number;
  private readonly opts: LoaderOptions;
  private readonly renderer: Renderer;
  private readonly ring: Slot[];
  private readonly cache = new Map<number, RawImage>();
  private readonly rng = new Rng(0);
  private readonly placement = newPlacement();
  private running = false;
  private readonly decodeSlots: DecodeSlots;

  constructor(private readonly samples: Sample[], opts: LoaderOptions) {
    for (const key of ["batch", "imgsz"] as const) {
      if (!(Number.isInteger(opts[key]) && opts[key] >= 1)) throw new KilnError(`${key} must be a whole number of at least 1, got ${opts[key]}.`);
    }
    if (!(Number.isInteger(opts.prefetch) && opts.prefetch >= 0)) throw new KilnError(`prefetch must be a whole number of at least 0, got ${opts.prefetch}.`);
    const workers = opts.workers ?? 0;
    if (!(Number.isInteger(workers) && workers >= 0)) throw new KilnError(`workers must be a whole number of at least 0, got ${workers}.`);
    this.decodeSlots = new DecodeSlots(workers);
    this.opts = opts;
    const n = samples.length;
    this.length = opts.dropLast ? Math.floor(n / opts.batch) : Math.ceil(n / opts.batch);
    this.renderer = new Renderer(opts.imgsz, opts.channels, opts.normalize);
    // One slot the caller holds, `prefetch` being filled.
    const floats = opts.batch * opts.channels * opts.imgsz * opts.imgsz;
    this.ring = Array.from({ length: Math.min(opts.prefetch + 1, Math.max(1, this.length)) }, () => ({
      images: new Float32Array(floats), labels: new Int32Array(opts.batch), indices: new Int32Array(opts.batch),
    }));
  }

  /** The sample order of an epoch: a seeded permutation (seed, epoch), or 0..n-1 without shuffle. */
  order(epoch: number): Int32Array {
    return epochOrder(this.samples.length, this.opts.shuffle, this.opts.seed, ORDER_STREAM, epoch);
  }

  /**
   * Batches of one epoch starting at batch `start` (exact resume: the same batches as the
   * tail of a full epoch). A batch's arrays are reused: they hold their values until the
   * next call of the iterator's next(). One epoch iterates at a time per loader.
   */
  async *epoch(epoch: number, start = 0): AsyncIterableIterator<Batch> {
    if (this.running) throw new Error("DataLoader.epoch: an epoch is already being iterated; finish or return() it first");
    this.running = true;
    const order = this.order(epoch);
    try {
      yield* prefetchRing(this.length, start, this.ring.length, (b, slot) => this.fill(this.ring[slot], order, epoch, b));
    } finally {
      this.running = false;
    }
  }

  private async image(index: number): Promise<RawImage> {
    const cached = this.cache.get(index);
    if (cached) return cached;
    const img = await this.decodeSlots.run(() => decodeImage(this.samples[index].source, this.opts.channels, this.opts.imgsz));
    if (this.opts.cache && this.samples[index].source.kind === "file") this.cache.set(index, img);
    return img;
  }

  private async fill(slot: Slot, order: Int32Array, epoch: number, batchIndex: number): Promise<Batch> {
    const { batch, channels, imgsz, augment, seed } = this.opts;
    const globalFrom = batchIndex * batch;
    const globalSize = Math.min(batch, order.length - globalFrom);
    const [lo, hi] = this.opts.shard ? shardSlice(globalSize, this.opts.shard.rank, this.opts.shard.ranks) : [0, globalSize];
    const from = globalFrom + lo;
    const size = hi - lo;
    const floats = channels * imgsz * imgsz;
    const jobs: Promise<void>[] = [];
    for (let k = 0; k < size; k++) {
      const index = order[from + k];
      slot.indices[k] = index;
      slot.labels[k] = this.samples[index].label;
      jobs.push(this.image(index).then((img) => {
        // Synchronous from here: the shared rng, placement and renderer scratch are safe.
        if (augment) {
          this.rng.seed(mixSeed(seed, AUGMENT_STREAM, epoch, index));
          randomPlacement(augment, img.width, img.height, this.rng, this.placement);
        } else {
          centrePlacement(img.width, img.height, this.placement);
        }
        this.renderer.render(img, this.placement, slot.images, k * floats);
      }));
    }
    // Wait for every job, failed or not, so nothing writes into the slot after this returns.
    const failed = (await Promise.allSettled(jobs)).find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    const full = size === batch;
    return {
      images: full ? slot.images : slot.images.subarray(0, size * floats),
      labels: full ? slot.labels : slot.labels.subarray(0, size),
      indices: full ? slot.indices : slot.indices.subarray(0, size),
      size,
      ...(this.opts.shard ? { globalSize } : {}),
    };
  }
}

/** At most `limit` decodes in flight (0: no limit); the rest wait in order and inherit a finished one's slot. */
export class DecodeSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.limit > 0 && this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
