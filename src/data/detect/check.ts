// checkDetectionDataset: `kiln data check` for detection data, and what training runs first.
// Every image is read and decoded in full (a truncated file fails only when its pixels are
// read), its size compared with the one the annotations assume, every box checked, and
// instances and images counted per class. The report has the classification check's shape,
// so formatDataReport prints it: per split a column of instances ("train") and one of
// images containing the class ("train images"). Nothing is written.
import { imbalanceIssue, inspectImage, plural, sourceName, type CheckOptions, type DataReport } from "../check.js";
import { SPLIT_NAMES, type DataIssue } from "../types.js";
import { duplicateObjects, objectProblem } from "./boxes.js";
import { CONCURRENCY, mapLimited } from "../files.js";
import type { DetectionDataset, DetSample } from "./types.js";

/** Problems of one sample's annotations: sizes, boxes, class ids, duplicate boxes. */
function annotationIssues(s: DetSample, name: string, size: { width: number; height: number }, classes: string[]): DataIssue[] {
  const issues: DataIssue[] = [];
  if (s.width > 0 && s.height > 0 && (s.width !== size.width || s.height !== size.height)) {
    issues.push({
      severity: "error", file: name, message: `the annotations give the size ${s.width}×${s.height} but the image is ${size.width}×${size.height}`,
      fix: "correct the width and height in the annotation file (boxes are measured against them)",
    });
  }
  s.objects.forEach((o, k) => {
    const problem = objectProblem(o, classes.length);
    if (problem) issues.push({ severity: "error", file: name, message: `object ${k + 1}: ${problem.message}`, ...(problem.fix ? { fix: problem.fix } : {}) });
  });
  const groups = duplicateObjects(s.objects.filter((o) => objectProblem(o, classes.length) === undefined));
  if (groups.length > 0) {
    const extra = groups.reduce((n, g) => n + g.length - 1, 0);
    issues.push({
      severity: "warning", file: name, message: `${plural(extra, "duplicate box", "duplicate boxes")} (same class, IoU > 0.99): ${groups.map((g) => `'${classes[s.objects[g[0]].cls]}' ×${g.length}`).join(", ")}`,
      fix: "remove the repeated labels; duplicates count as extra objects in training and evaluation",
    });
  }
  return issues;
}

function balanceIssues(split: string, instances: Record<string, number>, ratio: number): DataIssue[] {
  const entries = Object.entries(instances);
  if (entries.length === 0) return [];
  const empty = entries.filter(([, n]) => n === 0).map(([name]) => `'${name}'`);
  if (empty.length > 0) {
    return [{ severity: "warning", message: `${split} has no objects of ${empty.join(", ")}`, fix: split === "train" ? "label some training objects of every class, or remove the class (kiln data classes filter)" : `add ${split} objects of those classes` }];
  }
  return imbalanceIssue(split, entries, ratio, "objects", "label more of the small classes, or merge or filter classes (kiln data classes)");
}

export async function checkDetectionDataset(ds: DetectionDataset, opts: CheckOptions = {}): Promise<DataReport> {
  const ratio = opts.imbalanceRatio ?? 10;
  const issues: DataIssue[] = [...(ds.issues ?? [])];
  const counts: DataReport["counts"] = {};
  const byHash = new Map<string, string[]>();
  for (const split of SPLIT_NAMES) {
    const samples = ds.splits[split];
    if (!samples) continue;
    if (split === "train" && samples.length === 0) issues.push({ severity: "error", message: "the train split has no images", fix: "add images, or check the data path" });
    const instances: Record<string, number> = Object.fromEntries(ds.classes.map((c) => [c, 0]));
    const images: Record<string, number> = Object.fromEntries(ds.classes.map((c) => [c, 0]));
    const results = await mapLimited(samples, CONCURRENCY, async (s, i) => {
      const name = sourceName(s.source, split, i);
      const found = await inspectImage(s.source, name);
      return { s, name, found };
    });
    for (const { s, name, found } of results) {
      if ("issue" in found) { issues.push(found.issue); continue; }
      issues.push(...annotationIssues(s, name, found, ds.classes));
      byHash.set(found.hash, [...(byHash.get(found.hash) ?? []), name]);
      const present = new Set<number>();
      for (const o of s.objects) {
        const c = ds.classes[o.cls];
        if (c === undefined) continue;
        instances[c]++;
        present.add(o.cls);
      }
      for (const k of present) images[ds.classes[k]]++;
    }
    counts[split] = instances;
    counts[`${split} images`] = images;
    issues.push(...balanceIssues(split, instances, ratio));
  }
  const duplicates = [...byHash.values()].filter((names) => names.length > 1);
  if (duplicates.length > 0) {
    const extra = duplicates.reduce((n, g) => n + g.length - 1, 0);
    issues.push({
      severity: "warning", message: `${plural(duplicates.length, "group")} of identical images (${plural(extra, "extra copy", "extra copies")})`,
      fix: "remove the copies; a copy across train and val inflates validation scores",
    });
  }
  return { dataset: ds.name, format: ds.format, classes: ds.classes, counts, duplicates, issues, ok: !issues.some((i) => i.severity === "error") };
}
