// COCO detection data: one instances JSON per split. Either a folder with
// annotations/instances_{train,val,test}[YEAR].json and the images in images/<split>[YEAR]/ or
// <split>[YEAR]/, or one JSON file given directly: all of it is the train split, its images
// beside it, in images/, or where its name points (annotations/instances_val.json → images/val/).
// Category ids become contiguous class indices in sorted-id order; iscrowd becomes crowd;
// bbox is pixel [x, y, w, h].
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { KilnError } from "../../../errors.js";
import { byName, exists, isDirectory } from "../../files.js";
import type { DataIssue, SplitName } from "../../types.js";
import { objectProblem } from "../boxes.js";
import { CONCURRENCY, mapLimited } from "../../files.js";
import { imageSize } from "../images.js";
import type { DetectionDataset, DetObject, DetSample } from "../types.js";
import { arrayElementLines, parseJsonWithLine } from "./json-lines.js";

export interface CocoFile {
  split: SplitName;
  json: string;
  /** Folders where the images may be, most likely first. */
  imageDirs: string[];
}

const INSTANCES = /^instances_(train|val|test)(\d{4})?\.json$/;

/** The instances files of a COCO dataset (a folder or one JSON file) and where their images may be. */
export async function findCocoFiles(spec: string): Promise<{ root: string; files: CocoFile[] }> {
  if (!(await isDirectory(spec))) {
    const dir = path.dirname(spec);
    // instances_val2017.json hints at images/val2017/ beside its annotations/ folder.
    const m = INSTANCES.exec(path.basename(spec));
    const hinted = m ? [`${m[1]}${m[2] ?? ""}`, m[1]].flatMap((f) => [path.join(dir, "..", "images", f), path.join(dir, "..", f), path.join(dir, "images", f)]) : [];
    return { root: dir, files: [{ split: "train", json: spec, imageDirs: [dir, path.join(dir, "images"), ...hinted, path.join(dir, "..", "images"), path.join(dir, "..")] }] };
  }
  const annotations = path.join(spec, "annotations");
  const files: CocoFile[] = [];
  for (const dir of [annotations, spec]) {
    if (!(await isDirectory(dir))) continue;
    for (const name of (await readdir(dir)).sort(byName)) {
      const m = INSTANCES.exec(name);
      if (!m || files.some((f) => f.split === m[1])) continue;
      const split = m[1] as SplitName;
      const folders = [`${split}${m[2] ?? ""}`, split];
      files.push({ split, json: path.join(dir, name), imageDirs: [...folders.flatMap((f) => [path.join(spec, "images", f), path.join(spec, f)]), path.join(spec, "images"), spec] });
    }
    if (files.length > 0) break;
  }
  if (files.length === 0) {
    throw new KilnError(`${spec}: no COCO annotation files (annotations/instances_train.json, instances_val.json). Fix: put the instances JSON files in ${annotations}, or pass one JSON file.`);
  }
  return { root: spec, files };
}

interface CocoJson { images: unknown[]; annotations: unknown[]; categories: unknown[] }

/** Parses one instances file; structural mistakes (not JSON, a missing key) are KilnErrors. */
export async function parseCocoFile(file: string): Promise<{ text: string; data: CocoJson }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new KilnError(`cannot read ${file}: ${(err as Error).message}. Fix: check the path.`);
  }
  const parsed = parseJsonWithLine(text);
  if ("line" in parsed) throw new KilnError(`${file}:${parsed.line}: not valid JSON: ${parsed.reason}. Fix: correct the JSON on that line.`);
  const d = parsed.value as Partial<Record<keyof CocoJson, unknown>> | null;
  if (d === null || typeof d !== "object" || Array.isArray(d)) throw new KilnError(`${file}:1: expected a COCO object with images, annotations and categories. Fix: pass a COCO instances file.`);
  for (const key of ["images", "categories"] as const) {
    if (!Array.isArray(d[key])) throw new KilnError(`${file}: '${key}' is missing or not a list. Fix: a COCO instances file has lists 'images', 'annotations' and 'categories'.`);
  }
  if (d.annotations !== undefined && !Array.isArray(d.annotations)) throw new KilnError(`${file}: 'annotations' is not a list. Fix: make it a list of annotation objects.`);
  return { text, data: { images: d.images as unknown[], annotations: (d.annotations ?? []) as unknown[], categories: d.categories as unknown[] } };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const isId = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/** Category id -> name over all files; the same id must have the same name everywhere. */
export function readCategories(files: { file: string; text: string; data: CocoJson }[]): Map<number, string> {
  const names = new Map<number, string>();
  for (const { file, text, data } of files) {
    const lines = arrayElementLines(text, "categories");
    data.categories.forEach((c, i) => {
      const where = `${file}:${lines[i] ?? 1}`;
      if (!isObj(c) || !isId(c.id) || typeof c.name !== "string") throw new KilnError(`${where}: categories[${i}] needs an integer 'id' and a string 'name'. Fix: correct the category.`);
      const known = names.get(c.id);
      if (known !== undefined && known !== c.name) throw new KilnError(`${where}: category id ${c.id} is '${c.name}' here but '${known}' elsewhere. Fix: give each category id one name in every file.`);
      names.set(c.id, c.name);
    });
  }
  if (names.size === 0) throw new KilnError(`${files[0]?.file ?? "COCO"}: no categories. Fix: list the classes in 'categories' ({"id": 1, "name": "cat"}).`);
  return names;
}

/** The first folder holding the first image, else the first that exists. */
async function imageDirFor(candidates: string[], firstName: string | undefined): Promise<string> {
  if (firstName !== undefined) for (const dir of candidates) if (await exists(path.join(dir, firstName))) return dir;
  for (const dir of candidates) if (await isDirectory(dir)) return dir;
  return candidates[0];
}

interface ImageEntry { sample: DetSample; bad: boolean }

async function readSplit(cf: CocoFile, text: string, data: CocoJson, classOf: Map<number, number>, issues: DataIssue[]): Promise<DetSample[]> {
  const lineOf = (key: string): ((i: number) => string) => {
    let lines: number[] | undefined;
    return (i) => `${cf.json}:${(lines ??= arrayElementLines(text, key))[i] ?? 1}`;
  };
  const imageAt = lineOf("images");
  const annAt = lineOf("annotations");
  const first = data.images.find(isObj)?.file_name;
  const dir = await imageDirFor(cf.imageDirs, typeof first === "string" ? first : undefined);
  const byId = new Map<number, ImageEntry>();
  data.images.forEach((im, i) => {
    if (!isObj(im) || !isId(im.id) || typeof im.file_name !== "string" || im.file_name === "") {
      issues.push({ severity: "error", file: imageAt(i), message: `images[${i}] needs an integer 'id' and a 'file_name'`, fix: "correct the image entry" });
    } else if (byId.has(im.id)) {
      issues.push({ severity: "error", file: imageAt(i), message: `image id ${im.id} is used twice`, fix: "give each image a unique id" });
    } else {
      const size = (v: unknown): number => (typeof v === "number" && v > 0 ? v : 0);
      const name = im.file_name.replace(/\\/g, "/");
      byId.set(im.id, { bad: false, sample: { source: { kind: "file", path: path.join(dir, name) }, width: size(im.width), height: size(im.height), objects: [], name } });
    }
  });
  // Sizes the file leaves out come from the image headers: boxes are normalised by them.
  await mapLimited([...byId.values()].filter((e) => e.sample.width === 0 || e.sample.height === 0), CONCURRENCY, async (e) => {
    try {
      Object.assign(e.sample, await imageSize(e.sample.source));
    } catch (err) {
      issues.push({ severity: "error", file: e.sample.source.kind === "file" ? e.sample.source.path : e.sample.name, message: `no width/height in ${cf.json} and the image cannot be read: ${(err as Error).message}`, fix: "add width and height to the image entry, or fix the image" });
      e.bad = true;
    }
  });
  data.annotations.forEach((a, i) => {
    const fail = (message: string, fix: string, entry?: ImageEntry): void => {
      issues.push({ severity: "error", file: annAt(i), message, fix });
      if (entry) entry.bad = true;
    };
    const label = isObj(a) && a.id !== undefined ? `annotation id ${String(a.id)}` : `annotations[${i}]`;
    if (!isObj(a)) return fail(`${label} is not an object`, "correct the annotation");
    const entry = isId(a.image_id) ? byId.get(a.image_id) : undefined;
    if (!entry) return fail(`${label}: image_id ${JSON.stringify(a.image_id)} is not an image in 'images'`, "correct the image_id, or add the image to 'images'");
    if (entry.bad) return;
    const cls = isId(a.category_id) ? classOf.get(a.category_id) : undefined;
    if (cls === undefined) return fail(`${label}: category_id ${JSON.stringify(a.category_id)} is not in 'categories'`, "correct the category_id, or add the category", entry);
    const b = a.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === "number" && Number.isFinite(v))) {
      return fail(`${label}: bbox must be 4 numbers [x, y, width, height] in pixels, found ${JSON.stringify(b)}`, "correct the bbox", entry);
    }
    const [x, y, w, h] = b as number[];
    const { width: W, height: H } = entry.sample;
    const obj: DetObject = { cls, box: [x / W, y / H, (x + w) / W, (y + h) / H] };
    if (a.iscrowd === 1 || a.iscrowd === true) obj.crowd = true;
    const problem = objectProblem(obj, classOf.size);
    if (problem) return fail(`${label}: ${problem.message} (image ${W}×${H})`, problem.fix, entry);
    entry.sample.objects.push(obj);
  });
  return [...byId.values()].filter((e) => !e.bad).map((e) => e.sample);
}

/** Reads a COCO dataset: a folder of instances files, or one instances file. */
export async function readCoco(spec: string): Promise<DetectionDataset> {
  const { files } = await findCocoFiles(spec);
  const parsed = await Promise.all(files.map(async (cf) => ({ cf, file: cf.json, ...(await parseCocoFile(cf.json)) })));
  const categories = readCategories(parsed);
  const ids = [...categories.keys()].sort((a, b) => a - b);
  const classOf = new Map(ids.map((id, i) => [id, i]));
  const issues: DataIssue[] = [];
  const splits: DetectionDataset["splits"] = {};
  for (const { cf, text, data } of parsed) splits[cf.split] = await readSplit(cf, text, data, classOf, issues);
  return { name: spec, format: "coco", classes: ids.map((id) => categories.get(id) ?? String(id)), splits, issues };
}
