import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { KilnError } from "../src/errors.js";
import { loadClassificationDataset } from "../src/data/load.js";
import { FASHION_MNIST_CLASSES } from "../src/data/formats/idx.js";
import type { ClassificationDataset, Sample } from "../src/data/types.js";
import { pixels, tempDir, writeIdx, writeSolid } from "./fixtures-data/make.js";

const opts = { seed: 0, valRatio: 0.2, fraction: 1 };
const files = (samples: Sample[] | undefined): string[] => (samples ?? []).map((s) => (s.source.kind === "file" ? path.basename(path.dirname(s.source.path)) + "/" + path.basename(s.source.path) : "pixels"));

/** ROOT/<class>/<nn>.png with `perClass[class]` images each. */
async function classFolders(root: string, perClass: Record<string, number>): Promise<void> {
  let shade = 1;
  for (const [name, count] of Object.entries(perClass)) {
    for (let i = 0; i < count; i++) await writeSolid(path.join(root, name, `${String(i).padStart(2, "0")}.png`), shade++, 4);
  }
}

test("class folders with train/val/test: sorted classes and files, splits kept as they are", async (t) => {
  const root = await tempDir(t);
  await classFolders(path.join(root, "train"), { dog: 2, cat: 3 });
  await classFolders(path.join(root, "val"), { cat: 1, dog: 1 });
  await classFolders(path.join(root, "test"), { dog: 1 });
  const ds = await loadClassificationDataset(root, opts);
  assert.equal(ds.format, "folders");
  assert.deepEqual(ds.classes, ["cat", "dog"]);
  assert.equal(ds.channels, 3);
  assert.deepEqual(files(ds.splits.train), ["cat/00.png", "cat/01.png", "cat/02.png", "dog/00.png", "dog/01.png"]);
  assert.deepEqual(ds.splits.train!.map((s) => s.label), [0, 0, 0, 1, 1]);
  assert.deepEqual(files(ds.splits.val), ["cat/00.png", "dog/00.png"]);
  assert.deepEqual(files(ds.splits.test), ["dog/00.png"]);
  assert.deepEqual(ds.issues, []);
});

test("one folder of classes is split per class with the seed: stable, sorted, and seed-dependent", async (t) => {
  const root = await tempDir(t);
  await classFolders(root, { a: 10, b: 10, c: 5 });
  const first = await loadClassificationDataset(root, { ...opts, valRatio: 0.3 });
  const again = await loadClassificationDataset(root, { ...opts, valRatio: 0.3 });
  const other = await loadClassificationDataset(root, { ...opts, valRatio: 0.3, seed: 1 });
  assert.deepEqual(files(first.splits.val), files(again.splits.val));
  assert.notDeepEqual(files(first.splits.val), files(other.splits.val));
  // round(0.3 × 10) = 3 and round(0.3 × 5) = 2 per class; train keeps the rest.
  const count = (ds: ClassificationDataset, split: "train" | "val", label: number): number => ds.splits[split]!.filter((s) => s.label === label).length;
  assert.deepEqual([0, 1, 2].map((l) => count(first, "val", l)), [3, 3, 2]);
  assert.deepEqual([0, 1, 2].map((l) => count(first, "train", l)), [7, 7, 3]);
  const all = [...files(first.splits.train), ...files(first.splits.val)].sort();
  assert.equal(new Set(all).size, 25);
  for (const split of [first.splits.train!, first.splits.val!]) assert.deepEqual(files(split), [...files(split)].sort());
});

test("fraction and max_per_class sample train per class; val stays whole", async (t) => {
  const root = await tempDir(t);
  await classFolders(path.join(root, "train"), { a: 10, b: 4 });
  await classFolders(path.join(root, "val"), { a: 2, b: 2 });
  const perClass = (ds: ClassificationDataset): number[] => [0, 1].map((l) => ds.splits.train!.filter((s) => s.label === l).length);
  assert.deepEqual(perClass(await loadClassificationDataset(root, { ...opts, fraction: 0.5 })), [5, 2]);
  assert.deepEqual(perClass(await loadClassificationDataset(root, { ...opts, maxPerClass: 3 })), [3, 3]);
  assert.deepEqual(perClass(await loadClassificationDataset(root, { ...opts, fraction: 0.5, maxPerClass: 3 })), [3, 2]);
  assert.deepEqual(perClass(await loadClassificationDataset(root, { ...opts, fraction: 0.01 })), [1, 1]);
  const half = await loadClassificationDataset(root, { ...opts, fraction: 0.5 });
  assert.equal(half.splits.val!.length, 4);
  assert.deepEqual(files(half.splits.train), [...files(half.splits.train)].sort());
  const halfAgain = await loadClassificationDataset(root, { ...opts, fraction: 0.5 });
  assert.deepEqual(files(half.splits.train), files(halfAgain.splits.train));
});

test("bad sampling options are KilnErrors naming the key", async () => {
  await assert.rejects(loadClassificationDataset(undefined, { ...opts, fraction: 0 }), (e: Error) => e instanceof KilnError && /fraction/.test(e.message));
  await assert.rejects(loadClassificationDataset(undefined, { ...opts, valRatio: 1 }), (e: Error) => e instanceof KilnError && /val_ratio/.test(e.message));
  await assert.rejects(loadClassificationDataset(undefined, { ...opts, maxPerClass: 2.5 }), (e: Error) => e instanceof KilnError && /max_per_class/.test(e.message));
});

test("CSV: paths relative to the CSV, class names sorted from train rows, split column", async (t) => {
  const root = await tempDir(t);
  for (const [i, name] of ["x1.png", "x2.png", "y1.png", "y2.png", "t.png"].entries()) await writeSolid(path.join(root, "img", name), i + 1, 4);
  const csv = path.join(root, "labels.csv");
  await writeFile(csv, 'path,label,split\nimg/y1.png,zebra,train\nimg/x1.png,"ant",train\n\nimg/x2.png,ant,val\nimg/y2.png,zebra,val\nimg/t.png,zebra,test\n');
  const ds = await loadClassificationDataset(csv, opts);
  assert.equal(ds.format, "csv");
  assert.deepEqual(ds.classes, ["ant", "zebra"]);
  assert.deepEqual(ds.splits.train!.map((s) => [s.source.kind === "file" && s.source.path, s.label]), [[path.join(root, "img/y1.png"), 1], [path.join(root, "img/x1.png"), 0]]);
  assert.deepEqual(files(ds.splits.val), ["img/x2.png", "img/y2.png"]);
  assert.deepEqual(files(ds.splits.test), ["img/t.png"]);
  assert.deepEqual(ds.issues, []);
});

test("CSV without a split column: val is split off with the seed; classes.txt fixes the class list", async (t) => {
  const root = await tempDir(t);
  const rows = ["path,label"];
  for (let i = 0; i < 10; i++) {
    await writeSolid(path.join(root, `${i}.png`), i + 1, 4);
    rows.push(`${i}.png,${i % 2 === 0 ? "even" : "odd"}`);
  }
  const csv = path.join(root, "data.csv");
  await writeFile(csv, rows.join("\n"));
  const ds = await loadClassificationDataset(csv, { ...opts, valRatio: 0.4 });
  assert.deepEqual(ds.classes, ["even", "odd"]);
  assert.equal(ds.splits.train!.length, 6);
  assert.equal(ds.splits.val!.length, 4);
  await writeFile(path.join(root, "classes.txt"), "odd\neven\nnone\n");
  const listed = await loadClassificationDataset(csv, opts);
  assert.deepEqual(listed.classes, ["odd", "even", "none"]);
  assert.equal(listed.splits.train!.find((s) => s.source.kind === "file" && s.source.path.endsWith("0.png"))!.label, 1);
});

test("CSV: a header without path/label is a KilnError naming the file", async (t) => {
  const csv = path.join(await tempDir(t), "bad.csv");
  await writeFile(csv, "file,class\na.png,cat\n");
  await assert.rejects(loadClassificationDataset(csv, opts), (e: Error) => e instanceof KilnError && e.message.includes(csv) && /path,label/.test(e.message));
});

/** A tiny IDX set: `count` 3×2 images whose pixel p of image i is 10·i + p, labels i % 3. */
async function idxSet(dir: string, prefix: string, count: number, gzip: boolean): Promise<void> {
  await writeIdx(path.join(dir, `${prefix}-images-idx3-ubyte`), [count, 2, 3], pixels(6, count, 1, (p, i) => 10 * i + p), gzip);
  await writeIdx(path.join(dir, `${prefix}-labels-idx1-ubyte`), [count], pixels(count, 1, 1, (i) => i % 3), gzip);
}

test("IDX, gzipped and plain: 1-channel pixel samples, t10k becomes test, val split off train", async (t) => {
  const dir = await tempDir(t);
  await idxSet(dir, "train", 9, true);
  await idxSet(dir, "t10k", 4, false);
  const ds = await loadClassificationDataset(dir, { ...opts, valRatio: 1 / 3 });
  assert.equal(ds.format, "idx");
  assert.equal(ds.channels, 1);
  assert.deepEqual(ds.classes, ["0", "1", "2"]);
  assert.equal(ds.splits.train!.length, 6);
  assert.equal(ds.splits.val!.length, 3);
  assert.deepEqual(ds.splits.test!.map((s) => s.label), [0, 1, 2, 0]);
  const third = ds.splits.test![3].source;
  assert.equal(third.kind, "pixels");
  if (third.kind === "pixels") {
    assert.deepEqual([third.width, third.height, third.channels], [3, 2, 1]);
    assert.deepEqual([...third.data], [30, 31, 32, 33, 34, 35]);
  }
});

test("IDX: Fashion-MNIST names when the folder says fashion; a bad magic number names the file", async (t) => {
  const dir = path.join(await tempDir(t), "fashion-small");
  await idxSet(dir, "train", 10, false);
  await writeIdx(path.join(dir, "train-labels-idx1-ubyte"), [10], pixels(10, 1, 1, (i) => i), false);
  const ds = await loadClassificationDataset(dir, opts);
  assert.deepEqual(ds.classes, [...FASHION_MNIST_CLASSES]);
  const bad = path.join(dir, "train-images-idx3-ubyte");
  await writeFile(bad, new Uint8Array([0, 0, 8, 1, ...new Array<number>(12).fill(0)])); // a labels magic (1 dim) where images (3 dims) belong
  await assert.rejects(loadClassificationDataset(dir, opts), (e: Error) => e instanceof KilnError && e.message.includes(bad) && /magic/.test(e.message));
});

// Needs Debian's dataset-fashion-mnist (.ci/run installs it): missing, the test fails rather than skips.
test("Debian's Fashion-MNIST loads: 60000 train+val, 10000 test, named classes", async () => {
  const ds = await loadClassificationDataset("/usr/share/datasets/fashion-mnist", { ...opts, valRatio: 0.1 });
  assert.equal(ds.splits.train!.length + ds.splits.val!.length, 60000);
  assert.equal(ds.splits.val!.length, 6000); // 600 of each class's 6000
  assert.equal(ds.splits.test!.length, 10000);
  assert.equal(ds.classes[9], "Ankle boot");
});

test("no spec or 'synthetic' gives the built-in dataset; a missing path is a KilnError naming it", async () => {
  const ds = await loadClassificationDataset("synthetic", opts);
  assert.equal(ds.format, "synthetic");
  assert.equal(ds.classes.length, 10);
  assert.equal(ds.splits.train!.length, 2000);
  assert.equal(ds.splits.val!.length, 500);
  const missing = path.resolve("no/such/dataset");
  await assert.rejects(loadClassificationDataset("no/such/dataset", opts), (e: Error) => e instanceof KilnError && e.message.includes(missing) && /Fix:/.test(e.message));
});
