// The built-in synthetic detection dataset: 1–6 shapes of five classes on a textured
// background per image, generated in memory from a seed (one random stream per image, so
// any dataset is a prefix of a larger one; names carry the split, so they stay unique in
// formats with one image folder for all splits, like VOC). Each box is exact: the tight pixel bounds of
// what the rasteriser drew, found by drawing the shape into a blank mask first. Shapes
// may overlap, but a later shape never hides more than 40% of an earlier one's box.
import type { Rng } from "../../engine/rng.js";
import { drawShape, fillBackground, randomColour, SHAPES, type Rgb, type ShapeDef } from "../raster.js";
import { rngFor } from "../seed.js";
import { contrastingColour } from "../synthetic.js";
import type { SplitName } from "../types.js";
import type { Box } from "./boxes.js";
import type { DetectionDataset, DetObject, DetSample } from "./types.js";

export const SYNTHETIC_DETECTION_CLASSES: readonly string[] = ["circle", "square", "triangle", "star", "cross"];

const SHAPE_OF: ShapeDef[] = SYNTHETIC_DETECTION_CLASSES.map((name) => SHAPES.find((s) => s.name === name) as ShapeDef);

export interface SyntheticDetectionOptions {
  /** Generation seed (default 0). */
  seed?: number;
  train?: number; // default 400
  val?: number; // default 100
  /** Image side in pixels (default 320). */
  size?: number;
}

const STREAM = 0xde7;
const SPLIT_STREAM: Record<SplitName, number> = { train: 1, val: 2, test: 3 };
const MAX_HIDDEN = 0.4;
const PLACEMENT_TRIES = 10;

/** Draws a shape in white into the blank mask; returns its pixel bounds [x0, y0, x1, y1), or undefined when nothing was drawn. */
function drawMask(mask: Uint8Array, size: number, shape: ShapeDef, cx: number, cy: number, radius: number, angle: number): Box | undefined {
  drawShape(mask, size, shape, cx, cy, radius, angle, [255, 255, 255]);
  const reach = Math.ceil(radius * 1.05) + 1;
  let x0 = size, y0 = size, x1 = -1, y1 = -1;
  for (let y = Math.max(0, Math.floor(cy) - reach); y <= Math.min(size - 1, Math.ceil(cy) + reach); y++) {
    for (let x = Math.max(0, Math.floor(cx) - reach); x <= Math.min(size - 1, Math.ceil(cx) + reach); x++) {
      if (mask[(y * size + x) * 3] === 0) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? undefined : [x0, y0, x1 + 1, y1 + 1];
}

/**
 * Blends `colour` into the image through the mask, as drawShape would have (the mask holds
 * 255 × hits/4 of its 4 samples per pixel), and blanks the mask again. One rasterisation per
 * shape gives both the box and the pixels.
 */
function compositeMask(data: Uint8Array, mask: Uint8Array, size: number, box: Box, colour: Rgb | null): void {
  for (let y = box[1]; y < box[3]; y++) {
    for (let x = box[0]; x < box[2]; x++) {
      const o = (y * size + x) * 3;
      const m = mask[o];
      if (m === 0) continue;
      mask[o] = mask[o + 1] = mask[o + 2] = 0;
      if (!colour) continue;
      const a = Math.round((m * 4) / 255) / 4;
      for (let c = 0; c < 3; c++) data[o + c] = Math.round(data[o + c] * (1 - a) + colour[c] * a);
    }
  }
}

/** The share of the smaller box that the two boxes have in common. */
function overlapOfSmaller(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / Math.min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]));
}

/** Integer noise uniform in ±`amount` on every byte, from a xorshift32 seeded by `rng`: raster's
 *  addNoise draws from the Rng per byte, which costs more than the rest of a 320×320 image. */
function addFastNoise(pixels: Uint8Array, amount: number, rng: Rng): void {
  const span = 2 * amount + 1;
  let x = (Math.floor(rng.uniform() * 0xffffffff) | 1) >>> 0;
  for (let i = 0; i < pixels.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = pixels[i] + (((x >>> 16) * span) >>> 16) - amount;
    pixels[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/** One image: HWC RGB pixels and its objects (boxes normalised). */
export function drawDetectionImage(size: number, rng: Rng, mask = new Uint8Array(size * size * 3)): { data: Uint8Array; objects: DetObject[] } {
  const data = new Uint8Array(size * size * 3);
  const background = randomColour(rng);
  fillBackground(data, size, background, rng);
  const boxes: Box[] = [];
  const objects: DetObject[] = [];
  const count = 1 + Math.floor(rng.uniform() * 6);
  for (let n = 0; n < count; n++) {
    const cls = Math.floor(rng.uniform() * SHAPE_OF.length);
    const shape = SHAPE_OF[cls];
    const colour = contrastingColour(background, rng);
    for (let attempt = 0; attempt < PLACEMENT_TRIES; attempt++) {
      const radius = size * (0.05 + rng.uniform() * 0.13);
      const margin = radius * 1.05;
      const cx = margin + rng.uniform() * (size - 2 * margin);
      const cy = margin + rng.uniform() * (size - 2 * margin);
      const angle = (rng.uniform() * 2 - 1) * shape.maxRotation;
      const box = drawMask(mask, size, shape, cx, cy, radius, angle);
      if (!box) continue;
      const hides = boxes.some((b) => overlapOfSmaller(b, box) > MAX_HIDDEN);
      compositeMask(data, mask, size, box, hides ? null : colour);
      if (hides) continue;
      boxes.push(box);
      objects.push({ cls, box: [box[0] / size, box[1] / size, box[2] / size, box[3] / size] });
      break;
    }
  }
  addFastNoise(data, 6, rng);
  return { data, objects };
}

function syntheticSplit(split: SplitName, count: number, size: number, seed: number): DetSample[] {
  const mask = new Uint8Array(size * size * 3);
  const samples: DetSample[] = [];
  for (let i = 0; i < count; i++) {
    const { data, objects } = drawDetectionImage(size, rngFor(seed, STREAM, SPLIT_STREAM[split], i), mask);
    samples.push({ source: { kind: "pixels", width: size, height: size, channels: 3, data }, width: size, height: size, objects, name: `${split}_${String(i).padStart(6, "0")}.png` });
  }
  return samples;
}

export function syntheticDetectionDataset(opts: SyntheticDetectionOptions = {}): DetectionDataset {
  const seed = opts.seed ?? 0;
  const size = opts.size ?? 320;
  return {
    name: "synthetic",
    format: "synthetic",
    classes: [...SYNTHETIC_DETECTION_CLASSES],
    splits: { train: syntheticSplit("train", opts.train ?? 400, size, seed), val: syntheticSplit("val", opts.val ?? 100, size, seed) },
    issues: [],
  };
}
