// IDX files (MNIST, Fashion-MNIST), gzipped or not: a folder holding
// train-images-idx3-ubyte, train-labels-idx1-ubyte and optionally the t10k-* pair (→ "test").
// Images stay in the file's buffer: each sample is a view of its 28×28 bytes.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { KilnError } from "../../errors.js";
import { exists } from "../files.js";
import type { ClassificationDataset, Sample } from "../types.js";

/** Fashion-MNIST's label names, in label order. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
];

const IDX_FILE = /^(train|t10k)-(images-idx3|labels-idx1)-ubyte(\.gz)?$/;
const UBYTE = 0x08;

/** True when DIR holds IDX files. */
export async function hasIdxFiles(dir: string): Promise<boolean> {
  return (await readdir(dir)).some((name) => IDX_FILE.test(name));
}

async function findFile(dir: string, stem: string): Promise<string | null> {
  for (const name of [stem, `${stem}.gz`]) if (await exists(path.join(dir, name))) return path.join(dir, name);
  return null;
}

/** The unsigned-byte array of an IDX file with `dims` dimensions, and its shape. */
export function parseIdx(file: string, bytes: Uint8Array, dims: number): { shape: number[]; data: Uint8Array } {
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? new Uint8Array(gunzipSync(bytes)) : bytes;
  const bad = (what: string): KilnError =>
    new KilnError(`${file} is not a valid IDX file: ${what}. Fix: use the original (MNIST-format) files, gzipped or not.`);
  if (raw.length < 4 + 4 * dims) throw bad("too short for its header");
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint16(0) !== 0 || raw[2] !== UBYTE || raw[3] !== dims) {
    throw bad(`expected magic 0x000008${dims.toString(16).padStart(2, "0")}, found 0x${view.getUint32(0).toString(16).padStart(8, "0")}`);
  }
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
  const start = 4 + 4 * dims;
  const size = shape.reduce((a, b) => a * b, 1);
  if (raw.length < start + size) throw bad(`truncated: header promises ${size} bytes of data, the file holds ${raw.length - start}`);
  return { shape, data: raw.subarray(start, start + size) };
}

async function readPair(dir: string, prefix: "train" | "t10k"): Promise<{ samples: Sample[]; maxLabel: number } | null> {
  const imagesFile = await findFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelsFile = await findFile(dir, `${prefix}-labels-idx1-ubyte`);
  if (!imagesFile && !labelsFile) return null;
  if (!imagesFile || !labelsFile) {
    throw new KilnError(`${dir}: found ${imagesFile ?? labelsFile} without its ${imagesFile ? "labels" : "images"} file. Fix: put both ${prefix}-images-idx3-ubyte and ${prefix}-labels-idx1-ubyte (gzipped or not) in the folder.`);
  }
  const images = parseIdx(imagesFile, await readFile(imagesFile), 3);
  const labels = parseIdx(labelsFile, await readFile(labelsFile), 1);
  const [count, height, width] = images.shape;
  if (labels.shape[0] !== count) {
    throw new KilnError(`${labelsFile} holds ${labels.shape[0]} labels for ${count} images in ${imagesFile}. Fix: use matching files.`);
  }
  const pixels = height * width;
  const samples: Sample[] = [];
  let maxLabel = 0;
  for (let i = 0; i < count; i++) {
    const data = images.data.subarray(i * pixels, (i + 1) * pixels);
    samples.push({ source: { kind: "pixels", width, height, channels: 1, data }, label: labels.data[i] });
    maxLabel = Math.max(maxLabel, labels.data[i]);
  }
  return { samples, maxLabel };
}

/** Class names: classes.txt in the folder, Fashion-MNIST's when the folder's path says so, else the digits. */
async function classNames(dir: string, count: number): Promise<string[]> {
  const listPath = path.join(dir, "classes.txt");
  if (await exists(listPath)) return (await readFile(listPath, "utf8")).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (count === FASHION_MNIST_CLASSES.length && /fashion/i.test(path.resolve(dir))) return [...FASHION_MNIST_CLASSES];
  return Array.from({ length: count }, (_, i) => String(i));
}

export async function readIdx(dir: string): Promise<ClassificationDataset> {
  const train = await readPair(dir, "train");
  if (!train) {
    throw new KilnError(`${dir}: no train-images-idx3-ubyte / train-labels-idx1-ubyte. Fix: put the IDX training files (gzipped or not) in the folder.`);
  }
  const test = await readPair(dir, "t10k");
  const classes = await classNames(dir, Math.max(train.maxLabel, test?.maxLabel ?? 0) + 1);
  const splits: ClassificationDataset["splits"] = { train: train.samples };
  if (test) splits.test = test.samples;
  return { name: dir, format: "idx", classes, splits, channels: 1, issues: [] };
}
