// `kiln data check|convert|classes` on detection datasets, through the real command line:
// exit codes, what is printed, bad inputs named by file and line without a stack trace, and
// datasets written only by an explicit command (with a backup) and never on an error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { DataReport } from "../src/data/check.js";
import { writeDetectionDataset } from "../src/data/detect/convert.js";
import { syntheticDetectionDataset } from "../src/data/detect/synthetic.js";
import { runKiln, type CliResult } from "./helpers/kiln-cli.js";
import { tempDir } from "./fixtures-data/make.js";
import { snapshotFiles } from "./helpers/in-process.js";

const cwd = process.cwd();
const kiln = (...args: string[]): CliResult => runKiln(["data", ...args], cwd);
const noStack = (r: CliResult): void => assert.ok(!/\n\s+at /.test(r.stdout + r.stderr), `no stack trace:\n${r.stderr}`);

/** A small dataset in `format` under DIR/name (synthetic shapes, 32 px). */
async function dataset(dir: string, format: "yolo" | "coco" | "voc", name: string = format): Promise<string> {
  const out = path.join(dir, name);
  await writeDetectionDataset(syntheticDetectionDataset({ train: 4, val: 2, size: 32 }), format, out);
  return format === "yolo" ? path.join(out, "data.yaml") : out;
}

const snapshot = snapshotFiles;

test("kiln data check on YOLO, COCO and VOC: the balance table, --json, exit 0", async (t) => {
  const dir = await tempDir(t);
  for (const format of ["yolo", "coco", "voc"] as const) {
    const spec = await dataset(dir, format);
    const r = kiln("check", spec);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`\\(${format}\\), 5 classes`));
    assert.match(r.stdout, /class\s+train\s+train images\s+val\s+val images/);
    assert.match(r.stdout, /OK: no errors found/);
  }
  const json = kiln("check", path.join(dir, "coco"), "--json");
  assert.equal(json.code, 0);
  const report = JSON.parse(json.stdout) as DataReport;
  assert.deepEqual(Object.keys(report).sort(), ["classes", "counts", "dataset", "duplicates", "format", "issues", "ok"]);
  assert.equal(report.ok, true);
  assert.equal(Object.values(report.counts.train).reduce((a, b) => a + b, 0) > 0, true);
});

/** Each bad input: how to break a fresh dataset, and the file:line the message must name. */
const BAD_INPUTS: { name: string; format: "yolo" | "coco" | "voc"; breakIt: (spec: string) => Promise<string> }[] = [
  { name: "a data.yaml that is not YAML", format: "yolo", breakIt: async (yaml) => { await writeFile(yaml, "train: images/train\nnames: [a, b\nnc: 2\n"); return `${yaml}:3: not valid YAML`; } },
  { name: "a data.yaml without names", format: "yolo", breakIt: async (yaml) => { await writeFile(yaml, "train: images/train\nval: images/val\nnc: 5\n"); return `${yaml}: missing 'names'`; } },
  { name: "nc ≠ len(names)", format: "yolo", breakIt: async (yaml) => { await writeFile(yaml, "train: images/train\nval: images/val\nnc: 4\nnames: [circle, square, triangle, star, cross]\n"); return `${yaml}:3`; } },
  { name: "a label line with 4 numbers", format: "yolo", breakIt: async (yaml) => breakLabel(yaml, "0 0.5 0.5 0.2\n", 2) },
  { name: "a class id ≥ nc", format: "yolo", breakIt: async (yaml) => breakLabel(yaml, "5 0.5 0.5 0.2 0.2\n", 2) },
  { name: "a negative width", format: "yolo", breakIt: async (yaml) => breakLabel(yaml, "0 0.5 0.5 -0.2 0.2\n", 2) },
  {
    name: "a COCO annotation whose image_id is not an image", format: "coco", breakIt: async (root) => {
      const file = path.join(root, "annotations", "instances_train.json");
      const text = await readFile(file, "utf8");
      const lines = text.split("\n");
      const at = lines.findIndex((l) => l.includes('"image_id":2,'));
      lines[at] = lines[at].replace('"image_id":2,', '"image_id":77,');
      await writeFile(file, lines.join("\n"));
      return `${file}:${at + 1}`;
    },
  },
  { name: "a VOC file that is not XML", format: "voc", breakIt: async (root) => { const file = path.join(root, "Annotations", "train_000001.xml"); await writeFile(file, "{ not: xml }\n"); return `${file}:1`; } },
];

/** Appends a bad line to a label file (as line `line`); returns file:line. */
async function breakLabel(yaml: string, bad: string, line: number): Promise<string> {
  const file = path.join(path.dirname(yaml), "labels", "train", "train_000000.txt");
  const kept = (await readFile(file, "utf8")).split("\n").filter((l) => l !== "").slice(0, line - 1);
  await writeFile(file, [...kept, ""].join("\n") + bad);
  return `${file}:${line}`;
}

test("bad inputs: check exits 1 naming file:line, convert and classes exit 1 writing nothing; no stack traces", async (t) => {
  const dir = await tempDir(t);
  for (const [i, bad] of BAD_INPUTS.entries()) {
    const spec = await dataset(dir, bad.format, `case${i}`);
    const where = await bad.breakIt(spec);
    const root = path.join(dir, `case${i}`);
    const before = await snapshot(root);
    const check = kiln("check", spec);
    assert.equal(check.code, 1, `${bad.name}: ${check.stdout}${check.stderr}`);
    assert.ok((check.stdout + check.stderr).includes(where), `${bad.name}: names ${where}:\n${check.stdout}${check.stderr}`);
    noStack(check);
    const out = path.join(dir, `out${i}`);
    const convert = kiln("convert", spec, "--to", bad.format === "coco" ? "voc" : "coco", "--out", out);
    assert.equal(convert.code, 1, `${bad.name}: ${convert.stdout}${convert.stderr}`);
    assert.ok(convert.stderr.includes(where) && /Fix:/.test(convert.stderr), `${bad.name}: convert names ${where}:\n${convert.stderr}`);
    noStack(convert);
    assert.equal(await stat(out).catch(() => null), null, `${bad.name}: no output folder`);
    const rename = kiln("classes", "rename", spec, "star", "asterisk");
    assert.equal(rename.code, 1, `${bad.name}: ${rename.stdout}${rename.stderr}`);
    noStack(rename);
    assert.deepEqual(await snapshot(root), before, `${bad.name}: dataset unchanged`);
  }
});

test("kiln data convert: YOLO → COCO → VOC; a non-empty output and bad usage are refused", async (t) => {
  const dir = await tempDir(t);
  const yaml = await dataset(dir, "yolo");
  const toCoco = kiln("convert", yaml, "--to", "coco", "--out", path.join(dir, "c"));
  assert.equal(toCoco.code, 0, toCoco.stderr);
  assert.match(toCoco.stdout, /Wrote .*c \(coco\) from .*data\.yaml \(yolo\): 5 classes; train 4 images \(\d+ objects\), val 2 images/);
  const toVoc = kiln("convert", path.join(dir, "c"), "--to=voc", "--out", path.join(dir, "v"));
  assert.equal(toVoc.code, 0, toVoc.stderr);
  assert.equal(kiln("check", path.join(dir, "v")).code, 0);

  const busy = kiln("convert", yaml, "--to", "voc", "--out", path.join(dir, "c"));
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /is not empty\. Fix:/);
  noStack(busy);
  assert.equal(kiln("convert", yaml, "--to", "xml", "--out", path.join(dir, "x")).code, 2);
  assert.equal(kiln("convert", yaml, "--to", "coco").code, 2);
  assert.equal(kiln("convert", "--help").code, 0);
  const missing = kiln("convert", path.join(dir, "nowhere"), "--to", "coco", "--out", path.join(dir, "y"));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /data path not found: .*nowhere\. Fix:/);
});

test("kiln data classes: list, rename with a printed backup, merge, filter; an unknown class changes nothing", async (t) => {
  const dir = await tempDir(t);
  const yaml = await dataset(dir, "yolo");
  const root = path.dirname(yaml);
  const list = kiln("classes", "list", yaml);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /id\s+class\s+objects\s+images/);
  assert.match(list.stdout, /\n\s+3\s+star\s+\d+\s+\d+/);
  const listed = JSON.parse(kiln("classes", "list", yaml, "--json").stdout) as { classes: { name: string }[] };
  assert.deepEqual(listed.classes.map((c) => c.name), ["circle", "square", "triangle", "star", "cross"]);

  const before = await snapshot(root);
  const rename = kiln("classes", "rename", yaml, "star", "asterisk");
  assert.equal(rename.code, 0, rename.stderr);
  const backup = /Backed up \d+ file\(s\) to (.*\.kiln-backup-\d{8}-\d{6}(?:-\d+)?)/.exec(rename.stdout)?.[1];
  assert.ok(backup, rename.stdout);
  assert.equal(await readFile(path.join(backup, "data.yaml"), "utf8"), Buffer.from(before.get("data.yaml") ?? "", "base64").toString());
  assert.match(await readFile(yaml, "utf8"), /- asterisk/);
  const after = await snapshot(root);
  for (const [rel, bytes] of before) if (rel.startsWith("images")) assert.equal(after.get(rel), bytes, `${rel} untouched`);

  const unchanged = await snapshot(root);
  const unknown = kiln("classes", "merge", yaml, "--into", "shape", "star", "circle");
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown class 'star'.*Fix:/);
  noStack(unknown);
  assert.deepEqual(await snapshot(root), unchanged);

  const merge = kiln("classes", "merge", yaml, "--into", "round", "circle", "asterisk");
  assert.equal(merge.code, 0, merge.stderr);
  assert.match(merge.stdout, /now: 0 round, 1 square, 2 triangle, 3 cross/);
  const voc = await dataset(dir, "voc");
  const filter = kiln("classes", "filter", voc, "--keep", "square,cross");
  assert.equal(filter.code, 0, filter.stderr);
  assert.equal(await readFile(path.join(voc, "classes.txt"), "utf8"), "square\ncross\n");
  const check = JSON.parse(kiln("check", voc, "--json").stdout) as DataReport;
  assert.deepEqual(check.classes, ["square", "cross"]);
  assert.equal(check.ok, true);

  assert.equal(kiln("classes", "rename", yaml, "only-one").code, 2);
  assert.equal(kiln("classes", "frobnicate", yaml).code, 2);
  assert.equal(kiln("classes", "--help").code, 0);
});
