// Class tools for detection datasets: counts per class, and the edits `kiln data classes`
// makes (merge, rename, filter). An edit is planned on the class list alone (pure), then
// each format turns the plan into new file contents, and only then is anything written:
// after a backup of every file that changes, each file atomically. Images are never touched.
import path from "node:path";
import { KilnError } from "../../errors.js";
import { refuseErrors } from "./convert.js";
import { applyChanges, type FileChange } from "./edit/apply.js";
import { cocoChanges } from "./edit/coco.js";
import { vocChanges } from "./edit/voc.js";
import { yoloChanges } from "./edit/yolo.js";
import { yoloYamlOf } from "./formats/yolo.js";
import { detectionFormatOf, readDetectionDataset } from "./load.js";
import type { DetectionDataset } from "./types.js";

export interface ClassCount {
  id: number;
  name: string;
  instances: number;
  images: number;
}

/** Instances and images (containing the class) per class, over every split. */
export function classCounts(ds: DetectionDataset): ClassCount[] {
  const counts = ds.classes.map((name, id) => ({ id, name, instances: 0, images: 0 }));
  for (const samples of Object.values(ds.splits)) {
    for (const s of samples ?? []) {
      const present = new Set<number>();
      for (const o of s.objects) {
        if (!counts[o.cls]) continue;
        counts[o.cls].instances++;
        present.add(o.cls);
      }
      for (const c of present) counts[c].images++;
    }
  }
  return counts;
}

export type ClassEdit =
  | { kind: "merge"; into: string; sources: string[] }
  | { kind: "rename"; from: string; to: string }
  | { kind: "filter"; keep: string[] };

/** The new class list, and for each old class id its new id (-1: its objects are removed). */
export interface ClassPlan {
  classes: string[];
  map: number[];
}

function requireKnown(classes: string[], names: string[]): void {
  const unknown = names.filter((n) => !classes.includes(n));
  if (unknown.length > 0) {
    throw new KilnError(`unknown class${unknown.length > 1 ? "es" : ""} ${unknown.map((n) => `'${n}'`).join(", ")}. Fix: use the names kiln data classes list prints: ${classes.join(", ")}.`);
  }
}

/** Keeps the old class at `old` as a new class (by name), renumbering contiguously in the old order. */
function planFrom(classes: string[], nameOf: (old: number) => string | null): ClassPlan {
  const out: string[] = [];
  const map = classes.map((_, old) => {
    const name = nameOf(old);
    if (name === null) return -1;
    const at = out.indexOf(name);
    if (at >= 0) return at;
    out.push(name);
    return out.length - 1;
  });
  return { classes: out, map };
}

export function planClassEdit(classes: string[], edit: ClassEdit): ClassPlan {
  if (edit.kind === "rename") {
    requireKnown(classes, [edit.from]);
    if (edit.to.trim() === "") throw new KilnError("the new class name is empty. Fix: give a name.");
    if (edit.to !== edit.from && classes.includes(edit.to)) throw new KilnError(`class '${edit.to}' already exists. Fix: to combine the two, use kiln data classes merge DATA --into ${edit.to} ${edit.from}.`);
    return planFrom(classes, (i) => (classes[i] === edit.from ? edit.to : classes[i]));
  }
  if (edit.kind === "merge") {
    if (edit.sources.length === 0) throw new KilnError("merge needs the classes to merge. Fix: kiln data classes merge DATA --into NAME CLASS1 CLASS2 ….");
    if (edit.into.trim() === "") throw new KilnError("the merged class name is empty. Fix: --into NAME.");
    requireKnown(classes, edit.sources);
    const group = new Set([...edit.sources, ...(classes.includes(edit.into) ? [edit.into] : [])]);
    if (group.size < 2 && classes.includes(edit.into)) throw new KilnError(`nothing to merge: only '${edit.into}'. Fix: name at least two classes, or one into a new name.`);
    return planFrom(classes, (i) => (group.has(classes[i]) ? edit.into : classes[i]));
  }
  if (edit.keep.length === 0) throw new KilnError("filter needs the classes to keep. Fix: --keep A,B.");
  requireKnown(classes, edit.keep);
  return planFrom(classes, (i) => (edit.keep.includes(classes[i]) ? classes[i] : null));
}

export interface ClassEditResult {
  before: string[];
  after: string[];
  /** The files rewritten (none when the edit changes nothing). */
  changed: string[];
  /** The backup folder, when files were rewritten. */
  backup?: string;
}

/** Applies a class edit to the dataset at `spec` (YOLO, COCO or VOC), refusing datasets with errors. */
export async function editClasses(spec: string, edit: ClassEdit, now = new Date()): Promise<ClassEditResult> {
  const format = detectionFormatOf(spec);
  if (!format) throw new KilnError(`${spec} is not a detection dataset (data.yaml, COCO, VOC). Fix: pass the data.yaml, the COCO JSON or folder, or the VOC folder.`);
  const ds = await readDetectionDataset(spec);
  refuseErrors(ds, "class edits refuse it");
  const plan = planClassEdit(ds.classes, edit);
  let root: string;
  let changes: FileChange[];
  if (format === "yolo") {
    root = path.dirname(path.resolve(yoloYamlOf(spec) ?? spec));
    changes = await yoloChanges(spec, plan);
  } else if (format === "coco") {
    ({ root, changes } = await cocoChanges(spec, plan));
  } else {
    root = spec;
    changes = await vocChanges(spec, ds.classes, plan);
  }
  if (changes.length === 0) return { before: ds.classes, after: plan.classes, changed: [] };
  const backup = await applyChanges(root, changes, now);
  return { before: ds.classes, after: plan.classes, changed: changes.map((c) => c.path), backup };
}
