// checkClassificationDataset: what training runs first and `kiln data check` prints. Every
// image is read and decoded in full (a truncated file fails only when its pixels are
// read), hashed for duplicates, and counted per split and class. Nothing is written.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { decodeError } from "./decode.js";
import { CONCURRENCY, mapLimited } from "./files.js";
import { SPLIT_NAMES, type ClassificationDataset, type DataIssue, type ImageSource, type SplitName } from "./types.js";

export type { DataIssue } from "./types.js";

export interface DataReport {
  dataset: string;
  format: string;
  classes: string[];
  counts: Record<string, Record<string, number>>; // split -> class -> count
  duplicates: string[][]; // groups of files with identical content
  issues: DataIssue[];
  ok: boolean; // no error-severity issue
}

export interface CheckOptions {
  /** Warn when a split's largest class has more than this many times its smallest's images (default 10). */
  imbalanceRatio?: number;
}

/** Files decoded at once: enough to keep libuv's pool busy, few enough to bound memory. */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** A name for an image in messages: its path, or split[index] for pixels made in memory. */
export const sourceName = (source: ImageSource, split: SplitName, index: number): string => (source.kind === "file" ? source.path : `${split}[${index}]`);

/** Content hash (SHA-1) and shown size (EXIF rotation applied), or the issue that stops the image from being used. */
export async function inspectImage(source: ImageSource, name: string): Promise<{ hash: string; width: number; height: number } | { issue: DataIssue }> {
  if (source.kind === "pixels") {
    if (source.data.length !== source.width * source.height * source.channels) {
      return { issue: { severity: "error", file: name, message: `holds ${source.data.length} bytes for ${source.width}×${source.height}×${source.channels}` } };
    }
    return { hash: createHash("sha1").update(source.data).digest("hex"), width: source.width, height: source.height };
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(source.path);
  } catch (err) {
    return { issue: { severity: "error", file: name, message: `cannot read: ${(err as Error).message}`, fix: "check that the file exists and is readable" } };
  }
  try {
    const meta = await sharp(bytes).metadata();
    await sharp(bytes).raw().toBuffer();
    const { width, height } = meta.autoOrient ?? meta;
    return { hash: createHash("sha1").update(bytes).digest("hex"), width: width ?? 0, height: height ?? 0 };
  } catch (err) {
    const message = decodeError(source.path, err).message.replace(/^cannot decode image .*?: /, "cannot decode: ").replace(/\. Fix: .*$/, "");
    return { issue: { severity: "error", file: name, message, fix: "replace or remove the file" } };
  }
}

type Outcome = { name: string; label: number; hash: string } | { issue: DataIssue };


function balanceIssues(split: string, counts: Record<string, number>, ratio: number): DataIssue[] {
  const entries = Object.entries(counts);
  const empty = entries.filter(([, n]) => n === 0).map(([name]) => name);
  if (empty.length > 0) {
    return [{
      severity: split === "train" ? "error" : "warning",
      message: `${split} has no images of ${empty.map((c) => `'${c}'`).join(", ")}`,
      fix: split === "train" ? "add training images for every class, or remove the class" : `add ${split} images of those classes`,
    }];
  }
  return imbalanceIssue(split, entries, ratio, "images", "collect more of the small classes, or cap the large ones with max_per_class");
}

/** A warning when the largest class has more than `ratio` times the smallest's `noun` (classification and detection checks). */
export function imbalanceIssue(split: string, entries: [string, number][], ratio: number, noun: string, fix: string): DataIssue[] {
  const max = entries.reduce((best, e) => (e[1] > best[1] ? e : best));
  const min = entries.reduce((best, e) => (e[1] < best[1] ? e : best));
  if (max[1] / min[1] <= ratio) return [];
  return [{
    severity: "warning",
    message: `${split} is imbalanced: '${max[0]}' has ${max[1]} ${noun}, '${min[0]}' ${min[1]} (${(max[1] / min[1]).toFixed(1)}× > ${ratio}×)`,
    fix,
  }];
}

export async function checkClassificationDataset(ds: ClassificationDataset, opts: CheckOptions = {}): Promise<DataReport> {
  const ratio = opts.imbalanceRatio ?? 10;
  const issues: DataIssue[] = [...(ds.issues ?? [])];
  const counts: Record<string, Record<string, number>> = {};
  const byHash = new Map<string, { names: string[]; labels: Set<number> }>();
  for (const split of SPLIT_NAMES) {
    const samples = ds.splits[split];
    if (!samples) continue;
    if (split === "train" && samples.length === 0) issues.push({ severity: "error", message: "the train split has no images", fix: "add images, or check the data path" });
    const perClass: Record<string, number> = Object.fromEntries(ds.classes.map((c) => [c, 0]));
    const results = await mapLimited(samples.map((s, i) => ({ s, i })), CONCURRENCY, async ({ s, i }): Promise<Outcome> => {
      const name = sourceName(s.source, split, i);
      if (!(Number.isInteger(s.label) && s.label >= 0 && s.label < ds.classes.length)) {
        return { issue: { severity: "error", file: name, message: `label ${s.label} is outside 0..${ds.classes.length - 1}`, fix: "correct the label or the class list" } };
      }
      const found = await inspectImage(s.source, name);
      return "issue" in found ? found : { name, label: s.label, hash: found.hash };
    });
    for (const r of results) {
      if ("issue" in r) { issues.push(r.issue); continue; }
      perClass[ds.classes[r.label]]++;
      const group = byHash.get(r.hash) ?? { names: [], labels: new Set<number>() };
      group.names.push(r.name);
      group.labels.add(r.label);
      byHash.set(r.hash, group);
    }
    counts[split] = perClass;
    issues.push(...balanceIssues(split, perClass, ratio));
  }
  const groups = [...byHash.values()].filter((group) => group.names.length > 1);
  const duplicates = groups.map((g) => g.names);
  if (groups.length > 0) {
    const extra = duplicates.reduce((n, g) => n + g.length - 1, 0);
    issues.push({
      severity: "warning", message: `${plural(groups.length, "group")} of identical images (${plural(extra, "extra copy", "extra copies")})`,
      fix: "remove the copies; a copy across train and val inflates validation scores",
    });
  }
  const conflicting = groups.filter((g) => g.labels.size > 1);
  if (conflicting.length > 0) {
    issues.push({
      severity: "warning", message: `${plural(conflicting.length, "group")} of identical images under different classes: ${conflicting[0].names.join(", ")}${conflicting.length > 1 ? ", …" : ""}`,
      fix: "keep each image in one class",
    });
  }
  return { dataset: ds.name, format: ds.format, classes: ds.classes, counts, duplicates, issues, ok: !issues.some((i) => i.severity === "error") };
}

const pad = (text: string, width: number, right = false): string => (right ? text.padStart(width) : text.padEnd(width));

/** The readable report `kiln data check` prints: a class balance table, duplicates, then issues. */
export function formatDataReport(r: DataReport): string {
  const splits = Object.keys(r.counts);
  const lines = [`Dataset: ${r.dataset} (${r.format}), ${r.classes.length} classes`, ""];
  if (splits.length > 0) {
    const nameWidth = Math.max(5, ...r.classes.map((c) => c.length));
    const widths = splits.map((s) => Math.max(s.length, ...Object.values(r.counts[s]).map((n) => String(n).length), 5));
    lines.push([pad("class", nameWidth), ...splits.map((s, i) => pad(s, widths[i], true))].join("  "));
    for (const c of r.classes) lines.push([pad(c, nameWidth), ...splits.map((s, i) => pad(String(r.counts[s][c] ?? 0), widths[i], true))].join("  "));
    const totals = splits.map((s) => Object.values(r.counts[s]).reduce((a, b) => a + b, 0));
    lines.push([pad("total", nameWidth), ...totals.map((t, i) => pad(String(t), widths[i], true))].join("  "), "");
  }
  if (r.duplicates.length > 0) {
    lines.push(`Duplicates (${plural(r.duplicates.length, "group")}):`);
    for (const group of r.duplicates) lines.push(`  ${group.join("  =  ")}`);
    lines.push("");
  }
  for (const severity of ["error", "warning"] as const) {
    const found = r.issues.filter((i) => i.severity === severity);
    if (found.length === 0) continue;
    lines.push(`${severity === "error" ? "Errors" : "Warnings"} (${found.length}):`);
    for (const i of found) {
      lines.push(`  ${severity === "error" ? "error" : "warning"}: ${i.file ? `${i.file}: ` : ""}${i.message}`);
      if (i.fix) lines.push(`    fix: ${i.fix}`);
    }
    lines.push("");
  }
  const errors = r.issues.filter((i) => i.severity === "error").length;
  lines.push(r.ok ? "OK: no errors found." : `Found ${errors} error(s): fix them before training.`);
  return lines.join("\n");
}
