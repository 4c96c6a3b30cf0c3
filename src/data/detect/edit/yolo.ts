// Class edits on YOLO data: data.yaml's names (and nc when present; comments and other
// keys kept) and every label file, each line's class id renumbered or the line dropped.
// The other numbers keep their exact text.
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { indexYolo } from "../formats/yolo.js";
import type { ClassPlan } from "../classes.js";
import type { FileChange } from "./apply.js";

/** A label file's text with class ids renumbered, or undefined when a line is not a label line. */
export function relabelYolo(text: string, map: number[]): string | undefined {
  const out: string[] = [];
  let changed = false;
  for (const line of text.split(/\r?\n/)) {
    const tokens = line.trim().split(/\s+/).filter((t) => t !== "");
    if (tokens.length === 0) continue;
    const cls = Number(tokens[0]);
    if (!Number.isInteger(cls) || map[cls] === undefined) return undefined;
    if (map[cls] !== cls) changed = true;
    if (map[cls] >= 0) out.push([String(map[cls]), ...tokens.slice(1)].join(" "));
  }
  return changed ? out.map((l) => `${l}\n`).join("") : text;
}

export async function yoloChanges(spec: string, plan: ClassPlan): Promise<FileChange[]> {
  const index = await indexYolo(spec);
  const changes: FileChange[] = [];
  const yamlText = await readFile(index.config.yamlPath, "utf8");
  const doc = parseDocument(yamlText);
  doc.set("names", index.config.namesAsMap ? doc.createNode(new Map(plan.classes.map((c, i) => [i, c]))) : plan.classes);
  if (doc.has("nc")) doc.set("nc", plan.classes.length);
  const newYaml = doc.toString();
  if (newYaml !== yamlText) changes.push({ path: index.config.yamlPath, content: newYaml });
  const labels = new Set<string>(index.orphans);
  for (const entries of Object.values(index.splits)) for (const e of entries ?? []) for (const f of [e.label, e.crowd]) if (f) labels.add(f);
  for (const file of labels) {
    const text = await readFile(file, "utf8");
    const next = relabelYolo(text, plan.map);
    if (next !== undefined && next !== text) changes.push({ path: file, content: next });
  }
  return changes;
}
