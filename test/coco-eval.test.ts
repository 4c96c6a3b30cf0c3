// COCO bbox evaluation against pycocotools' own answers: every case folder in
// ../shared/coco-cases (stats, per-category AP and AP50 to 1e-9, the shape of
// eval['precision']), pycocotools' summary lines, bad inputs as KilnErrors
// that name the file and the entry, and the `kiln eval` command.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { KilnError } from "../src/errors.js";
import { cocoEvaluate, pyFixed, readCocoFiles, summaryLines, type CocoGroundTruth, type CocoResult } from "../src/metrics/coco/index.js";
import { runKiln } from "./helpers/kiln-cli.js";

// the tests run from the repository root; the cases sit beside it
const CASES = resolve("..", "shared", "coco-cases");
const TOL = 1e-9;

interface Expected {
  stats: number[];
  per_category_ap: Record<string, number>;
  per_category_ap50: Record<string, number>;
  precision_shape: number[];
}

function caseFolders(): string[] {
  if (!existsSync(CASES)) return [];
  return readdirSync(CASES, { withFileTypes: true }).filter((e) => e.isDirectory() && existsSync(join(CASES, e.name, "expected.json"))).map((e) => e.name).sort();
}

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: ${actual} vs pycocotools ${expected}`);
}

test("the pycocotools cases are there", () => {
  assert.ok(caseFolders().length >= 20, `expected the case folders in ${CASES}`);
});

for (const name of caseFolders()) {
  test(`coco case ${name}: pycocotools' numbers to 1e-9`, async () => {
    const dir = join(CASES, name);
    const { gt, dt } = await readCocoFiles(join(dir, "gt.json"), join(dir, "dt.json"));
    const r = cocoEvaluate(gt, dt);
    const ex = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Expected;
    assert.equal(r.stats.length, 12);
    ex.stats.forEach((v, i) => near(r.stats[i], v, `stats[${i}]`));
    assert.deepEqual(Object.keys(r.perCategoryAp).sort(), Object.keys(ex.per_category_ap).sort());
    for (const [id, v] of Object.entries(ex.per_category_ap)) near(r.perCategoryAp[id], v, `AP of category ${id}`);
    for (const [id, v] of Object.entries(ex.per_category_ap50)) near(r.perCategoryAp50[id], v, `AP50 of category ${id}`);
    assert.deepEqual(r.precisionShape, ex.precision_shape);
    assert.equal(r.precision.length, ex.precision_shape.reduce((a, b) => a * b, 1));
  });
}

test("the summary lines are pycocotools' to the character", async () => {
  const dir = join(CASES, "05-crowd-regions");
  const { gt, dt } = await readCocoFiles(join(dir, "gt.json"), join(dir, "dt.json"));
  assert.deepEqual(summaryLines(cocoEvaluate(gt, dt).stats), [
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.734",
    " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.833",
    " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.751",
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000",
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 1.000",
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.900",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.000",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.975",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.975",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 1.000",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.900",
  ]);
});

test("numbers print as Python's {:0.3f}: exact ties round half to even", () => {
  assert.equal(pyFixed(0.0625, 3), "0.062");
  assert.equal(pyFixed(0.1875, 3), "0.188");
  assert.equal(pyFixed(-1, 3), "-1.000");
  assert.equal(pyFixed(0.9999999999999998, 3), "1.000");
  assert.equal(pyFixed(0.0005000000000000001, 3), "0.001");
});

// --- bad inputs -------------------------------------------------------------

const GT: CocoGroundTruth = {
  images: [{ id: 1, width: 100, height: 100 }, { id: 2, width: 100, height: 100 }],
  annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 }],
  categories: [{ id: 1, name: "thing" }],
};
const DT: CocoResult[] = [{ image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], score: 0.9 }];

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-coco-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes gt and dt (objects, or raw text) and reads them back. */
async function readBoth(dir: string, gt: unknown, dt: unknown): Promise<unknown> {
  const g = join(dir, "gt.json");
  const d = join(dir, "dt.json");
  writeFileSync(g, typeof gt === "string" ? gt : JSON.stringify(gt));
  writeFileSync(d, typeof dt === "string" ? dt : JSON.stringify(dt));
  return readCocoFiles(g, d);
}

async function rejectsWith(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof KilnError, `expected a KilnError, got ${String(err)}`);
    for (const part of parts) {
      if (typeof part === "string") assert.ok(err.message.includes(part), `"${err.message}" should mention "${part}"`);
      else assert.match(err.message, part);
    }
    return true;
  });
}

const withAnnotation = (patch: Record<string, unknown>, drop?: string): unknown => {
  const a: Record<string, unknown> = { ...GT.annotations[0], ...patch };
  if (drop) delete a[drop];
  return { ...GT, annotations: [a] };
};

test("malformed JSON names the file and the line", async (t) => {
  const dir = scratch(t);
  await rejectsWith(readBoth(dir, '{"images": [\n{"id": 1},\n]', DT), join(dir, "gt.json"), "not valid JSON", "line");
  await rejectsWith(readBoth(dir, GT, '[{"image_id": 1, '), join(dir, "dt.json"), "not valid JSON");
});

test("a missing file is named", async (t) => {
  const dir = scratch(t);
  await rejectsWith(readCocoFiles(join(dir, "nope.json"), join(dir, "dt.json")), join(dir, "nope.json"), "no such file");
});

test("a detection on an image the ground truth does not list is an error (pycocotools asserts)", async (t) => {
  const dir = scratch(t);
  const dt = [...DT, { image_id: 99, category_id: 1, bbox: [0, 0, 5, 5], score: 0.5 }];
  await rejectsWith(readBoth(dir, GT, dt), join(dir, "dt.json"), "detection 1", "image_id 99", join(dir, "gt.json"), "Fix");
});

test("missing and malformed fields name the entry and the field", async (t) => {
  const dir = scratch(t);
  await rejectsWith(readBoth(dir, withAnnotation({}, "area"), DT), "annotations[0] (id 1)", "'area'", "width*height (here 400)");
  await rejectsWith(readBoth(dir, withAnnotation({}, "iscrowd"), DT), "annotations[0]", "'iscrowd'");
  await rejectsWith(readBoth(dir, withAnnotation({ bbox: [1, 2, 3] }), DT), "annotations[0]", "'bbox'", "[1,2,3]");
  await rejectsWith(readBoth(dir, withAnnotation({ image_id: 7 }), DT), "annotations[0]", "image_id 7");
  await rejectsWith(readBoth(dir, { ...GT, categories: undefined }, DT), "'categories' must be a list");
  await rejectsWith(readBoth(dir, { ...GT, images: [...GT.images, { id: 2 }] }, DT), "images[2]", "listed twice");
  await rejectsWith(readBoth(dir, GT, [{ image_id: 1, category_id: 1, bbox: [0, 0, 5, 5] }]), "detection 0", "'score'");
  await rejectsWith(readBoth(dir, GT, [{ image_id: 1, category_id: 1, score: 0.3, segmentation: [[0, 0, 1, 1]] }]), "detection 0", "'bbox'", "give each detection a bbox");
});

test("swapped files get a hint", async (t) => {
  const dir = scratch(t);
  await rejectsWith(readBoth(dir, DT, GT), join(dir, "gt.json"), "results file");
  await rejectsWith(readBoth(dir, GT, GT), join(dir, "dt.json"), "instances file");
});

test("cocoEvaluate validates objects too, and drops unlisted categories as pycocotools does", () => {
  assert.throws(() => cocoEvaluate(GT, [{ image_id: 5, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }]), KilnError);
  const r = cocoEvaluate(GT, [...DT, { image_id: 1, category_id: 7, bbox: [10, 10, 20, 20], score: 0.99 }]);
  assert.equal(r.droppedDetections, 1);
  near(r.stats[1], 1, "AP50");
});

test("no images at all: every number is -1", () => {
  const r = cocoEvaluate({ images: [], annotations: [], categories: [{ id: 1, name: "a" }] }, []);
  assert.deepEqual(r.stats, new Array(12).fill(-1));
});

// --- the command ---------------------------------------------------------------

test("kiln eval --json gives pycocotools' numbers; the text output its summary lines", (t) => {
  const dir = join(CASES, "13-many-categories");
  const cwd = scratch(t);
  const json = runKiln(["eval", "--gt", join(dir, "gt.json"), "--dt", join(dir, "dt.json"), "--json"], cwd);
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as { stats: number[]; per_category_ap: Record<string, number> };
  const ex = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Expected;
  ex.stats.forEach((v, i) => near(out.stats[i], v, `stats[${i}]`));
  for (const [id, v] of Object.entries(ex.per_category_ap)) near(out.per_category_ap[id], v, `AP of ${id}`);

  const text = runKiln(["eval", "--gt", join(dir, "gt.json"), "--dt", join(dir, "dt.json")], cwd);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split("\n");
  assert.equal(lines[0], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.380");
  assert.equal(lines[11], " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.379");
  assert.match(text.stdout, /^\s*80\s+class80\s+16\s+26\s+0\.649\s+0\.866$/m);
});

test("kiln eval: bad input exits non-zero with the message and no stack", (t) => {
  const cwd = scratch(t);
  writeFileSync(join(cwd, "gt.json"), JSON.stringify(GT));
  writeFileSync(join(cwd, "dt.json"), JSON.stringify([{ image_id: 3, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }]));
  const r = runKiln(["eval", "--gt", "gt.json", "--dt", "dt.json"], cwd);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /kiln eval: dt\.json: detection 0: image_id 3 is not an image of gt\.json/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const missing = runKiln(["eval", "--gt", "gt.json"], cwd);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /--dt/);
  const help = runKiln(["eval", "--help"], cwd);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: kiln eval --gt/);
});
