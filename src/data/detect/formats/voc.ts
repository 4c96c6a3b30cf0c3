// Pascal VOC detection data: a folder with Annotations/<id>.xml, JPEGImages/, and
// ImageSets/Main/{train,val,test}.txt when the split is given (trainval.txt counts as train,
// less val.txt). Boxes are 1-based inclusive pixel corners, read as detectron2 reads them:
// [xmin - 1, ymin - 1, xmax, ymax] in continuous pixels, so (1, W) spans the whole width.
// `difficult` becomes crowd. The classes are the lines of classes.txt when there is one,
// else the sorted names found.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { KilnError } from "../../../errors.js";
import { byName, exists, isDirectory, listSorted } from "../../files.js";
import type { DataIssue, SplitName } from "../../types.js";
import { objectProblem } from "../boxes.js";
import { CONCURRENCY, mapLimited } from "../../files.js";
import { imageSize } from "../images.js";
import type { DetectionDataset, DetObject, DetSample } from "../types.js";
import { lineOfElement, readParser, xmlError } from "./xml.js";

export interface VocLayout {
  root: string;
  /** Annotations/*.xml, sorted. */
  xmls: string[];
  /** Ids (file stems) per split when ImageSets/Main gives them. */
  sets?: Partial<Record<SplitName, string[]>>;
  classesFile?: string;
}

export const isVocFolder = (dir: string): Promise<boolean> => isDirectory(path.join(dir, "Annotations"));

async function readIds(file: string): Promise<string[] | undefined> {
  if (!(await exists(file))) return undefined;
  return (await readFile(file, "utf8")).split(/\r?\n/).map((l) => l.trim().split(/\s+/)[0]).filter((id) => id !== "" && id !== undefined);
}

export async function findVocFiles(root: string): Promise<VocLayout> {
  const dir = path.join(root, "Annotations");
  if (!(await isDirectory(dir))) throw new KilnError(`${root}: no Annotations/ folder. Fix: a Pascal VOC dataset has Annotations/*.xml and JPEGImages/.`);
  const xmls = (await listSorted(dir)).filter((e) => !e.isDir && e.name.toLowerCase().endsWith(".xml")).map((e) => path.join(dir, e.name));
  const main = path.join(root, "ImageSets", "Main");
  const [train, val, test, trainval] = await Promise.all(["train", "val", "test", "trainval"].map((s) => readIds(path.join(main, `${s}.txt`))));
  let sets: VocLayout["sets"];
  if (train || val || test || trainval) {
    const valSet = new Set(val ?? []);
    sets = {};
    const trainIds = train ?? trainval?.filter((id) => !valSet.has(id));
    if (trainIds) sets.train = trainIds;
    if (val) sets.val = val;
    if (test) sets.test = test;
  }
  const classesFile = path.join(root, "classes.txt");
  return { root, xmls, ...(sets ? { sets } : {}), ...((await exists(classesFile)) ? { classesFile } : {}) };
}

export interface VocObject { name: string; difficult: boolean; corners: [number, number, number, number]; line: number }
export interface VocAnnotation { file: string; filename?: string; width: number; height: number; objects: VocObject[] }

const text = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);

/** One annotation file; its problems go to `issues` (file:line) and make it undefined. */
export function parseVocXml(xml: string, file: string, issues: DataIssue[]): VocAnnotation | undefined {
  const bad = xmlError(xml);
  if (bad) {
    issues.push({ severity: "error", file: `${file}:${bad.line}`, message: `not valid XML: ${bad.reason}`, fix: "correct or regenerate the annotation file (Pascal VOC XML)" });
    return undefined;
  }
  const root = (readParser.parse(xml) as { annotation?: Record<string, unknown> }).annotation;
  if (!root || typeof root !== "object") {
    issues.push({ severity: "error", file: `${file}:1`, message: "no <annotation> element", fix: "a Pascal VOC file is <annotation> with <filename>, <size> and <object> elements" });
    return undefined;
  }
  const size = (root.size ?? {}) as Record<string, unknown>;
  const dim = (v: unknown): number => { const n = Number(text(v)); return Number.isFinite(n) && n > 0 ? n : 0; };
  const objects: VocObject[] = [];
  let ok = true;
  ((root.object ?? []) as Record<string, unknown>[]).forEach((o, i) => {
    const line = lineOfElement(xml, "object", i);
    const name = text(o.name)?.trim();
    const box = (o.bndbox ?? {}) as Record<string, unknown>;
    const corners = (["xmin", "ymin", "xmax", "ymax"] as const).map((k) => Number(text(box[k]) ?? NaN)) as VocObject["corners"];
    if (!name) {
      issues.push({ severity: "error", file: `${file}:${line}`, message: `object ${i + 1} has no <name>`, fix: "give every <object> a <name>" });
      ok = false;
    } else if (!corners.every(Number.isFinite)) {
      issues.push({ severity: "error", file: `${file}:${line}`, message: `object ${i + 1} ('${name}'): <bndbox> needs numeric xmin, ymin, xmax, ymax`, fix: "correct the box" });
      ok = false;
    } else {
      objects.push({ name, difficult: text(o.difficult)?.trim() === "1", corners, line });
    }
  });
  const filename = text(root.filename)?.trim();
  return ok ? { file, ...(filename ? { filename } : {}), width: dim(size.width), height: dim(size.height), objects } : undefined;
}

/** The image of an annotation: JPEGImages/<filename>, else JPEGImages/<id>.jpg|jpeg|png. */
async function imageFor(root: string, ann: VocAnnotation): Promise<string> {
  const dir = path.join(root, "JPEGImages");
  const id = path.basename(ann.file, path.extname(ann.file));
  const candidates = [...(ann.filename ? [ann.filename] : []), ...[".jpg", ".jpeg", ".png"].map((e) => id + e)];
  for (const c of candidates) if (await exists(path.join(dir, c))) return path.join(dir, c);
  return path.join(dir, candidates[0]);
}

/** The class list: classes.txt, or the sorted names found. */
export async function vocClasses(layout: VocLayout, annotations: VocAnnotation[]): Promise<string[]> {
  if (layout.classesFile) return (await readFile(layout.classesFile, "utf8")).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  return [...new Set(annotations.flatMap((a) => a.objects.map((o) => o.name)))].sort(byName);
}

export async function readVoc(root: string): Promise<DetectionDataset> {
  const layout = await findVocFiles(root);
  const issues: DataIssue[] = [];
  const byId = new Map<string, VocAnnotation>();
  for (const file of layout.xmls) {
    const ann = parseVocXml(await readFile(file, "utf8"), file, issues);
    if (ann) byId.set(path.basename(file, path.extname(file)), ann);
  }
  const classes = await vocClasses(layout, [...byId.values()]);
  const classOf = new Map(classes.map((c, i) => [c, i]));
  const toSample = async (ann: VocAnnotation): Promise<DetSample | undefined> => {
    const image = await imageFor(layout.root, ann);
    let { width, height } = ann;
    if (width === 0 || height === 0) {
      try {
        ({ width, height } = await imageSize({ kind: "file", path: image }));
      } catch (err) {
        issues.push({ severity: "error", file: ann.file, message: `no <size> and the image cannot be read: ${(err as Error).message}`, fix: "add <size><width>/<height>, or fix the image" });
        return undefined;
      }
    }
    const objects: DetObject[] = [];
    for (const o of ann.objects) {
      const cls = classOf.get(o.name);
      const where = `${ann.file}:${o.line}`;
      if (cls === undefined) {
        issues.push({ severity: "error", file: where, message: `class '${o.name}' is not in ${layout.classesFile ?? "the class list"}`, fix: "correct the name, or add the class to classes.txt" });
        return undefined;
      }
      const [xmin, ymin, xmax, ymax] = o.corners;
      const obj: DetObject = { cls, box: [(xmin - 1) / width, (ymin - 1) / height, xmax / width, ymax / height] };
      if (o.difficult) obj.crowd = true;
      const problem = objectProblem(obj, classes.length);
      if (problem) {
        issues.push({ severity: "error", file: where, message: `'${o.name}': ${problem.message} (image ${width}×${height})`, fix: problem.fix });
        return undefined;
      }
      objects.push(obj);
    }
    return { source: { kind: "file", path: image }, width, height, objects, name: path.relative(path.join(layout.root, "JPEGImages"), image).split(path.sep).join("/") };
  };
  const splitIds: Partial<Record<SplitName, string[]>> = layout.sets ?? { train: [...byId.keys()] };
  const splits: DetectionDataset["splits"] = {};
  const stems = new Set(layout.xmls.map((x) => path.basename(x, path.extname(x))));
  for (const [split, ids] of Object.entries(splitIds) as [SplitName, string[]][]) {
    const missing = ids.filter((id) => !stems.has(id));
    if (missing.length > 0) {
      issues.push({ severity: "error", file: path.join(layout.root, "ImageSets", "Main", `${split}.txt`), message: `${missing.length} id(s) have no annotation file: ${missing.slice(0, 3).map((id) => `Annotations/${id}.xml`).join(", ")}${missing.length > 3 ? ", …" : ""}`, fix: "add the annotation files, or remove the ids from the list" });
    }
    const anns = ids.map((id) => byId.get(id)).filter((a): a is VocAnnotation => a !== undefined);
    splits[split] = (await mapLimited(anns, CONCURRENCY, toSample)).filter((s): s is DetSample => s !== undefined);
  }
  return { name: root, format: "voc", classes, splits, issues };
}
