// The training augmentation of one detection sample, in Ultralytics' order (v8_transforms):
// mosaic of 4 or letterbox, random affine, HSV jitter, left-right flip. Every random decision
// comes from the generator passed in, seeded per (seed, epoch, sample) by the loader, and the
// number of draws is fixed per path, so a sample's result depends on nothing else.
import type { Rng } from "../../engine/rng.js";
import type { RawImage } from "../types.js";
import { randomAffine, transformBoxes, warpAffine } from "./affine.js";
import { augmentHsv, hsvGains } from "./hsv.js";
import { letterbox, type Box } from "./letterbox.js";
import { mosaic4, mosaicCentre, type Tile } from "./mosaic.js";

export interface DetAugmentOptions {
  /** Probability of a mosaic of 4 (0 once close_mosaic starts). */
  mosaic: number;
  /** The centre moves by up to ± translate · imgsz. */
  translate: number;
  /** Zoom uniform in 1 ± scale. */
  scale: number;
  /** Probability of a left-right flip. */
  fliplr: number;
  /** Gains uniform in 1 ± hsv_h, 1 ± hsv_s, 1 ± hsv_v on OpenCV's 8-bit hue, saturation, value. */
  hsv_h: number;
  hsv_s: number;
  hsv_v: number;
}

/** Ultralytics' defaults (cfg/default.yaml). */
export const DEFAULT_DET_AUGMENT: Readonly<DetAugmentOptions> = { mosaic: 1, translate: 0.1, scale: 0.5, fliplr: 0.5, hsv_h: 0.015, hsv_s: 0.7, hsv_v: 0.4 };

/** Pixel buffers for one imgsz, reused by every sample: the pipeline runs synchronously, one sample at a time. */
export class DetScratch {
  private canvas2: Uint8Array | null = null;
  readonly canvas: Uint8Array;
  readonly out: Uint8Array;

  constructor(readonly imgsz: number) {
    this.canvas = new Uint8Array(imgsz * imgsz * 3);
    this.out = new Uint8Array(imgsz * imgsz * 3);
  }

  /** The (2·imgsz)² mosaic canvas, allocated on first use (validation never needs it). */
  get mosaic(): Uint8Array {
    this.canvas2 ??= new Uint8Array(4 * this.imgsz * this.imgsz * 3);
    return this.canvas2;
  }
}

/**
 * Whether a sample becomes a mosaic, and the 3 samples that join it (uniform over all `count`,
 * itself included, as Ultralytics): null for no mosaic. Drawn before any image is decoded.
 */
export function mosaicPartners(probability: number, count: number, rng: Rng): number[] | null {
  if (!(rng.uniform() < probability)) return null;
  return [0, 1, 2].map(() => Math.floor(rng.uniform() * count));
}

/** Mirrors RGB HWC pixels left-right in place. */
export function flipPixels(pixels: Uint8Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    for (let l = y * width * 3, r = l + (width - 1) * 3; l < r; l += 3, r -= 3) {
      for (let k = 0; k < 3; k++) {
        const t = pixels[l + k];
        pixels[l + k] = pixels[r + k];
        pixels[r + k] = t;
      }
    }
  }
}

export const flipBoxes = (boxes: readonly Box[], width: number): Box[] =>
  boxes.map((b) => ({ cls: b.cls, x1: width - b.x2, y1: b.y1, x2: width - b.x1, y2: b.y2 }));

/**
 * One training sample: `tiles[0]` is the sample (its image resized to long side imgsz, boxes
 * in its pixels), `tiles[1..3]` the mosaic partners when mosaicPartners chose some. Returns
 * imgsz² RGB bytes (scratch.out: valid until the next call) and the surviving boxes in them.
 */
export function augmentDetection(tiles: readonly Tile[], opts: DetAugmentOptions, rng: Rng, scratch: DetScratch): { pixels: Uint8Array; boxes: Box[] } {
  const { imgsz, out } = scratch;
  let source: RawImage;
  let boxes: Box[];
  if (tiles.length === 4) {
    // The 2·imgsz canvas; the affine's output size imgsz is Ultralytics' border of −imgsz/2.
    boxes = mosaic4(tiles, imgsz, mosaicCentre(imgsz, rng), scratch.mosaic);
    source = { width: 2 * imgsz, height: 2 * imgsz, channels: 3, data: scratch.mosaic };
  } else if (tiles.length === 1) {
    const { padX, padY } = letterbox(tiles[0].image, imgsz, scratch.canvas);
    boxes = tiles[0].boxes.map((b) => ({ cls: b.cls, x1: b.x1 + padX, y1: b.y1 + padY, x2: b.x2 + padX, y2: b.y2 + padY }));
    source = { width: imgsz, height: imgsz, channels: 3, data: scratch.canvas };
  } else {
    throw new Error(`augmentDetection: needs 1 or 4 tiles, got ${tiles.length}`);
  }
  const { matrix, scale } = randomAffine(opts, source.width, source.height, imgsz, imgsz, rng);
  warpAffine(source, matrix, imgsz, imgsz, out);
  boxes = transformBoxes(boxes, matrix, scale, imgsz, imgsz);
  augmentHsv(out, imgsz * imgsz, hsvGains(opts, rng));
  if (rng.uniform() < opts.fliplr) {
    flipPixels(out, imgsz, imgsz);
    boxes = flipBoxes(boxes, imgsz);
  }
  return { pixels: out, boxes };
}
