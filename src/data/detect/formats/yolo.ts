// YOLO (Ultralytics) detection data: a data.yaml, images, and one label file per image
// (`class cx cy w h` per line, normalised). Labels are found as Ultralytics finds them:
// the last `images` path component becomes `labels` and the extension `.txt`; kiln also
// accepts a .txt beside the image. A label file that is missing means no objects (reported
// as a warning); an empty one means no objects. Crowd objects, which YOLO has no column for,
// live in a sidecar `<stem>.crowd.txt` of the same format that Ultralytics never reads.
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { KilnError } from "../../../errors.js";
import { exists, isImageFile, listSorted } from "../../files.js";
import { SPLIT_NAMES, type DataIssue, type SplitName } from "../../types.js";
import { fromCxCyWh, objectProblem } from "../boxes.js";
import type { DetectionDataset, DetObject, DetSample } from "../types.js";
import { readYoloConfig, type YoloConfig } from "./yolo-yaml.js";

export interface YoloEntry {
  image: string;
  /** Relative to the split folder (or to the listed images' common folder), "/"-separated. */
  name: string;
  /** The label file when it exists. */
  label?: string;
  /** The crowd sidecar when it exists. */
  crowd?: string;
}

export interface YoloIndex {
  config: YoloConfig;
  splits: Partial<Record<SplitName, YoloEntry[]>>;
  /** Label files that no image claims. */
  orphans: string[];
  issues: DataIssue[];
}

const SEP_IMAGES = `${path.sep}images${path.sep}`;
const SEP_LABELS = `${path.sep}labels${path.sep}`;

/** Ultralytics' img2label_paths: the last /images/ becomes /labels/, the extension .txt. */
export function labelPathFor(image: string): string {
  const at = image.lastIndexOf(SEP_IMAGES);
  const swapped = at < 0 ? image : image.slice(0, at) + SEP_LABELS + image.slice(at + SEP_IMAGES.length);
  const ext = path.extname(swapped);
  return `${ext ? swapped.slice(0, -ext.length) : swapped}.txt`;
}

export const crowdPathFor = (label: string): string => `${label.slice(0, -".txt".length)}.crowd.txt`;

const toPosix = (p: string): string => p.split(path.sep).join("/");

async function walk(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await listSorted(dir)) {
    const full = path.join(dir, entry.name);
    if (entry.isDir) out.push(...(await walk(full, keep)));
    else if (keep(entry.name)) out.push(full);
  }
  return out;
}

/** The deepest folder holding every path. */
function commonFolder(files: string[]): string {
  if (files.length === 0) return "";
  let common = path.dirname(files[0]);
  for (const f of files) while (!f.startsWith(common + path.sep) && common !== path.dirname(common)) common = path.dirname(common);
  return common;
}

/** Images of one split source (a folder, or a .txt list with paths relative to the list's folder). */
async function imagesOf(source: string, where: string): Promise<{ images: string[]; base: string; isFolder: boolean }> {
  const info = await stat(source).catch(() => null);
  if (!info) throw new KilnError(`${where}: not found: ${source}. Fix: correct the path (relative to the dataset's 'path').`);
  if (info.isDirectory()) return { images: await walk(source, isImageFile), base: source, isFolder: true };
  if (path.extname(source).toLowerCase() !== ".txt") {
    throw new KilnError(`${where}: ${source} is neither a folder of images nor a .txt list of images. Fix: point it at the images folder.`);
  }
  const folder = path.dirname(source);
  const images = (await readFile(source, "utf8")).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "").map((l) => path.resolve(folder, l));
  return { images, base: commonFolder(images), isFolder: false };
}

/** The label file of an image: the Ultralytics location, else a .txt beside the image. */
async function findLabel(image: string): Promise<string | undefined> {
  const standard = labelPathFor(image);
  if (await exists(standard)) return standard;
  const beside = image.slice(0, image.length - path.extname(image).length) + ".txt";
  return beside !== standard && (await exists(beside)) ? beside : undefined;
}

/** At most a few names for a message. */
const some = (items: string[]): string => items.slice(0, 3).join(", ") + (items.length > 3 ? `, … (${items.length} in all)` : "");

/** Lists images and their label files, without reading labels. */
export async function indexYolo(spec: string): Promise<YoloIndex> {
  const config = await readYoloConfig(yoloYamlOf(spec) ?? spec);
  const issues: DataIssue[] = [];
  const splits: YoloIndex["splits"] = {};
  const claimed = new Set<string>();
  const labelFolders = new Set<string>();
  for (const split of SPLIT_NAMES) {
    const sources = config.splits[split];
    if (!sources) continue;
    const entries: YoloEntry[] = [];
    const missing: string[] = [];
    for (const source of sources) {
      const { images, base, isFolder } = await imagesOf(source, `${config.yamlPath}: ${split}`);
      if (isFolder) {
        const labels = labelPathFor(path.join(source, "x")).slice(0, -"x.txt".length - 1);
        if (labels !== source) labelFolders.add(labels);
      }
      for (const image of images) {
        const label = await findLabel(image);
        const crowd = label ? crowdPathFor(label) : undefined;
        if (label) claimed.add(label);
        else missing.push(image);
        const entry: YoloEntry = { image, name: toPosix(path.relative(base, image)), ...(label ? { label } : {}) };
        if (crowd && (await exists(crowd))) {
          entry.crowd = crowd;
          claimed.add(crowd);
        }
        entries.push(entry);
      }
    }
    if (missing.length > 0) {
      issues.push({
        severity: "warning", file: path.dirname(labelPathFor(missing[0])),
        message: `${missing.length} ${split} image(s) have no label file and count as images without objects: ${some(missing.map((m) => path.basename(m)))}`,
        fix: "add an empty label file for images without objects, or the missing labels (<labels folder>/<image name>.txt)",
      });
    }
    splits[split] = entries;
  }
  const orphans: string[] = [];
  for (const folder of labelFolders) {
    if (!(await exists(folder))) continue;
    for (const file of await walk(folder, (n) => n.endsWith(".txt"))) if (!claimed.has(file)) orphans.push(file);
  }
  if (orphans.length > 0) {
    issues.push({
      severity: "warning", file: path.dirname(orphans[0]),
      message: `${orphans.length} label file(s) have no image: ${some(orphans.map((o) => path.relative(config.root, o)))}`,
      fix: "add the images, or remove the label files (an image named like its label file, with an image extension)",
    });
  }
  return { config, splits, orphans, issues };
}

/**
 * The objects of a label file, or undefined when a line is wrong (each wrong line is an
 * error issue naming file:line). Lines of more than 5 numbers are polygons (Ultralytics'
 * segment labels): their bounding box is the object.
 */
export function parseYoloLabels(text: string, file: string, classCount: number, issues: DataIssue[], crowd = false): DetObject[] | undefined {
  const objects: DetObject[] = [];
  let ok = true;
  const fail = (line: number, message: string, fix: string): void => {
    issues.push({ severity: "error", file: `${file}:${line}`, message, fix });
    ok = false;
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const tokens = raw.trim().split(/\s+/).filter((t) => t !== "");
    if (tokens.length === 0) return;
    const line = i + 1;
    const values = tokens.map(Number);
    const bad = tokens.findIndex((t, j) => !Number.isFinite(values[j]) || t === "");
    if (bad >= 0) return fail(line, `'${tokens[bad]}' is not a number`, "each line is: class cx cy w h (numbers, separated by spaces)");
    if (tokens.length < 5 || (tokens.length > 5 && (tokens.length < 7 || tokens.length % 2 === 0))) {
      return fail(line, `expected 5 numbers (class cx cy w h), found ${tokens.length}`, "write one object per line as: class cx cy w h, normalised to 0..1");
    }
    const cls = values[0];
    if (!Number.isInteger(cls) || cls < 0 || cls >= classCount) {
      return fail(line, `class id ${tokens[0]} is outside 0..${classCount - 1} (nc=${classCount})`, "correct the class id, or add the class to 'names' in data.yaml");
    }
    let box: DetObject["box"];
    if (tokens.length === 5) {
      const [, cx, cy, w, h] = values;
      if (w <= 0 || h <= 0) return fail(line, `width ${tokens[3]} and height ${tokens[4]} must both be > 0`, "correct the box (class cx cy w h), or remove the line");
      box = fromCxCyWh(cx, cy, w, h);
    } else {
      const xs = values.slice(1).filter((_, j) => j % 2 === 0);
      const ys = values.slice(1).filter((_, j) => j % 2 === 1);
      box = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    }
    const obj: DetObject = crowd ? { cls, box, crowd: true } : { cls, box };
    const problem = objectProblem(obj, classCount);
    if (problem) return fail(line, problem.message, problem.fix);
    objects.push(obj);
  });
  return ok ? objects : undefined;
}

async function readLabels(file: string | undefined, classCount: number, issues: DataIssue[], crowd: boolean): Promise<DetObject[] | undefined> {
  if (!file) return [];
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    issues.push({ severity: "error", file, message: `cannot read: ${(err as Error).message}`, fix: "check that the file is readable" });
    return undefined;
  }
  return parseYoloLabels(text, file, classCount, issues, crowd);
}

/** Reads a YOLO dataset from its data.yaml (or a folder holding data.yaml). Images whose labels are wrong are left out, with an issue each. */
export async function readYolo(spec: string): Promise<DetectionDataset> {
  const index = await indexYolo(spec);
  const { names } = index.config;
  const issues = [...index.issues];
  const splits: DetectionDataset["splits"] = {};
  for (const [split, entries] of Object.entries(index.splits) as [SplitName, YoloEntry[]][]) {
    const samples: DetSample[] = [];
    for (const entry of entries) {
      const objects = await readLabels(entry.label, names.length, issues, false);
      const crowd = await readLabels(entry.crowd, names.length, issues, true);
      if (!objects || !crowd) continue;
      samples.push({ source: { kind: "file", path: entry.image }, width: 0, height: 0, objects: [...objects, ...crowd], name: entry.name });
    }
    splits[split] = samples;
  }
  return { name: index.config.yamlPath, format: "yolo", classes: [...names], splits, issues };
}

/** The data.yaml of a spec: the file itself, or data.yaml in a folder. */
export function yoloYamlOf(spec: string): string | undefined {
  if (/\.ya?ml$/i.test(spec)) return spec;
  return ["data.yaml", "data.yml"].map((n) => path.join(spec, n)).find((p) => existsSync(p));
}
