// DetectionLoader: the classification DataLoader's scheme for detection. A seeded order per
// epoch; batches decoded ahead (sharp in libuv's pool) into a small ring of reused buffers;
// every random decision of a sample drawn from generators of (seed, epoch, sample index), so a
// batch depends only on its position and epoch(e, start) resumes exactly. Training samples go
// through augmentDetection (mosaic of 4 chosen per sample); validation is letterbox only.
//
// Threads: as the classification loader, decoding runs in libuv's pool (UV_THREADPOOL_SIZE);
// the pixel work (resize of pixel sources, mosaic, warp, HSV) runs on the main thread.
import { KilnError } from "../../errors.js";
import { Rng } from "../../engine/rng.js";
import { epochOrder, prefetchRing } from "../batches.js";
import { mixSeed, rngFor } from "../seed.js";
import { augmentDetection, DetScratch, mosaicPartners, type DetAugmentOptions } from "./augment.js";
import { centredPad, letterbox, loadSized, placeObjects, type Box, type SizedImage } from "./letterbox.js";
import type { DetBatch, DetObject, DetSample } from "./types.js";
import { DecodeSlots, shardSlice, type Shard } from "../loader.js";

export type { DetAugmentOptions } from "./augment.js";

export interface DetectionLoaderOptions {
  batch: number;
  imgsz: number;
  shuffle: boolean;
  seed: number;
  dropLast: boolean;
  /** null: validation (letterbox only, crowd objects kept apart in `crowd`). */
  augment: DetAugmentOptions | null;
  /** Keep each file's image, resized to long side imgsz, in RAM (Ultralytics' cache=ram); pixel sources are always kept resized. */
  cache?: boolean;
  /** Batches prepared ahead (default 2). */
  prefetch?: number;
  /** Images decoded at once (0 or absent: no limit). */
  workers?: number;
  /** Data-parallel: `batch` is the global batch and this loader yields only this rank's slice of each (same order, same augmentation). */
  shard?: Shard;
}

/** Objects in the same parallel-array form as DetBatch's targets. */
export interface DetTargets {
  batchIndex: Int32Array;
  cls: Int32Array;
  /** 4 per object: cx, cy, w, h in 0..1 of the input image. */
  boxes: Float32Array;
}

/**
 * A DetBatch plus `crowd`: in validation, the crowd objects (COCO iscrowd, VOC difficult)
 * letterboxed like the targets but kept out of them (the loss never sees them; COCO
 * evaluation ignores detections on them). Empty in training, where crowd objects are dropped.
 */
export interface DetLoaderBatch extends DetBatch {
  crowd: DetTargets;
  /** With a shard: the images of the whole (global) batch across all ranks; this rank holds `size` of them. */
  globalSize?: number;
}

type DetShape = DetBatch["shapes"][number];

const ORDER_STREAM = 0xde70;
const MOSAIC_STREAM = 0xde71;
const AUGMENT_STREAM = 0xde72;

/** Targets written into arrays that grow by doubling and are reused batch after batch. */
class TargetBuffer {
  private batchIndex = new Int32Array(64);
  private cls = new Int32Array(64);
  private boxes = new Float32Array(256);
  private count = 0;

  reset(): void {
    this.count = 0;
  }

  /** A pixel box of the imgsz input, stored as normalised cx, cy, w, h. */
  push(image: number, b: Box, imgsz: number): void {
    if (this.count === this.cls.length) {
      const grow = <T extends Int32Array | Float32Array>(a: T, make: (n: number) => T): T => { const n = make(a.length * 2); n.set(a); return n; };
      this.batchIndex = grow(this.batchIndex, (n) => new Int32Array(n));
      this.cls = grow(this.cls, (n) => new Int32Array(n));
      this.boxes = grow(this.boxes, (n) => new Float32Array(n));
    }
    const i = this.count++;
    this.batchIndex[i] = image;
    this.cls[i] = b.cls;
    this.boxes[i * 4] = (b.x1 + b.x2) / 2 / imgsz;
    this.boxes[i * 4 + 1] = (b.y1 + b.y2) / 2 / imgsz;
    this.boxes[i * 4 + 2] = (b.x2 - b.x1) / imgsz;
    this.boxes[i * 4 + 3] = (b.y2 - b.y1) / imgsz;
  }

  view(): DetTargets {
    return { batchIndex: this.batchIndex.subarray(0, this.count), cls: this.cls.subarray(0, this.count), boxes: this.boxes.subarray(0, this.count * 4) };
  }
}

interface Slot {
  images: Float32Array;
  indices: Int32Array;
  targets: TargetBuffer;
  crowd: TargetBuffer;
}

const training = (objects: readonly DetObject[]): DetObject[] => objects.filter((o) => !o.crowd);
const crowds = (objects: readonly DetObject[]): DetObject[] => objects.filter((o) => o.crowd === true);

export class DetectionLoader {
  readonly length: number;
  private readonly opts: Required<Omit<DetectionLoaderOptions, "shard">> & Pick<DetectionLoaderOptions, "shard">;
  private readonly ring: Slot[];
  private readonly cache = new Map<number, Promise<SizedImage>>();
  private readonly scratch: DetScratch;
  private readonly rng = new Rng(0);
  private readonly decodeSlots: DecodeSlots;
  private mosaicOn = true;
  private running = false;

  constructor(private readonly samples: DetSample[], options: DetectionLoaderOptions) {
    const opts: Required<Omit<DetectionLoaderOptions, "shard">> & Pick<DetectionLoaderOptions, "shard"> = { cache: false, prefetch: 2, workers: 0, ...options };
    if (!(Number.isInteger(opts.batch) && opts.batch >= 1)) throw new KilnError(`batch must be a whole number of at least 1, got ${opts.batch}.`);
    // The detector's largest stride is 32.
    if (!(Number.isInteger(opts.imgsz) && opts.imgsz >= 32 && opts.imgsz % 32 === 0)) throw new KilnError(`imgsz must be a multiple of 32 for a detector, got ${opts.imgsz}.`);
    for (const key of ["prefetch", "workers"] as const) {
      if (!(Number.isInteger(opts[key]) && opts[key] >= 0)) throw new KilnError(`${key} must be a whole number of at least 0, got ${opts[key]}.`);
    }
    if (opts.augment) checkAugment(opts.augment);
    this.opts = opts;
    this.decodeSlots = new DecodeSlots(opts.workers);
    this.scratch = new DetScratch(opts.imgsz);
    const n = samples.length;
    this.length = opts.dropLast ? Math.floor(n / opts.batch) : Math.ceil(n / opts.batch);
    // One slot the caller holds, `prefetch` being filled.
    const floats = opts.batch * 3 * opts.imgsz * opts.imgsz;
    this.ring = Array.from({ length: Math.min(opts.prefetch + 1, Math.max(1, this.length)) }, () => ({
      images: new Float32Array(floats),
      indices: new Int32Array(opts.batch),
      targets: new TargetBuffer(),
      crowd: new TargetBuffer(),
    }));
  }

  /** close_mosaic: mosaic off (or back on) from the next epoch() call; the epoch being iterated keeps its setting. */
  setMosaic(on: boolean): void {
    this.mosaicOn = on;
  }

  /** The sample order of an epoch: a seeded permutation (seed, epoch), or 0..n-1 without shuffle. */
  order(epoch: number): Int32Array {
    return epochOrder(this.samples.length, this.opts.shuffle, this.opts.seed, ORDER_STREAM, epoch);
  }

  /**
   * Batches of one epoch from batch `start` (exact resume: the tail of the full epoch). A
   * batch's arrays are reused: they hold their values until the iterator's next next().
   * One epoch iterates at a time per loader.
   */
  async *epoch(epoch: number, start = 0): AsyncIterableIterator<DetLoaderBatch> {
    if (this.running) throw new Error("DetectionLoader.epoch: an epoch is already being iterated; finish or return() it first");
    this.running = true;
    const order = this.order(epoch);
    const mosaic = this.mosaicOn && this.opts.augment ? this.opts.augment.mosaic : 0;
    try {
      yield* prefetchRing(this.length, start, this.ring.length, (b, slot) => this.fill(this.ring[slot], order, epoch, b, mosaic));
    } finally {
      this.running = false;
    }
  }

  private image(index: number): Promise<SizedImage> {
    const cached = this.cache.get(index);
    if (cached) return cached;
    const loading = this.decodeSlots.run(() => loadSized(this.samples[index].source, this.opts.imgsz));
    // Pixel sources are in RAM already: keeping them resized costs little and saves a resample per use.
    if (this.opts.cache || this.samples[index].source.kind === "pixels") {
      this.cache.set(index, loading);
      loading.catch(() => this.cache.delete(index)); // a failed decode is retried, not remembered
    }
    return loading;
  }

  private async fill(slot: Slot, order: Int32Array, epoch: number, batchIndex: number, mosaic: number): Promise<DetLoaderBatch> {
    const { batch, imgsz, augment, seed } = this.opts;
    const globalFrom = batchIndex * batch;
    const globalSize = Math.min(batch, order.length - globalFrom);
    const [lo, hi] = this.opts.shard ? shardSlice(globalSize, this.opts.shard.rank, this.opts.shard.ranks) : [0, globalSize];
    const from = globalFrom + lo;
    const size = hi - lo;
    const plane = imgsz * imgsz;
    const found: { boxes: Box[]; crowd: Box[] }[] = new Array(size);
    // Fresh per batch (a few numbers): a caller may keep shapes past next(), unlike the big arrays.
    const shapes: DetShape[] = Array.from({ length: size }, () => ({ width: 0, height: 0, scale: 1, padX: 0, padY: 0 }));
    const jobs: Promise<void>[] = [];
    for (let k = 0; k < size; k++) {
      const index = order[from + k];
      slot.indices[k] = index;
      // Drawn now, before decoding, from the sample's own generator: which images to load.
      const partners = augment ? mosaicPartners(mosaic, this.samples.length, rngFor(seed, MOSAIC_STREAM, epoch, index)) : null;
      const members = [index, ...(partners ?? [])];
      const loads = new Map<number, Promise<SizedImage>>(); // a partner may repeat: decode it once
      for (const i of members) if (!loads.has(i)) loads.set(i, this.image(i));
      jobs.push(Promise.all(members.map((i) => loads.get(i)!)).then((sized) => {
        // Synchronous from here: the shared generator and scratch buffers are safe.
        const own = sized[0];
        const shape = shapes[k];
        shape.width = own.width;
        shape.height = own.height;
        shape.scale = imgsz / Math.max(own.width, own.height);
        const objects = this.samples[index].objects;
        let pixels: Uint8Array;
        if (augment) {
          this.rng.seed(mixSeed(seed, AUGMENT_STREAM, epoch, index));
          const tiles = sized.map((s, t) => ({ image: s.image, boxes: placeObjects(training(this.samples[members[t]].objects), s.image) }));
          const result = augmentDetection(tiles, augment, this.rng, this.scratch);
          ({ pixels } = result);
          // Training's shapes describe the plain letterbox, not the augmented image.
          ({ padX: shape.padX, padY: shape.padY } = centredPad(imgsz, own.image.width, own.image.height));
          found[k] = { boxes: result.boxes, crowd: [] };
        } else {
          const { padX, padY } = letterbox(own.image, imgsz, this.scratch.canvas);
          pixels = this.scratch.canvas;
          shape.padX = padX;
          shape.padY = padY;
          found[k] = { boxes: placeObjects(training(objects), own.image, padX, padY), crowd: placeObjects(crowds(objects), own.image, padX, padY) };
        }
        writeChw(pixels, plane, slot.images, k * 3 * plane);
      }));
    }
    // Wait for every job, failed or not, so nothing writes into the slot after this returns.
    const failed = (await Promise.allSettled(jobs)).find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    // Objects in image order, whatever order the decodes finished in.
    slot.targets.reset();
    slot.crowd.reset();
    for (let k = 0; k < size; k++) {
      for (const b of found[k].boxes) slot.targets.push(k, b, imgsz);
      for (const b of found[k].crowd) slot.crowd.push(k, b, imgsz);
    }
    const targets = slot.targets.view();
    const full = size === batch;
    return {
      images: full ? slot.images : slot.images.subarray(0, size * 3 * plane),
      size,
      imgsz,
      ...targets,
      indices: full ? slot.indices : slot.indices.subarray(0, size),
      shapes,
      crowd: slot.crowd.view(),
      ...(this.opts.shard ? { globalSize } : {}),
    };
  }
}

/** RGB HWC bytes → CHW floats / 255 (Ultralytics: no mean/std). */
function writeChw(pixels: Uint8Array, plane: number, out: Float32Array, offset: number): void {
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane;
    for (let i = 0, j = c; i < plane; i++, j += 3) out[base + i] = pixels[j] / 255;
  }
}

function checkAugment(a: DetAugmentOptions): void {
  const within = (key: keyof DetAugmentOptions, lo: number, hi: number, open = false): void => {
    const v = a[key];
    if (!(Number.isFinite(v) && v >= lo && (open ? v < hi : v <= hi))) {
      throw new KilnError(`${key} must be a number from ${lo} to ${hi}${open ? " (exclusive)" : ""}, got ${v}.`);
    }
  };
  for (const key of ["mosaic", "fliplr", "translate", "hsv_h", "hsv_s", "hsv_v"] as const) within(key, 0, 1);
  within("scale", 0, 1, true); // 1 ± scale must stay above 0
}
