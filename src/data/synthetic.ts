// The built-in synthetic classification dataset: ten shapes in random colours, positions,
// sizes and rotations on textured backgrounds, generated in memory from a seed. Each
// image has its own random stream (seed, split, index), so a dataset of any size is a
// prefix of a larger one and generation needs no files and no downloads.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import type { Rng } from "../engine/rng.js";
import { addNoise, drawShape, fillBackground, luma, randomColour, SHAPES, type Rgb } from "./raster.js";
import { rngFor } from "./seed.js";
import type { ClassificationDataset, Sample, SplitName } from "./types.js";

export const SYNTHETIC_CLASSES: readonly string[] = SHAPES.map((s) => s.name);

export interface SyntheticOptions {
  /** Generation seed (default 0): the same seed gives the same images. */
  seed?: number;
  train?: number; // default 2000
  val?: number; // default 500
  /** Image side in pixels (default 64). */
  size?: number;
}

const SPLIT_STREAM: Record<SplitName, number> = { train: 1, val: 2, test: 3 };

/** A shape colour should stand out from the background by this much luma (the best of 20 draws when none does). */
const MIN_CONTRAST = 90;

/** A random colour that stands out from `background` (exported for the detection dataset). */
export function contrastingColour(background: Rgb, rng: Rng): Rgb {
  const contrast = (c: Rgb): number => Math.abs(luma(c) - luma(background));
  let best = randomColour(rng);
  for (let attempt = 0; attempt < 20 && contrast(best) < MIN_CONTRAST; attempt++) {
    const candidate = randomColour(rng);
    if (contrast(candidate) > contrast(best)) best = candidate;
  }
  return best;
}

/** Draws one image of class `label` (an index into SYNTHETIC_CLASSES) into a new HWC RGB array. */
export function drawSyntheticImage(label: number, size: number, rng: Rng): Uint8Array {
  const pixels = new Uint8Array(size * size * 3);
  const background = randomColour(rng);
  fillBackground(pixels, size, background, rng);
  const shape = SHAPES[label];
  const radius = size * (0.22 + rng.uniform() * 0.16);
  const margin = radius * 0.85;
  const cx = margin + rng.uniform() * (size - 2 * margin);
  const cy = margin + rng.uniform() * (size - 2 * margin);
  const angle = (rng.uniform() * 2 - 1) * shape.maxRotation;
  drawShape(pixels, size, shape, cx, cy, radius, angle, contrastingColour(background, rng));
  addNoise(pixels, 6, rng);
  return pixels;
}

function syntheticSplit(split: SplitName, count: number, size: number, seed: number): Sample[] {
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const label = i % SHAPES.length; // balanced classes
    const data = drawSyntheticImage(label, size, rngFor(seed, SPLIT_STREAM[split], i));
    samples.push({ source: { kind: "pixels", width: size, height: size, channels: 3, data }, label });
  }
  return samples;
}

export function syntheticDataset(opts: SyntheticOptions = {}): ClassificationDataset {
  const seed = opts.seed ?? 0;
  const size = opts.size ?? 64;
  return {
    name: "synthetic",
    format: "synthetic",
    classes: [...SYNTHETIC_CLASSES],
    splits: { train: syntheticSplit("train", opts.train ?? 2000, size, seed), val: syntheticSplit("val", opts.val ?? 500, size, seed) },
    channels: 3,
  };
}

/** Writes a dataset of pixel sources as class folders of PNG files: DIR/<split>/<class>/<index>.png. */
export async function writeClassFolders(ds: ClassificationDataset, dir: string): Promise<void> {
  for (const [split, samples] of Object.entries(ds.splits)) {
    for (const name of ds.classes) await mkdir(path.join(dir, split, name), { recursive: true });
    let index = 0;
    for (const { source, label } of samples ?? []) {
      if (source.kind !== "pixels") throw new Error("writeClassFolders: only pixel sources can be written");
      const file = path.join(dir, split, ds.classes[label], `${String(index++).padStart(5, "0")}.png`);
      await sharp(source.data, { raw: { width: source.width, height: source.height, channels: source.channels } }).png().toFile(file);
    }
  }
}
