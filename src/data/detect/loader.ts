// DetectionLoader: batches of a detection dataset for YOLO training and
// validation. Order and augmentation are seeded per (seed, epoch, image), so
// an epoch is the same whenever it runs and `epoch(e, start)` yields exactly
// the tail of a full epoch (exact resume). Images decode in sharp's pool
// (the long side resized to imgsz) while the previous batch trains; pixel
// sources (the synthetic set) are used as they are.
//
// Training: with probability `mosaic`, a 4-image mosaic then the random
// affine cropping it back to imgsz; otherwise letterbox then the affine;
// then HSV gains and a left-right flip. Validation: letterbox only, and each
// image's `shapes` entry maps input pixels back to its own.
import sharp from "sharp";
import { decodeError } from "../decode.js";
import { mixSeed, rngFor, shuffleInPlace } from "../seed.js";
import { Rng } from "../../engine/rng.js";
import { KilnError } from "../../errors.js";
import { flipLeftRight, hsvJitter, letterbox, mosaic, randomAffine, resizeBilinear, type PixelBox, type Pixels } from "./transforms.js";
import type { DetBatch, DetSample } from "./types.js";

export interface DetAugmentOptions {
  /** Probability of a 4-image mosaic. */
  mosaic: number;
  translate: number;
  scale: number;
  fliplr: number;
  hsv_h: number;
  hsv_s: number;
  hsv_v: number;
}

export interface DetectionLoaderOptions {
  batch: number;
  imgsz: number;
  shuffle: boolean;
  seed: number;
  dropLast: boolean;
  /** null: validation (letterbox only). */
  augment: DetAugmentOptions | null;
  /** Keep decoded file images in RAM. */
  cache?: boolean;
  /** Batches decoded ahead (default 1). */
  prefetch?: number;
  /** Images decoded at once (0: all of a batch). */
  workers?: number;
}

const ORDER_STREAM = 0xde7;
const AUGMENT_STREAM = 0xa117;

/** An image at the loader's scale (long side imgsz) with its boxes in those pixels, and its original size. */
interface Loaded { img: Pixels; boxes: PixelBox[]; width: number; height: number; scale: number }

export class DetectionLoader {
  readonly length: number;
  private mosaicOn = true;
  private readonly cache = new Map<number, Loaded>();

  constructor(private readonly samples: DetSample[], private readonly o: DetectionLoaderOptions) {
    if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new KilnError(`batch must be a whole number of at least 1, got ${o.batch}.`);
    if (!(Number.isInteger(o.imgsz) && o.imgsz >= 32 && o.imgsz % 32 === 0)) throw new KilnError(`imgsz must be a multiple of 32 for a detector, got ${o.imgsz}.`);
    this.length = o.dropLast ? Math.floor(samples.length / o.batch) : Math.ceil(samples.length / o.batch);
  }

  /** close_mosaic: training without mosaic for the last epochs. */
  setMosaic(on: boolean): void {
    this.mosaicOn = on;
  }

  order(epoch: number): Int32Array {
    const order = Int32Array.from({ length: this.samples.length }, (_, i) => i);
    if (this.o.shuffle) shuffleInPlace(order, rngFor(this.o.seed, ORDER_STREAM, epoch));
    return order;
  }

  async *epoch(epoch: number, start = 0): AsyncIterableIterator<DetBatch> {
    const order = this.order(epoch);
    const ahead = Math.max(1, this.o.prefetch ?? 1);
    const pending: Promise<Map<number, Loaded>>[] = [];
    const plans: number[][][] = [];
    let next = Math.max(0, start);
    const launch = (): void => {
      if (next >= this.length) return;
      const plan = this.plan(order, epoch, next++);
      plans.push(plan);
      const p = this.decodeAll([...new Set(plan.flat())]);
      p.catch(() => undefined); // awaited below
      pending.push(p);
    };
    for (let i = 0; i < ahead; i++) launch();
    while (pending.length > 0) {
      const decoded = await pending.shift()!;
      const plan = plans.shift()!;
      launch();
      yield this.assemble(plan, decoded, epoch);
    }
  }

  /** Per image of the batch: its sample and, for a mosaic, the three others (drawn from the image's own stream). */
  private plan(order: Int32Array, epoch: number, batchIndex: number): number[][] {
    const from = batchIndex * this.o.batch;
    const size = Math.min(this.o.batch, order.length - from);
    const a = this.o.augment;
    return Array.from({ length: size }, (_, k) => {
      const index = order[from + k];
      if (!a || !this.mosaicOn || a.mosaic <= 0) return [index];
      const rng = rngFor(this.o.seed, AUGMENT_STREAM, epoch, index);
      if (rng.uniform() >= a.mosaic) return [index];
      return [index, ...[0, 1, 2].map(() => Math.floor(rng.uniform() * this.samples.length))];
    });
  }

  private async decodeAll(indices: number[]): Promise<Map<number, Loaded>> {
    const out = new Map<number, Loaded>();
    const limit = this.o.workers && this.o.workers > 0 ? this.o.workers : indices.length;
    for (let i = 0; i < indices.length; i += limit) {
      const chunk = indices.slice(i, i + limit);
      const loaded = await Promise.all(chunk.map((index) => this.load(index)));
      chunk.forEach((index, j) => out.set(index, loaded[j]));
    }
    return out;
  }

  private async load(index: number): Promise<Loaded> {
    const hit = this.cache.get(index);
    if (hit) return hit;
    const s = this.samples[index];
    const size = this.o.imgsz;
    let img: Pixels, width: number, height: number;
    if (s.source.kind === "pixels") {
      const src = s.source;
      width = src.width;
      height = src.height;
      const rgb = src.channels === 3 ? src.data : expandGray(src.data);
      const r = size / Math.max(width, height);
      img = resizeBilinear({ width, height, data: rgb }, Math.max(1, Math.round(width * r)), Math.max(1, Math.round(height * r)));
    } else {
      const path = s.source.path;
      try {
        const meta = await sharp(path).autoOrient().metadata();
        width = meta.autoOrient?.width ?? meta.width ?? 0;
        height = meta.autoOrient?.height ?? meta.height ?? 0;
        const r = size / Math.max(width, height);
        const { data, info } = await sharp(path).autoOrient().removeAlpha().toColourspace("srgb")
          .resize({ width: Math.max(1, Math.round(width * r)), height: Math.max(1, Math.round(height * r)), fit: "fill" })
          .raw().toBuffer({ resolveWithObject: true });
        img = { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
      } catch (err) {
        throw decodeError(path, err);
      }
    }
    const sx = img.width / width, sy = img.height / height;
    const boxes = s.objects.filter((o) => !o.crowd).map((o) => ({
      cls: o.cls, x1: o.box[0] * width * sx, y1: o.box[1] * height * sy, x2: o.box[2] * width * sx, y2: o.box[3] * height * sy,
    }));
    const loaded = { img, boxes, width, height, scale: img.width / width };
    if (this.o.cache || s.source.kind === "pixels") this.cache.set(index, loaded);
    return loaded;
  }

  private assemble(plan: number[][], decoded: Map<number, Loaded>, epoch: number): DetBatch {
    const size = this.o.imgsz, n = plan.length, plane = size * size;
    const images = new Float32Array(n * 3 * plane);
    const batchIndex: number[] = [], cls: number[] = [], boxes: number[] = [];
    const shapes: DetBatch["shapes"] = [];
    const indices = new Int32Array(n);
    plan.forEach((members, k) => {
      const index = members[0];
      indices[k] = index;
      const first = decoded.get(index)!;
      let out: { img: Pixels; boxes: PixelBox[] };
      const a = this.o.augment;
      if (a) {
        const rng = new Rng(0);
        rng.seed(mixSeed(this.o.seed, AUGMENT_STREAM + 1, epoch, index));
        if (members.length === 4) {
          const m = mosaic(members.map((i) => decoded.get(i)!), size, rng);
          out = randomAffine(m.img, m.boxes, size, a, rng);
        } else {
          const lb = letterbox(first.img, first.boxes, size);
          out = randomAffine(lb.img, lb.boxes, size, a, rng);
        }
        hsvJitter(out.img, { h: a.hsv_h, s: a.hsv_s, v: a.hsv_v }, rng);
        if (rng.uniform() < a.fliplr) out.boxes = flipLeftRight(out.img, out.boxes);
        shapes.push({ width: first.width, height: first.height, scale: first.scale, padX: 0, padY: 0 });
      } else {
        const lb = letterbox(first.img, first.boxes, size);
        out = lb;
        shapes.push({ width: first.width, height: first.height, scale: first.scale, padX: lb.padX, padY: lb.padY });
      }
      const base = k * 3 * plane, d = out.img.data;
      for (let p = 0; p < plane; p++) {
        images[base + p] = d[p * 3] / 255;
        images[base + plane + p] = d[p * 3 + 1] / 255;
        images[base + 2 * plane + p] = d[p * 3 + 2] / 255;
      }
      for (const b of out.boxes) {
        batchIndex.push(k);
        cls.push(b.cls);
        boxes.push((b.x1 + b.x2) / 2 / size, (b.y1 + b.y2) / 2 / size, (b.x2 - b.x1) / size, (b.y2 - b.y1) / size);
      }
    });
    return { images, size: n, imgsz: size, batchIndex: Int32Array.from(batchIndex), cls: Int32Array.from(cls), boxes: Float32Array.from(boxes), indices, shapes };
  }
}

function expandGray(g: Uint8Array): Uint8Array {
  const out = new Uint8Array(g.length * 3);
  for (let i = 0; i < g.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = g[i];
  return out;
}
