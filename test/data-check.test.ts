import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { checkClassificationDataset, formatDataReport, type DataReport } from "../src/data/check.js";
import { loadClassificationDataset } from "../src/data/load.js";
import { dataCommand } from "../src/cli/commands/data.js";
import { pixels, tempDir, writeImage, writeSolid } from "./fixtures-data/make.js";

/** bin/kiln.js, from dist/test/ back to the repository root. */
const KILN_BIN = fileURLToPath(new URL("../../bin/kiln.js", import.meta.url));
const opts = { seed: 0, valRatio: 0.2, fraction: 1 };
const check = async (spec: string): Promise<DataReport> => checkClassificationDataset(await loadClassificationDataset(spec, opts));
const errorsFor = (r: DataReport, file: string): string[] => r.issues.filter((i) => i.severity === "error" && i.file === file).map((i) => i.message);

/** A valid JPEG whose Huffman table counts are overwritten: its header is bogus. */
async function corruptJpeg(file: string): Promise<string> {
  await writeImage(file, 16, 16, 3, pixels(16, 16, 3, (x, y, c) => (x * 16 + y * 3 + c * 50) % 256));
  const bytes = await readFile(file);
  const dht = bytes.indexOf(Buffer.from([0xff, 0xc4]));
  bytes.fill(0xff, dht + 5, dht + 21); // the 16 code-length counts of the first table
  await writeFile(file, bytes);
  return file;
}

/** Every file under DIR with its size and modification time: to show nothing was written. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const s = await stat(path.join(dir, entry));
    out.push(`${entry} ${s.size} ${s.mtimeMs}`);
  }
  return out.sort();
}

/** Runs `kiln data …` through dataCommand, capturing what it prints. */
async function runData(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => { out.push(a.join(" ")); };
  console.error = (...a: unknown[]) => { err.push(a.join(" ")); };
  try {
    const code = await dataCommand(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test("check names each bad file: corrupt JPEG, truncated PNG, non-image, empty class folder; lists duplicates", async (t) => {
  const root = await tempDir(t);
  const train = path.join(root, "train");
  await writeSolid(path.join(train, "cat", "00.png"), 1);
  await writeSolid(path.join(train, "cat", "01.png"), 2);
  const corrupt = await corruptJpeg(path.join(train, "cat", "corrupt.jpg"));
  const whole = await readFile(await writeSolid(path.join(train, "dog", "truncated.png"), 3, 32));
  const truncated = path.join(train, "dog", "truncated.png");
  await writeFile(truncated, whole.subarray(0, whole.length >> 1));
  const text = path.join(train, "dog", "notes.jpg");
  await writeFile(text, "this is not an image\n");
  await writeSolid(path.join(train, "dog", "00.png"), 5);
  await writeSolid(path.join(train, "dog", "01.png"), 6);
  const empty = path.join(train, "emu");
  await mkdir(empty);
  await writeSolid(path.join(root, "val", "cat", "00.png"), 7);
  await writeSolid(path.join(root, "val", "dog", "00.png"), 5); // the same bytes as train/dog/00.png
  const before = await snapshot(root);

  const report = await check(root);
  assert.equal(report.ok, false);
  assert.equal(errorsFor(report, corrupt).length, 1);
  assert.match(errorsFor(report, corrupt)[0], /cannot decode/);
  assert.equal(errorsFor(report, truncated).length, 1);
  assert.equal(errorsFor(report, text).length, 1);
  assert.deepEqual(errorsFor(report, empty), ["class folder 'emu' has no images"]);
  assert.deepEqual(report.duplicates, [[path.join(train, "dog", "00.png"), path.join(root, "val", "dog", "00.png")]]);
  assert.deepEqual(report.counts, { train: { cat: 2, dog: 2, emu: 0 }, val: { cat: 1, dog: 1, emu: 0 } });
  const text_ = formatDataReport(report);
  for (const file of [corrupt, truncated, text, empty]) assert.ok(text_.includes(file), `report names ${file}`);
  assert.deepEqual(await snapshot(root), before, "nothing in the dataset was written");
});

test("a CSV label that is not a known class names the CSV and its line", async (t) => {
  const root = await tempDir(t);
  await writeSolid(path.join(root, "a.png"), 1);
  await writeSolid(path.join(root, "b.png"), 2);
  await writeSolid(path.join(root, "c.png"), 3);
  const csv = path.join(root, "index.csv");
  await writeFile(csv, "path,label,split\na.png,cat,train\nb.png,dog,train\nc.png,cta,val\n");
  const report = await check(csv);
  assert.equal(report.ok, false);
  assert.equal(errorsFor(report, `${csv}:4`).length, 1);
  assert.match(errorsFor(report, `${csv}:4`)[0], /'cta' is not a known class/);
});

test("imbalance: a warning past the ratio (11:1 > 10), none at it (10:1)", async (t) => {
  const root = await tempDir(t);
  for (let i = 0; i < 11; i++) await writeSolid(path.join(root, "train", "big", `${i}.png`), i + 1);
  await writeSolid(path.join(root, "train", "small", "0.png"), 100);
  await writeSolid(path.join(root, "val", "big", "0.png"), 101);
  await writeSolid(path.join(root, "val", "small", "0.png"), 102);
  const report = await check(root);
  assert.equal(report.ok, true);
  const warnings = report.issues.filter((i) => i.severity === "warning");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /train is imbalanced: 'big' has 11 images, 'small' 1/);
  const ds = await loadClassificationDataset(root, { ...opts, maxPerClass: 10 });
  assert.deepEqual((await checkClassificationDataset(ds)).issues, []);
  assert.equal((await checkClassificationDataset(ds, { imbalanceRatio: 5 })).issues.length, 1);
});

test("pixel datasets are checked too: labels in range, duplicates named by split[index]", async () => {
  const data = new Uint8Array([1, 2, 3, 4]);
  const report = await checkClassificationDataset({
    name: "mem", format: "idx", classes: ["a", "b"], channels: 1,
    splits: {
      train: [{ source: { kind: "pixels", width: 2, height: 2, channels: 1, data }, label: 0 }, { source: { kind: "pixels", width: 2, height: 2, channels: 1, data }, label: 1 }],
      val: [{ source: { kind: "pixels", width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, label: 2 }],
    },
  });
  assert.deepEqual(report.duplicates, [["train[0]", "train[1]"]]);
  assert.ok(report.issues.some((i) => i.severity === "warning" && /under different classes: train\[0\], train\[1\]/.test(i.message)));
  assert.deepEqual(errorsFor(report, "val[0]"), ["label 2 is outside 0..1"]);
});

test("kiln data check: exit 0 and a table on good data; --json has the report's shape", async (t) => {
  const root = await tempDir(t);
  for (const split of ["train", "val"]) for (const [i, c] of ["ant", "bee"].entries()) await writeSolid(path.join(root, split, c, "0.png"), i + (split === "val" ? 10 : 1));
  const text = await runData(["check", root]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /class\s+train\s+val/);
  assert.match(text.out, /ant\s+1\s+1/);
  assert.match(text.out, /OK: no errors found/);
  const json = await runData(["check", root, "--json"]);
  assert.equal(json.code, 0);
  const report = JSON.parse(json.out) as DataReport;
  assert.deepEqual(Object.keys(report).sort(), ["classes", "counts", "dataset", "duplicates", "format", "issues", "ok"]);
  assert.deepEqual(report.counts, { train: { ant: 1, bee: 1 }, val: { ant: 1, bee: 1 } });
  assert.equal(report.ok, true);
});

test("kiln data check: exit 1 on bad data and on a missing path (named, with the fix); 2 on bad usage; --help", async (t) => {
  const root = await tempDir(t);
  await writeSolid(path.join(root, "ant", "0.png"), 1);
  await writeSolid(path.join(root, "ant", "1.png"), 2);
  await writeFile(path.join(root, "ant", "2.png"), "nope");
  const bad = await runData(["check", root, "--json"]);
  assert.equal(bad.code, 1);
  assert.equal((JSON.parse(bad.out) as DataReport).issues.find((i) => i.severity === "error")?.file, path.join(root, "ant", "2.png"));

  const missing = path.join(root, "nowhere");
  const text = await runData(["check", missing]);
  assert.equal(text.code, 1);
  assert.ok(text.err.includes(missing) && /Fix:/.test(text.err), text.err);
  const json = await runData(["check", missing, "--json"]);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.out) as DataReport;
  assert.equal(report.ok, false);
  assert.ok(report.issues[0].message.includes(missing) && report.issues[0].fix);

  assert.equal((await runData(["check"])).code, 2);
  assert.equal((await runData(["check", root, "--jsn"])).code, 2);
  assert.equal((await runData(["verify", root])).code, 2);
  const help = await runData(["check", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /Examples:/);
});

test("node bin/kiln.js data check: the wired command's exit codes and JSON", async (t) => {
  const root = await tempDir(t);
  for (const split of ["train", "val"]) for (const [i, c] of ["ant", "bee"].entries()) await writeSolid(path.join(root, split, c, "0.png"), i + (split === "val" ? 10 : 1));
  const kiln = (...args: string[]) => spawnSync(process.execPath, [KILN_BIN, "data", "check", ...args], { encoding: "utf8" });
  const good = kiln(root, "--json");
  assert.equal(good.status, 0, good.stderr);
  assert.equal((JSON.parse(good.stdout) as DataReport).ok, true);
  await writeFile(path.join(root, "train", "bee", "1.png"), "truncated");
  const bad = kiln(root);
  assert.equal(bad.status, 1);
  assert.ok(bad.stdout.includes(path.join(root, "train", "bee", "1.png")));
  const missing = kiln(path.join(root, "absent"));
  assert.equal(missing.status, 1);
  assert.ok(missing.stderr.includes(path.join(root, "absent")) && !/\n\s+at /.test(missing.stderr), "named, without a stack trace");
  assert.equal(kiln().status, 2);
});
