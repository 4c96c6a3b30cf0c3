// loadClassificationDataset: detect the format, read the index (no pixel decoding), split
// off val with the seed when the data has none, then sample the train split per class.
import { stat } from "node:fs/promises";
import path from "node:path";
import { KilnError } from "../errors.js";
import { readFolders } from "./formats/folders.js";
import { readCsv } from "./formats/csv.js";
import { hasIdxFiles, readIdx } from "./formats/idx.js";
import { samplePerClass, splitValidation } from "./split.js";
import { syntheticDataset } from "./synthetic.js";
import type { ClassificationDataset } from "./types.js";

export interface LoadOptions {
  seed: number;
  /** Share of each class moved to val when the data has no val split, in [0, 1). */
  valRatio: number;
  /** Share of each class kept in train, in (0, 1]. val and test are kept whole so metrics stay comparable. */
  fraction: number;
  maxPerClass?: number;
}

function validate(opts: LoadOptions): void {
  if (!(opts.valRatio >= 0 && opts.valRatio < 1)) throw new KilnError(`val_ratio must be in [0, 1), got ${opts.valRatio}. Fix: e.g. val_ratio=0.2.`);
  if (!(opts.fraction > 0 && opts.fraction <= 1)) throw new KilnError(`fraction must be in (0, 1], got ${opts.fraction}. Fix: e.g. fraction=0.5 for half of each class.`);
  if (opts.maxPerClass !== undefined && !(Number.isInteger(opts.maxPerClass) && opts.maxPerClass >= 1)) {
    throw new KilnError(`max_per_class must be a whole number of at least 1, got ${opts.maxPerClass}. Fix: e.g. max_per_class=100, or leave it out.`);
  }
}

async function readIndex(spec: string): Promise<ClassificationDataset> {
  const info = await stat(spec).catch(() => null);
  if (!info) {
    throw new KilnError(`data path not found: ${path.resolve(spec)}. Fix: pass a folder of class folders, a CSV file or a folder of IDX files (--data PATH), or leave --data out for the built-in synthetic dataset.`);
  }
  if (info.isFile()) {
    if (path.extname(spec).toLowerCase() === ".csv") return readCsv(spec);
    throw new KilnError(`${spec} is a file but not a CSV. Fix: pass a CSV index (path,label), a folder of class folders, or a folder of IDX files.`);
  }
  if (await hasIdxFiles(spec)) return readIdx(spec);
  return readFolders(spec); // train/ val/ [test/] of class folders, or class folders to split
}

export async function loadClassificationDataset(spec: string | undefined, opts: LoadOptions): Promise<ClassificationDataset> {
  validate(opts);
  const ds = spec === undefined || spec === "synthetic" ? syntheticDataset() : await readIndex(spec);
  const train = ds.splits.train ?? [];
  if (!ds.splits.val) {
    const { train: kept, val } = splitValidation(train, ds.classes, opts.valRatio, opts.seed);
    ds.splits.train = kept;
    ds.splits.val = val;
  }
  ds.splits.train = samplePerClass(ds.splits.train ?? [], ds.classes, opts.fraction, opts.seed, opts.maxPerClass);
  return ds;
}
