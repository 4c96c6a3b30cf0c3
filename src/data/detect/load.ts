// Detection datasets: which format a path is, reading its index (no pixel decoding), and
// the seeded val split / train sampling training uses.
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { KilnError } from "../../errors.js";
import { readCoco } from "./formats/coco.js";
import { readVoc } from "./formats/voc.js";
import { readYolo, yoloYamlOf } from "./formats/yolo.js";
import { sampleDetection, splitDetection } from "./split.js";
import { syntheticDetectionDataset } from "./synthetic.js";
import type { DetectionDataset } from "./types.js";

export interface DetectionLoadOptions {
  seed: number;
  /** Share of the images moved to val when the data has no val split, in [0, 1). */
  valRatio: number;
  /** Share of the train images kept, in (0, 1]; val and test stay whole. */
  fraction: number;
}

export type DetectionFormat = "yolo" | "coco" | "voc";

const isDir = (p: string): boolean => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** The format of a detection dataset path, or undefined when it is not one (it may be a classification dataset). */
export function detectionFormatOf(spec: string): DetectionFormat | undefined {
  const info = statSync(spec, { throwIfNoEntry: false });
  if (!info) return undefined;
  if (info.isFile()) {
    if (/\.ya?ml$/i.test(spec)) return "yolo";
    if (/\.json$/i.test(spec)) return "coco";
    return undefined;
  }
  if (!info.isDirectory()) return undefined;
  if (yoloYamlOf(spec) !== undefined) return "yolo";
  if (isDir(path.join(spec, "Annotations"))) return "voc";
  for (const dir of [path.join(spec, "annotations"), spec]) {
    if (isDir(dir) && readdirSync(dir).some((n) => /^instances_(train|val|test)(\d{4})?\.json$/.test(n))) return "coco";
  }
  return undefined;
}

/** A data.yaml (or a folder with one), a COCO instances JSON or folder, a VOC folder. "synthetic" is not: the task decides which synthetic set. */
export function isDetectionDataset(spec: string): boolean {
  return existsSync(spec) && detectionFormatOf(spec) !== undefined;
}

/** The dataset as its files give it: no split added, nothing sampled. "synthetic" gives the built-in set. */
export async function readDetectionDataset(spec: string): Promise<DetectionDataset> {
  if (spec === "synthetic") return syntheticDetectionDataset();
  if (!existsSync(spec)) {
    throw new KilnError(`data path not found: ${path.resolve(spec)}. Fix: pass a data.yaml (YOLO), a COCO instances JSON or folder, a Pascal VOC folder, or "synthetic".`);
  }
  const format = detectionFormatOf(spec);
  if (format === "yolo") return readYolo(spec);
  if (format === "coco") return readCoco(spec);
  if (format === "voc") return readVoc(spec);
  throw new KilnError(`${spec} is not a detection dataset. Fix: pass a data.yaml (YOLO), a COCO instances JSON (or a folder with annotations/instances_train.json), or a Pascal VOC folder (Annotations/, JPEGImages/).`);
}

function validate(opts: DetectionLoadOptions): void {
  if (!(opts.valRatio >= 0 && opts.valRatio < 1)) throw new KilnError(`val_ratio must be in [0, 1), got ${opts.valRatio}. Fix: e.g. val_ratio=0.2.`);
  if (!(opts.fraction > 0 && opts.fraction <= 1)) throw new KilnError(`fraction must be in (0, 1], got ${opts.fraction}. Fix: e.g. fraction=0.5 for half of the training images.`);
}

/** Reads a detection dataset, splits off val (seeded, stratified) when it has none, then samples `fraction` of train. */
export async function loadDetectionDataset(spec: string, opts: DetectionLoadOptions): Promise<DetectionDataset> {
  validate(opts);
  const ds = await readDetectionDataset(spec);
  if (!ds.splits.val) {
    const { train, val } = splitDetection(ds.splits.train ?? [], ds.classes, opts.valRatio, opts.seed);
    ds.splits.train = train;
    ds.splits.val = val;
  }
  ds.splits.train = sampleDetection(ds.splits.train ?? [], ds.classes, opts.fraction, opts.seed);
  return ds;
}
