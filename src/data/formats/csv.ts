// CSV index: a header with `path,label` and optionally `split` (train/val/test); paths are
// relative to the CSV's folder; labels are class names. The classes are the lines of a
// `classes.txt` beside the CSV when there is one, else the sorted labels of the train rows.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { KilnError } from "../../errors.js";
import { byName, exists } from "../files.js";
import type { ClassificationDataset, DataIssue, Sample, SplitName } from "../types.js";

/** RFC 4180 fields of one line: commas, "quoted, fields" and "" for a quote inside. */
export function parseCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { fields.push(field); field = ""; } else field += ch;
  }
  fields.push(field);
  return fields.map((f) => f.trim());
}

const SPLIT_VALUES: Record<string, SplitName> = { train: "train", val: "val", valid: "val", validation: "val", test: "test" };

interface Row { line: number; file: string; label: string; split: SplitName }

function parseRows(csvPath: string, text: string, issues: DataIssue[]): Row[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = parseCsvLine(lines[0] ?? "").map((h) => h.toLowerCase());
  const col = (name: string): number => header.indexOf(name);
  if (col("path") < 0 || col("label") < 0) {
    throw new KilnError(`${csvPath}: the header must name the columns 'path' and 'label' (found '${lines[0] ?? ""}'). Fix: make the first line 'path,label' (and ',split' for a split column).`);
  }
  const rows: Row[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const line = i + 1;
    const fields = parseCsvLine(lines[i]);
    const file = fields[col("path")] ?? "";
    const label = fields[col("label")] ?? "";
    const splitText = col("split") >= 0 ? (fields[col("split")] ?? "").toLowerCase() : "train";
    const split = SPLIT_VALUES[splitText];
    const where = `${csvPath}:${line}`;
    if (file === "" || label === "") {
      issues.push({ severity: "error", file: where, message: "row without a path or a label", fix: "give every row a path and a label" });
    } else if (!split) {
      issues.push({ severity: "error", file: where, message: `unknown split '${splitText}'`, fix: "use train, val or test" });
    } else {
      rows.push({ line, file, label, split });
    }
  }
  return rows;
}

async function readClassList(csvPath: string, rows: Row[]): Promise<string[]> {
  const listPath = path.join(path.dirname(csvPath), "classes.txt");
  if (await exists(listPath)) {
    return (await readFile(listPath, "utf8")).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  }
  return [...new Set(rows.filter((r) => r.split === "train").map((r) => r.label))].sort(byName);
}

export async function readCsv(csvPath: string): Promise<ClassificationDataset> {
  const issues: DataIssue[] = [];
  const rows = parseRows(csvPath, await readFile(csvPath, "utf8"), issues);
  const classes = await readClassList(csvPath, rows);
  const splits: ClassificationDataset["splits"] = { train: [] };
  const root = path.dirname(csvPath);
  for (const row of rows) {
    const where = `${csvPath}:${row.line}`;
    const label = classes.indexOf(row.label);
    const file = path.resolve(root, row.file);
    if (label < 0) {
      issues.push({ severity: "error", file: where, message: `label '${row.label}' is not a known class (${classes.join(", ")})`, fix: "correct the label, or add the class to classes.txt / to a train row" });
    } else if (!(await exists(file))) {
      issues.push({ severity: "error", file: where, message: `image not found: ${file}`, fix: "correct the path (relative to the CSV's folder)" });
    } else {
      (splits[row.split] ??= []).push({ source: { kind: "file", path: file }, label } satisfies Sample);
    }
  }
  return { name: csvPath, format: "csv", classes, splits, channels: 3, issues };
}
