// Detection data: the YOLO, COCO and VOC readers, the writers and their round trip, the
// check, the class tools and the synthetic set — as a library (the CLI has its own file).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { formatDataReport } from "../src/data/check.js";
import { checkDetectionDataset } from "../src/data/detect/check.js";
import { classCounts, editClasses, planClassEdit } from "../src/data/detect/classes.js";
import { convertDetectionDataset, writeDetectionDataset } from "../src/data/detect/convert.js";
import { isDetectionDataset, loadDetectionDataset, readDetectionDataset } from "../src/data/detect/load.js";
import { SYNTHETIC_DETECTION_CLASSES, syntheticDetectionDataset } from "../src/data/detect/synthetic.js";
import type { DetectionDataset, DetObject, DetSample } from "../src/data/detect/types.js";
import { KilnError } from "../src/errors.js";
import { pixels, tempDir, writeImage, writeSolid } from "./fixtures-data/make.js";
import { snapshotFiles } from "./helpers/in-process.js";

const opts = { seed: 0, valRatio: 0.25, fraction: 1 };
const near = (a: number[], b: number[], tol = 1e-6): boolean => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= tol);
const errorsOf = (ds: DetectionDataset): string[] => (ds.issues ?? []).filter((i) => i.severity === "error").map((i) => `${i.file}: ${i.message}`);

async function write(file: string, text: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

/** A small YOLO dataset: train folder (3 images: 2 objects, empty label, no label), val as a .txt list. */
async function yoloFixture(root: string): Promise<string> {
  await writeSolid(path.join(root, "images", "train", "a.png"), 1, 20);
  await writeSolid(path.join(root, "images", "train", "b.png"), 2, 20);
  await writeSolid(path.join(root, "images", "train", "c.png"), 3, 20);
  await write(path.join(root, "labels", "train", "a.txt"), "0 0.5 0.5 0.4 0.2\n1 0.25 0.25 0.1 0.1\n");
  await write(path.join(root, "labels", "train", "b.txt"), "");
  await write(path.join(root, "labels", "train", "zz.txt"), "0 0.5 0.5 0.1 0.1\n"); // no image
  await writeSolid(path.join(root, "images", "val", "d.png"), 4, 20);
  await write(path.join(root, "labels", "val", "d.txt"), "1 0.5 0.5 0.2 0.2\n");
  await write(path.join(root, "labels", "val", "d.crowd.txt"), "0 0.2 0.2 0.2 0.2\n");
  await write(path.join(root, "val.txt"), "./images/val/d.png\n");
  return write(path.join(root, "data.yaml"), "# my data\npath: .\ntrain: images/train\nval: val.txt\nnc: 2\nnames:\n  0: cat\n  1: dog\n");
}

const byName = (samples: DetSample[] | undefined, name: string): DetSample => {
  const s = samples?.find((x) => x.name === name);
  assert.ok(s, `sample ${name}`);
  return s;
};

test("YOLO: names as a map, folders and .txt lists, empty and missing label files, orphans, crowd sidecars", async (t) => {
  const root = await tempDir(t);
  const yaml = await yoloFixture(root);
  assert.ok(isDetectionDataset(yaml) && isDetectionDataset(root));
  const ds = await readDetectionDataset(root);
  assert.equal(ds.format, "yolo");
  assert.deepEqual(ds.classes, ["cat", "dog"]);
  assert.deepEqual(ds.splits.train?.map((s) => s.name), ["a.png", "b.png", "c.png"]);
  const a = byName(ds.splits.train, "a.png");
  assert.equal(a.width, 0);
  assert.equal(a.objects.length, 2);
  assert.ok(near(a.objects[0].box, [0.3, 0.4, 0.7, 0.6]));
  assert.equal(a.objects[1].cls, 1);
  assert.deepEqual(byName(ds.splits.train, "b.png").objects, []);
  assert.deepEqual(byName(ds.splits.train, "c.png").objects, []);
  const d = byName(ds.splits.val, "d.png");
  assert.deepEqual(d.objects.map((o) => [o.cls, o.crowd ?? false]), [[1, false], [0, true]]);
  const warnings = (ds.issues ?? []).filter((i) => i.severity === "warning").map((i) => i.message);
  assert.ok(warnings.some((w) => /1 train image\(s\) have no label file.*c\.png/.test(w)), warnings.join("\n"));
  assert.ok(warnings.some((w) => /1 label file\(s\) have no image.*zz\.txt/.test(w)), warnings.join("\n"));
  assert.deepEqual(errorsOf(ds), []);
});

test("YOLO: labels beside the images (no labels/ folder), polygons as their bounding box, names as a list", async (t) => {
  const root = await tempDir(t);
  await writeSolid(path.join(root, "pics", "x.png"), 1, 10);
  await write(path.join(root, "pics", "x.txt"), "0 0.1 0.2 0.5 0.2 0.3 0.6\n");
  await write(path.join(root, "data.yaml"), "train: pics\nnames: [thing]\n");
  const ds = await loadDetectionDataset(path.join(root, "data.yaml"), opts);
  const all = [...(ds.splits.train ?? []), ...(ds.splits.val ?? [])];
  assert.equal(all.length, 1);
  assert.ok(near(all[0].objects[0].box, [0.1, 0.2, 0.5, 0.6]));
});

/** A COCO folder: category ids 7 (dog) and 3 (cat), a crowd annotation, an image without objects, one without a size. */
async function cocoFixture(root: string): Promise<void> {
  await writeSolid(path.join(root, "images", "train", "p.png"), 1, 40);
  await writeSolid(path.join(root, "images", "train", "q.png"), 2, 40);
  await writeSolid(path.join(root, "images", "val", "r.png"), 3, 40);
  const categories = [{ id: 7, name: "dog" }, { id: 3, name: "cat" }];
  await write(path.join(root, "annotations", "instances_train.json"), JSON.stringify({
    images: [{ id: 1, file_name: "p.png", width: 40, height: 40 }, { id: 2, file_name: "q.png" }],
    annotations: [
      { id: 1, image_id: 1, category_id: 7, bbox: [4, 8, 20, 10], iscrowd: 0 },
      { id: 2, image_id: 1, category_id: 3, bbox: [0, 0, 40, 40], iscrowd: 1 },
    ],
    categories,
  }, null, 1));
  await write(path.join(root, "annotations", "instances_val.json"), JSON.stringify({
    images: [{ id: 5, file_name: "r.png", width: 40, height: 40 }],
    annotations: [{ id: 9, image_id: 5, category_id: 3, bbox: [10, 10, 10, 10] }],
    categories,
  }));
}

test("COCO: a folder of instances files; category ids to contiguous classes in sorted-id order; iscrowd; sizes from the image", async (t) => {
  const root = await tempDir(t);
  await cocoFixture(root);
  assert.ok(isDetectionDataset(root));
  const ds = await readDetectionDataset(root);
  assert.equal(ds.format, "coco");
  assert.deepEqual(ds.classes, ["cat", "dog"]); // id 3, id 7
  const p = byName(ds.splits.train, "p.png");
  assert.deepEqual(p.objects.map((o) => [o.cls, o.crowd ?? false]), [[1, false], [0, true]]);
  assert.ok(near(p.objects[0].box, [0.1, 0.2, 0.6, 0.45]));
  const q = byName(ds.splits.train, "q.png");
  assert.deepEqual([q.width, q.height, q.objects.length], [40, 40, 0]);
  assert.equal(byName(ds.splits.val, "r.png").objects[0].cls, 0);
  assert.deepEqual(errorsOf(ds), []);

  const single = await loadDetectionDataset(path.join(root, "annotations", "instances_train.json"), { ...opts, valRatio: 0.5 });
  assert.equal((single.splits.train?.length ?? 0) + (single.splits.val?.length ?? 0), 2, "one JSON file: all of it split seeded");
  assert.equal(single.splits.val?.length, 1);
  assert.equal((await stat((single.splits.val?.[0].source as { path: string }).path)).isFile(), true, "images found from the JSON's folder");
});

/** A VOC folder with ImageSets, classes.txt (an order that is not sorted), a difficult object. */
async function vocFixture(root: string, sets = true): Promise<void> {
  const xml = (file: string, objects: string): string => `<?xml version="1.0"?>\n<annotation>\n\t<filename>${file}</filename>\n\t<size><width>50</width><height>40</height><depth>3</depth></size>\n${objects}</annotation>\n`;
  const obj = (name: string, difficult: number, box: number[]): string => `\t<object>\n\t\t<name>${name}</name>\n\t\t<difficult>${difficult}</difficult>\n\t\t<bndbox><xmin>${box[0]}</xmin><ymin>${box[1]}</ymin><xmax>${box[2]}</xmax><ymax>${box[3]}</ymax></bndbox>\n\t\t<part><name>head</name></part>\n\t</object>\n`;
  for (const [i, id] of ["001", "002", "003", "004"].entries()) await writeImage(path.join(root, "JPEGImages", `${id}.png`), 50, 40, 3, pixels(50, 40, 3, () => i * 40));
  await write(path.join(root, "Annotations", "001.xml"), xml("001.png", obj("person", 0, [1, 1, 50, 40]) + obj("bike", 1, [11, 5, 30, 20])));
  await write(path.join(root, "Annotations", "002.xml"), xml("002.png", obj("bike", 0, [5, 5, 10, 10])));
  await write(path.join(root, "Annotations", "003.xml"), xml("003.png", ""));
  await write(path.join(root, "Annotations", "004.xml"), xml("004.png", obj("person", 0, [2, 2, 4, 4])));
  await write(path.join(root, "classes.txt"), "person\nbike\ncar\n");
  if (sets) {
    await write(path.join(root, "ImageSets", "Main", "train.txt"), "001\n003\n");
    await write(path.join(root, "ImageSets", "Main", "val.txt"), "002\n");
    await write(path.join(root, "ImageSets", "Main", "test.txt"), "004\n");
  }
}

test("VOC: ImageSets splits, classes.txt order, difficult as crowd, 1-based inclusive corners", async (t) => {
  const root = await tempDir(t);
  await vocFixture(root);
  assert.ok(isDetectionDataset(root));
  const ds = await readDetectionDataset(root);
  assert.equal(ds.format, "voc");
  assert.deepEqual(ds.classes, ["person", "bike", "car"]);
  assert.deepEqual(Object.fromEntries(Object.entries(ds.splits).map(([k, v]) => [k, v?.map((s) => s.name)])), { train: ["001.png", "003.png"], val: ["002.png"], test: ["004.png"] });
  const first = byName(ds.splits.train, "001.png");
  assert.ok(near(first.objects[0].box, [0, 0, 1, 1]), "(1, 1, W, H) is the whole image");
  assert.ok(near(first.objects[1].box, [10 / 50, 4 / 40, 30 / 50, 20 / 40]));
  assert.equal(first.objects[1].crowd, true);
  assert.deepEqual(byName(ds.splits.train, "003.png").objects, []);
  assert.deepEqual(errorsOf(ds), []);
});

test("VOC without ImageSets or classes.txt: sorted names, a seeded val split that repeats", async (t) => {
  const root = await tempDir(t);
  await vocFixture(root, false);
  await rm(path.join(root, "classes.txt"));
  const a = await loadDetectionDataset(root, { ...opts, valRatio: 0.5 });
  const b = await loadDetectionDataset(root, { ...opts, valRatio: 0.5 });
  assert.deepEqual(a.classes, ["bike", "person"]);
  assert.equal((a.splits.train?.length ?? 0) + (a.splits.val?.length ?? 0), 4);
  assert.ok((a.splits.val?.length ?? 0) >= 1);
  assert.deepEqual(a.splits.val?.map((s) => s.name), b.splits.val?.map((s) => s.name));
});

/** Objects compared in a fixed order (writers may put crowd objects last). */
const sortedObjects = (objects: DetObject[]): DetObject[] => [...objects].sort((p, q) => Number(p.crowd ?? false) - Number(q.crowd ?? false) || p.cls - q.cls || p.box[0] - q.box[0] || p.box[1] - q.box[1]);

function assertSameDataset(a: DetectionDataset, b: DetectionDataset): void {
  assert.deepEqual(b.classes, a.classes);
  assert.deepEqual(Object.keys(b.splits).sort(), Object.keys(a.splits).sort());
  for (const [split, samples] of Object.entries(a.splits)) {
    const other = b.splits[split as keyof typeof b.splits] ?? [];
    assert.deepEqual(other.map((s) => s.name).sort(), (samples ?? []).map((s) => s.name).sort(), `${split} names`);
    for (const s of samples ?? []) {
      const o = byName(other, s.name);
      const [x, y] = [sortedObjects(s.objects), sortedObjects(o.objects)];
      assert.equal(y.length, x.length, `${split}/${s.name} objects`);
      x.forEach((obj, k) => {
        assert.equal(y[k].cls, obj.cls);
        assert.equal(y[k].crowd ?? false, obj.crowd ?? false, `${split}/${s.name} crowd`);
        assert.ok(near(y[k].box, obj.box, 1e-6), `${split}/${s.name} box ${y[k].box.join()} vs ${obj.box.join()}`);
      });
    }
  }
}

test("round trip YOLO → COCO → VOC → YOLO loses nothing: classes (and an unused one), boxes, crowd, splits, empty images", async (t) => {
  const root = await tempDir(t);
  const ds = syntheticDetectionDataset({ train: 6, val: 3, size: 48 });
  ds.classes.push("unused");
  const train = ds.splits.train ?? [];
  train[0].objects[0].crowd = true;
  train[1].objects = [];
  // Boxes at fractions no pixel grid gives, so the formats' rounding is what is measured.
  train[2].objects = [{ cls: 2, box: [0.123456789, 0.2, 0.987654321, 0.333333333] }];
  ds.splits.test = [{ ...train[3], name: "test_one.png" }];
  await writeDetectionDataset(ds, "yolo", path.join(root, "yolo"));
  await convertDetectionDataset(path.join(root, "yolo"), "coco", path.join(root, "coco"));
  await convertDetectionDataset(path.join(root, "coco"), "voc", path.join(root, "voc"));
  await convertDetectionDataset(path.join(root, "voc"), "yolo", path.join(root, "yolo2"));
  for (const dir of ["yolo", "coco", "voc", "yolo2"]) assertSameDataset(ds, await readDetectionDataset(path.join(root, dir)));
  // Files are hard-linked (same file system), and no temporary folder is left beside the outputs.
  const [p, q] = await Promise.all([stat(path.join(root, "yolo", "images", "train", "train_000000.png")), stat(path.join(root, "coco", "images", "train", "train_000000.png"))]);
  assert.equal(p.ino, q.ino);
  assert.deepEqual((await readdir(root)).sort(), ["coco", "voc", "yolo", "yolo2"]);
});

test("writers read image sizes from the files when the source has none (YOLO → COCO)", async (t) => {
  const root = await tempDir(t);
  await yoloFixture(root);
  await convertDetectionDataset(path.join(root, "data.yaml"), "coco", path.join(root, "out"));
  const json = JSON.parse(await readFile(path.join(root, "out", "annotations", "instances_train.json"), "utf8")) as { images: { file_name: string; width: number }[]; annotations: { bbox: number[] }[] };
  assert.deepEqual(json.images.map((i) => [i.file_name, i.width]), [["a.png", 20], ["b.png", 20], ["c.png", 20]]);
  assert.deepEqual(json.annotations[0].bbox, [6, 8, 8, 4]);
});

test("convert refuses a non-empty output folder and a source with errors, writing nothing", async (t) => {
  const root = await tempDir(t);
  const yaml = await yoloFixture(root);
  await write(path.join(root, "busy", "keep.txt"), "mine");
  await assert.rejects(convertDetectionDataset(yaml, "voc", path.join(root, "busy")), (e: Error) => e instanceof KilnError && /not empty/.test(e.message));
  await writeFile(path.join(root, "labels", "train", "a.txt"), "0 0.5 0.5 0.4\n");
  await assert.rejects(convertDetectionDataset(yaml, "voc", path.join(root, "out")), (e: Error) => e instanceof KilnError && e.message.includes(`${path.join(root, "labels", "train", "a.txt")}:1`));
  assert.equal(await stat(path.join(root, "out")).catch(() => null), null);
  assert.ok(!(await readdir(root)).some((n) => n.includes("kiln-tmp")));
});

test("bad input: each a KilnError or an error issue naming the file and line", async (t) => {
  const root = await tempDir(t);
  const yaml = await yoloFixture(root);
  const rejectsWith = async (text: string, pattern: RegExp): Promise<void> => {
    await writeFile(yaml, text);
    await assert.rejects(readDetectionDataset(yaml), (e: Error) => e instanceof KilnError && pattern.test(e.message), pattern.source);
  };
  await rejectsWith("train: images/train\nnames: [a, b\nnc: 2\n", new RegExp(`${yaml}:\\d+: not valid YAML`));
  await rejectsWith("train: images/train\nnc: 2\n", new RegExp(`${yaml}: missing 'names'.*Fix:`));
  await rejectsWith("train: images/train\nnames: [a, b]\nnc: 3\n", new RegExp(`${yaml}:3: nc is 3 but 'names' has 2 classes`));
  await writeFile(yaml, "train: images/train\nnames: [cat, dog]\n");

  const label = path.join(root, "labels", "train", "a.txt");
  const issueFor = async (text: string): Promise<string[]> => {
    await writeFile(label, text);
    const ds = await readDetectionDataset(yaml);
    assert.ok(!ds.splits.train?.some((s) => s.name === "a.png"), "the image with a bad label is left out");
    return errorsOf(ds);
  };
  assert.match((await issueFor("0 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1\n"))[0], new RegExp(`${label}:2: expected 5 numbers \\(class cx cy w h\\), found 4`));
  assert.match((await issueFor("2 0.5 0.5 0.1 0.1\n"))[0], new RegExp(`${label}:1: class id 2 is outside 0..1`));
  assert.match((await issueFor("\n0 0.5 0.5 -0.1 0.1\n"))[0], new RegExp(`${label}:2: width -0.1 and height 0.1 must both be > 0`));
  assert.match((await issueFor("0 0.95 0.5 0.2 0.1\n"))[0], new RegExp(`${label}:1: box .* lies outside the image`));

  const coco = path.join(root, "coco");
  await cocoFixture(coco);
  const json = path.join(coco, "annotations", "instances_train.json");
  const doc = JSON.parse(await readFile(json, "utf8")) as { annotations: { image_id: number }[] };
  doc.annotations[1].image_id = 99;
  await writeFile(json, JSON.stringify(doc, null, 1));
  const lines = (await readFile(json, "utf8")).split("\n");
  const line = lines.findIndex((l) => l.includes('"image_id": 99')) + 1;
  const startLine = lines.slice(0, line).map((l, i) => [l, i + 1] as const).filter(([l]) => l.trim() === "{").pop()?.[1];
  assert.ok(errorsOf(await readDetectionDataset(coco)).some((e) => e.startsWith(`${json}:${startLine}: annotation id 2: image_id 99 is not an image`)), errorsOf(await readDetectionDataset(coco)).join("\n"));
  await writeFile(json, '{"images": [\n{"id": 1,}\n]}');
  await assert.rejects(readDetectionDataset(coco), (e: Error) => e instanceof KilnError && e.message.startsWith(`${json}:2: not valid JSON`));

  const voc = path.join(root, "voc");
  await vocFixture(voc);
  const xml = path.join(voc, "Annotations", "002.xml");
  await writeFile(xml, "<annotation>\n<object><name>bike</name>\n</annotation>\n");
  assert.ok(errorsOf(await readDetectionDataset(voc)).some((e) => e.startsWith(`${xml}:3: not valid XML`)));
  await writeFile(xml, "just some text, not XML\n");
  assert.ok(errorsOf(await readDetectionDataset(voc)).some((e) => e.startsWith(`${xml}:1: not valid XML`)));
});

test("check: decodes every image, compares sizes, boxes and class ids, duplicate boxes, balance; the report prints", async (t) => {
  const root = await tempDir(t);
  await cocoFixture(root);
  await writeFile(path.join(root, "images", "train", "p.png"), "not an image");
  await writeFile(path.join(root, "images", "train", "q.png"), "not an image either"); // and no size in the JSON
  const json = path.join(root, "annotations", "instances_val.json");
  const doc = JSON.parse(await readFile(json, "utf8")) as { images: { width: number }[]; annotations: unknown[] };
  doc.images[0].width = 41;
  doc.annotations.push({ id: 10, image_id: 5, category_id: 3, bbox: [10, 10, 10, 10] });
  await writeFile(json, JSON.stringify(doc));
  const report = await checkDetectionDataset(await loadDetectionDataset(root, opts));
  assert.equal(report.ok, false);
  const errors = report.issues.filter((i) => i.severity === "error");
  assert.ok(errors.some((i) => i.file === path.join(root, "images", "train", "p.png") && /cannot decode/.test(i.message)));
  assert.ok(errors.some((i) => i.file === path.join(root, "images", "train", "q.png") && /no width\/height .* cannot be read/.test(i.message)));
  assert.ok(errors.some((i) => i.file === path.join(root, "images", "val", "r.png") && /41×40 but the image is 40×40/.test(i.message)));
  assert.ok(report.issues.some((i) => i.severity === "warning" && /1 duplicate box .*'cat' ×2/.test(i.message)));
  assert.deepEqual(Object.keys(report.counts), ["train", "train images", "val", "val images"]);
  assert.deepEqual(report.counts.train, { cat: 0, dog: 0 }, "undecodable images count for nothing");
  assert.deepEqual(report.counts["val images"], { cat: 1, dog: 0 });
  const text = formatDataReport(report);
  assert.match(text, /class\s+train\s+train images\s+val\s+val images/);
  assert.match(text, /Found \d+ error\(s\)/);

  // In-memory data: class ids, degenerate and outside boxes are named by split[index]; imbalance warns.
  const px = { kind: "pixels" as const, width: 4, height: 4, channels: 3 as const, data: new Uint8Array(48) };
  const many = Array.from({ length: 11 }, (): DetObject => ({ cls: 0, box: [0.1, 0.1, 0.2, 0.2] }));
  const mem: DetectionDataset = {
    name: "mem", format: "synthetic", classes: ["a", "b"],
    splits: { train: [
      { source: px, width: 4, height: 4, name: "x", objects: [...many.map((o, i) => ({ ...o, box: [0.01 * i, 0, 0.01 * i + 0.5, 0.5] as DetObject["box"] })), { cls: 1, box: [0, 0, 0.5, 0.5] }] },
      { source: { ...px, data: new Uint8Array(48).fill(1) }, width: 4, height: 4, name: "y", objects: [{ cls: 2, box: [0, 0, 1, 1] }, { cls: 0, box: [0.5, 0.5, 0.5, 0.9] }, { cls: 0, box: [0.5, 0.5, 1.1, 0.9] }] },
    ] },
  };
  const r2 = await checkDetectionDataset(mem);
  const msgs = r2.issues.map((i) => `${i.severity} ${i.file ?? ""}: ${i.message}`);
  assert.ok(msgs.some((m) => /^error train\[1\]: object 1: class id 2 is outside 0\.\.1/.test(m)), msgs.join("\n"));
  assert.ok(msgs.some((m) => /^error train\[1\]: object 2: degenerate box/.test(m)));
  assert.ok(msgs.some((m) => /^error train\[1\]: object 3: box .* lies outside the image/.test(m)));
  assert.ok(msgs.some((m) => /^warning : train is imbalanced: 'a' has 13 objects, 'b' 1/.test(m)), msgs.join("\n"));
});

test("class plans: merge, rename, filter renumber contiguously; unknown names and clashes are KilnErrors", () => {
  const classes = ["car", "truck", "person", "bus"];
  assert.deepEqual(planClassEdit(classes, { kind: "merge", into: "vehicle", sources: ["truck", "car", "bus"] }), { classes: ["vehicle", "person"], map: [0, 0, 1, 0] });
  assert.deepEqual(planClassEdit(classes, { kind: "merge", into: "person", sources: ["bus"] }), { classes: ["car", "truck", "person"], map: [0, 1, 2, 2] });
  assert.deepEqual(planClassEdit(classes, { kind: "rename", from: "bus", to: "coach" }), { classes: ["car", "truck", "person", "coach"], map: [0, 1, 2, 3] });
  assert.deepEqual(planClassEdit(classes, { kind: "filter", keep: ["bus", "car"] }), { classes: ["car", "bus"], map: [0, -1, -1, 1] });
  assert.throws(() => planClassEdit(classes, { kind: "rename", from: "bike", to: "x" }), /unknown class 'bike'.*car, truck, person, bus/);
  assert.throws(() => planClassEdit(classes, { kind: "rename", from: "bus", to: "car" }), /already exists.*merge/);
  assert.throws(() => planClassEdit(classes, { kind: "filter", keep: ["cat"] }), KilnError);
});

const snapshot = snapshotFiles;

test("class edits on YOLO: data.yaml names/nc (comments kept), label ids renumbered, backup of each changed file, images untouched", async (t) => {
  const root = await tempDir(t);
  const yaml = await yoloFixture(root);
  await writeFile(yaml, "# my data\npath: .\ntrain: images/train\nval: val.txt\nnc: 3\nnames:\n  0: cat\n  1: dog\n  2: emu\n");
  await writeFile(path.join(root, "labels", "train", "a.txt"), "2 0.5 0.5 0.4 0.2\n1 0.25 0.25 0.1 0.1\n0 0.1 0.1 0.1 0.1\n");
  const before = await snapshot(root);
  const result = await editClasses(yaml, { kind: "filter", keep: ["dog", "emu"] }, new Date(2024, 0, 2, 3, 4, 5));
  assert.deepEqual(result.after, ["dog", "emu"]);
  assert.equal(result.backup, path.join(root, ".kiln-backup-20240102-030405"));
  const text = await readFile(yaml, "utf8");
  assert.match(text, /^# my data/);
  assert.match(text, /nc: 2/);
  assert.match(text, /names:\n\s+0: dog\n\s+1: emu/);
  assert.equal(await readFile(path.join(root, "labels", "train", "a.txt"), "utf8"), "1 0.5 0.5 0.4 0.2\n0 0.25 0.25 0.1 0.1\n");
  assert.equal(await readFile(path.join(root, "labels", "val", "d.crowd.txt"), "utf8"), "", "the crowd sidecar's cat object is removed");
  for (const file of result.changed) {
    const rel = path.relative(root, file);
    assert.equal((await readFile(path.join(result.backup ?? "", rel))).toString("base64"), before.get(rel), `backup of ${rel}`);
  }
  const after = await snapshot(root);
  for (const [rel, bytes] of before) if (rel.endsWith(".png")) assert.equal(after.get(rel), bytes, `${rel} untouched`);
  const ds = await readDetectionDataset(yaml);
  assert.deepEqual(classCounts(ds).map((c) => [c.name, c.instances, c.images]), [["dog", 2, 2], ["emu", 1, 1]]);
});

test("class edits on COCO and VOC; a bad edit or a dataset with errors changes nothing", async (t) => {
  const root = await tempDir(t);
  const coco = path.join(root, "coco");
  await cocoFixture(coco);
  const merged = await editClasses(coco, { kind: "merge", into: "pet", sources: ["dog", "cat"] });
  assert.deepEqual(merged.after, ["pet"]);
  assert.equal(merged.changed.length, 2);
  const ds = await readDetectionDataset(coco);
  assert.deepEqual(ds.classes, ["pet"]);
  assert.deepEqual(byName(ds.splits.train, "p.png").objects.map((o) => o.cls), [0, 0]);

  const voc = path.join(root, "voc");
  await vocFixture(voc);
  const renamed = await editClasses(voc, { kind: "rename", from: "bike", to: "bicycle" });
  assert.deepEqual(renamed.after, ["person", "bicycle", "car"]);
  const xml = await readFile(path.join(voc, "Annotations", "001.xml"), "utf8");
  assert.match(xml, /<name>bicycle<\/name>/);
  assert.match(xml, /<part>\s*<name>head<\/name>\s*<\/part>/, "parts keep their names");
  assert.equal(await readFile(path.join(voc, "classes.txt"), "utf8"), "person\nbicycle\ncar\n");
  const filtered = await editClasses(voc, { kind: "filter", keep: ["person"] });
  assert.deepEqual(filtered.after, ["person"]);
  assert.deepEqual((await readDetectionDataset(voc)).splits.train?.map((s) => s.objects.length), [1, 0]);

  const before = await snapshot(voc);
  await assert.rejects(editClasses(voc, { kind: "rename", from: "nobody", to: "x" }), /unknown class 'nobody'/);
  await writeFile(path.join(voc, "Annotations", "002.xml"), "not xml");
  const broken = await snapshot(voc);
  await assert.rejects(editClasses(voc, { kind: "rename", from: "person", to: "human" }), (e: Error) => e instanceof KilnError && e.message.includes("002.xml:1"));
  assert.deepEqual(await snapshot(voc), broken);
  assert.equal(before.size, broken.size, "no backup folder was made");
});

test("synthetic detection: five classes, 1–6 exact boxes per image, seeded, a prefix of a larger set", () => {
  const ds = syntheticDetectionDataset({ train: 30, val: 5, size: 96, seed: 3 });
  assert.deepEqual(ds.classes, [...SYNTHETIC_DETECTION_CLASSES]);
  assert.equal(ds.classes.length, 5);
  const samples = ds.splits.train ?? [];
  assert.equal(samples.length, 30);
  for (const s of samples) {
    assert.ok(s.objects.length >= 1 && s.objects.length <= 6);
    assert.ok(s.source.kind === "pixels" && s.source.width === 96 && s.width === 96 && s.height === 96);
    for (const o of s.objects) {
      assert.ok(o.box.every((v) => v >= 0 && v <= 1) && o.box[2] > o.box[0] && o.box[3] > o.box[1]);
      assert.ok(o.box.every((v) => Number.isInteger(v * 96)), "tight pixel bounds");
      if (o.cls === 0) assert.ok(Math.abs((o.box[2] - o.box[0]) - (o.box[3] - o.box[1])) * 96 <= 1 + 1e-9, "a circle's box is square, to a pixel");
    }
  }
  assert.ok(new Set(samples.flatMap((s) => s.objects.map((o) => o.cls))).size === 5);
  const again = syntheticDetectionDataset({ train: 40, val: 5, size: 96, seed: 3 });
  assert.deepEqual(again.splits.train?.slice(0, 30).map((s) => s.objects), samples.map((s) => s.objects));
  const a = samples[0].source;
  const b = again.splits.train?.[0].source;
  assert.ok(a.kind === "pixels" && b?.kind === "pixels" && Buffer.from(a.data).equals(Buffer.from(b.data)));
  const other = syntheticDetectionDataset({ train: 1, val: 1, size: 96, seed: 4 });
  assert.notDeepEqual(other.splits.train?.[0].objects, samples[0].objects);
});

test("loadDetectionDataset('synthetic') is the built-in set (400 train, 100 val at 320); fraction samples train only", async () => {
  const half = await loadDetectionDataset("synthetic", { ...opts, fraction: 0.5 });
  assert.equal(half.format, "synthetic");
  assert.ok(Math.abs((half.splits.train?.length ?? 0) - 200) <= 5, String(half.splits.train?.length));
  assert.equal(half.splits.val?.length, 100);
  const s = half.splits.train?.[0].source;
  assert.ok(s?.kind === "pixels" && s.width === 320 && s.height === 320);
});
