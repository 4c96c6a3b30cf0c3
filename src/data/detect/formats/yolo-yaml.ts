// Ultralytics' data.yaml: `path` (the root; relative to the YAML's folder, or that folder when
// absent), `train`, `val`, optional `test` (a folder of images, a .txt list of images, or a list
// of those), `names` (a list, or an {id: name} map) and optional `nc`. Every mistake is a
// KilnError naming the file and line, since nothing can be read without this file.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import { KilnError } from "../../../errors.js";
import type { SplitName } from "../../types.js";

export interface YoloConfig {
  yamlPath: string;
  /** The dataset root, absolute. */
  root: string;
  /** Per split, absolute paths of folders or .txt lists. */
  splits: Partial<Record<SplitName, string[]>>;
  names: string[];
  /** Whether the file wrote names as an {id: name} map (class edits keep the style). */
  namesAsMap: boolean;
}

/** The 1-based line of a top-level key, or of the document's start. */
function lineOfKey(doc: Document, lines: LineCounter, key: string): number {
  if (isMap(doc.contents)) {
    const pair = doc.contents.items.find((p) => isScalar(p.key) && p.key.value === key);
    const start = isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
    if (start !== undefined) return lines.linePos(start).line;
  }
  return 1;
}

function parseNames(value: unknown, where: string): { names: string[]; asMap: boolean } {
  const fix = "Fix: write names as a list (names: [cat, dog]) or a map of ids from 0 (names: {0: cat, 1: dog}).";
  if (Array.isArray(value)) {
    if (value.length === 0) throw new KilnError(`${where}: 'names' is empty. ${fix}`);
    return { names: value.map((n) => String(n)), asMap: false };
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    const names: string[] = [];
    for (const [key, name] of entries) {
      const id = Number(key);
      if (!Number.isInteger(id) || id < 0 || id >= entries.length) throw new KilnError(`${where}: class id '${key}' in 'names' is not one of 0..${entries.length - 1}. ${fix}`);
      names[id] = String(name);
    }
    if (names.length === 0) throw new KilnError(`${where}: 'names' is empty. ${fix}`);
    return { names, asMap: true };
  }
  throw new KilnError(`${where}: 'names' must be a list or a map, found ${JSON.stringify(value)}. ${fix}`);
}

function splitPaths(value: unknown, root: string, where: string, key: string): string[] | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const items = Array.isArray(value) ? value : [value];
  if (items.some((v) => typeof v !== "string" || v === "")) {
    throw new KilnError(`${where}: '${key}' must be a folder of images, a .txt list of images, or a list of those. Fix: e.g. ${key}: images/${key}.`);
  }
  return (items as string[]).map((p) => path.resolve(root, p));
}

/** Reads and validates a data.yaml. */
export async function readYoloConfig(yamlPath: string): Promise<YoloConfig> {
  let text: string;
  try {
    text = await readFile(yamlPath, "utf8");
  } catch (err) {
    throw new KilnError(`cannot read ${yamlPath}: ${(err as Error).message}. Fix: check the path to the data.yaml.`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const bad = doc.errors[0];
  if (bad) {
    const line = bad.linePos?.[0].line ?? 1;
    const reason = bad.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new KilnError(`${yamlPath}:${line}: not valid YAML: ${reason}. Fix: correct the YAML syntax on that line (indentation, brackets, quotes).`);
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new KilnError(`${yamlPath}:1: expected a map of keys (path, train, val, names), found ${Array.isArray(data) ? "a list" : JSON.stringify(data)}. Fix: see https://docs.ultralytics.com/datasets/detect/ for the layout.`);
  }
  const d = data as Record<string, unknown>;
  const at = (key: string): string => `${yamlPath}:${lineOfKey(doc, lines, key)}`;
  if (d.names === undefined) {
    const hint = d.nc !== undefined ? ` (it gives nc: ${String(d.nc)} but kiln needs the names to report and convert)` : "";
    throw new KilnError(`${yamlPath}: missing 'names'${hint}. Fix: add the class names in class-id order, e.g. names: [cat, dog].`);
  }
  const { names, asMap } = parseNames(d.names, at("names"));
  if (d.nc !== undefined && d.nc !== names.length) {
    throw new KilnError(`${at("nc")}: nc is ${JSON.stringify(d.nc)} but 'names' has ${names.length} classes. Fix: set nc: ${names.length}, or give one name per class.`);
  }
  const base = path.dirname(path.resolve(yamlPath));
  if (d.path !== undefined && d.path !== null && typeof d.path !== "string") throw new KilnError(`${at("path")}: 'path' must be a folder. Fix: e.g. path: . (the YAML's folder).`);
  const root = path.resolve(base, typeof d.path === "string" && d.path !== "" ? d.path : ".");
  const splits: YoloConfig["splits"] = {};
  for (const split of ["train", "val", "test"] as const) {
    const paths = splitPaths(d[split], root, at(split), split);
    if (paths) splits[split] = paths;
  }
  if (!splits.train) throw new KilnError(`${yamlPath}: missing 'train'. Fix: add train: images/train (a folder of images, or a .txt list), relative to 'path'.`);
  return { yamlPath, root, splits, names, namesAsMap: asMap };
}
