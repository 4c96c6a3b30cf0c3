// Training-time detection metrics: small hand-computed cases (a perfect
// detection, a false positive, a missed object, two classes, a crowd region),
// mAP equal to cocoEvaluate on the same boxes written as COCO JSON, P/R/F1 at
// the best mean-F1 confidence checked by hand, and the plots decoded by sharp.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { cocoEvaluate, readCocoFiles } from "../src/metrics/coco/index.js";
import { evaluateDetections, interp, smooth, type DetImageEval, type Xyxy } from "../src/metrics/detection/index.js";
import { writeDetectionPlots } from "../src/plots/detection.js";

const close = (a: number, b: number, what: string, tol = 1e-9): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
const FAR: Xyxy = [300, 300, 340, 340];
const BOX: Xyxy = [10, 10, 50, 50];
const BOX2: Xyxy = [100, 20, 160, 90];

function image(gt: DetImageEval["gt"], dt: DetImageEval["dt"]): DetImageEval {
  return { gt, dt, width: 640, height: 480 };
}

test("one perfect detection: everything is 1", () => {
  const m = evaluateDetections([image([{ cls: 0, box: BOX }], [{ cls: 0, box: BOX, score: 0.9 }])], ["a"]);
  close(m.mAP50, 1, "mAP50");
  close(m.mAP50_95, 1, "mAP50-95");
  close(m.fitness, 1, "fitness");
  close(m.precision, 1, "P");
  close(m.recall, 1, "R");
  assert.deepEqual(m.confusion, [[1, 0], [0, 0]]);
  assert.deepEqual(m.perClass[0].images, 1);
  assert.deepEqual(m.perClass[0].instances, 1);
  assert.equal(m.curves.confidence.length, 1000);
  assert.equal(m.curves.confidence[999], 1);
  assert.equal(m.prCurve.recall.length, 101);
});

test("a false positive after the true one: AP stays 1, P is read on the precision ramp", () => {
  const m = evaluateDetections([image([{ cls: 0, box: BOX }], [{ cls: 0, box: BOX, score: 0.9 }, { cls: 0, box: FAR, score: 0.8 }])], ["a"]);
  close(m.mAP50, 1, "mAP50"); // the FP comes after recall is complete
  assert.deepEqual(m.confusion, [[1, 1], [0, 0]]); // the FP: predicted a, true background
  // precision is 1/2 up to conf 0.8, then rises linearly to 1 at 0.9; recall is 1 up to 0.9
  close(m.recall, 1, "R");
  const c = confidenceAtBest(m);
  assert.ok(c > 0.8 && c < 0.9, `best confidence ${c}`);
  close(m.precision, 1 - (0.5 / 0.1) * (0.9 - c), "P on the ramp", 1e-12);
  close(m.perClass[0].precision, m.precision, "per-class P");
});

/** The confidence where the 0.1-smoothed mean F1 (one class here) peaks: recomputed from the curves. */
function confidenceAtBest(m: ReturnType<typeof evaluateDetections>): number {
  const s = smoothF1(m);
  let best = 0;
  for (let i = 1; i < s.length; i++) if (s[i] > s[best]) best = i;
  return m.curves.confidence[best];
}
function smoothF1(m: ReturnType<typeof evaluateDetections>): Float64Array {
  return smooth(m.curves.f1[0], 0.1);
}

test("a missed object: AP50 = 51/101, recall 1/2, the miss counted as background", () => {
  const m = evaluateDetections([image([{ cls: 0, box: BOX }, { cls: 0, box: BOX2 }], [{ cls: 0, box: BOX, score: 0.7 }])], ["a"]);
  // precision 1 at recall thresholds 0..0.50 (51 of 101), 0 above
  close(m.mAP50, 51 / 101, "mAP50");
  close(m.mAP50_95, 51 / 101, "mAP50-95");
  close(m.recall, 0.5, "R");
  close(m.precision, 1, "P");
  assert.deepEqual(m.confusion, [[1, 0], [1, 0]]);
  assert.equal(m.perClass[0].instances, 2);
});

test("two classes: P and R per class at the best mean F1, by hand", () => {
  // class a: 2 objects, both found (scores 0.9, 0.3): P 1 everywhere, R 1 below 0.3
  // class b: 1 object; an FP at 0.7 then the hit at 0.5: below 0.5, P 1/2 and R 1
  // mean F1 is (1 + 2/3) / 2 on [0, 0.3], its maximum: the first point, confidence 0
  const m = evaluateDetections([
    image([{ cls: 0, box: BOX }, { cls: 1, box: BOX2 }], [{ cls: 0, box: BOX, score: 0.9 }, { cls: 1, box: BOX2, score: 0.5 }, { cls: 1, box: FAR, score: 0.7 }]),
    image([{ cls: 0, box: BOX2 }], [{ cls: 0, box: BOX2, score: 0.3 }]),
  ], ["a", "b"]);
  close(m.perClass[0].precision, 1, "P a");
  close(m.perClass[0].recall, 1, "R a");
  close(m.perClass[1].precision, 0.5, "P b");
  close(m.perClass[1].recall, 1, "R b");
  close(m.precision, 0.75, "P");
  close(m.recall, 1, "R");
  close(m.curves.f1[0][0], 1, "F1 a");
  close(m.curves.f1[1][0], 2 / 3, "F1 b");
  close(m.perClass[0].ap50, 1, "AP50 a");
  close(m.perClass[1].ap50, 0.5, "AP50 b"); // envelope: 1/2 from recall 0 to 1
  close(m.mAP50, 0.75, "mAP50");
  close(m.mAP50_95, 0.75, "mAP50-95");
  close(m.fitness, 0.75, "fitness");
  assert.deepEqual(m.perClass.map((c) => c.images), [2, 1]);
  assert.deepEqual(m.confusion, [[2, 0, 0], [0, 1, 1], [0, 0, 0]]);
  // the PR curve at IoU .5 is COCO's: b's precision is 1/2 at every recall threshold
  assert.ok(m.prCurve.precision[1].every((v) => Math.abs(v - 0.5) < 1e-12));
});

test("a detection of the wrong class is a confusion, not a hit; a class without objects has NaN metrics", () => {
  const m = evaluateDetections([image([{ cls: 0, box: BOX }], [{ cls: 1, box: BOX, score: 0.9 }])], ["a", "b"]);
  close(m.mAP50, 0, "mAP50");
  assert.deepEqual(m.confusion, [[0, 0, 0], [1, 0, 0], [0, 0, 0]]);
  assert.ok(Number.isNaN(m.perClass[1].ap50) && Number.isNaN(m.perClass[1].precision));
  assert.equal(m.perClass[1].instances, 0);
  close(m.precision, 0, "P"); // a's curves are 0: it has no detection
});

test("a detection in a crowd region is neither TP nor FP", () => {
  const crowd: Xyxy = [200, 200, 400, 400];
  const m = evaluateDetections([image(
    [{ cls: 0, box: BOX }, { cls: 0, box: crowd, crowd: true }],
    [{ cls: 0, box: [250, 250, 300, 300], score: 0.95 }, { cls: 0, box: BOX, score: 0.9 }],
  )], ["a"]);
  close(m.mAP50, 1, "mAP50");
  close(m.precision, 1, "P");
  assert.equal(m.perClass[0].instances, 1);
});

test("no objects and no detections at all: zeros, not NaN or -1", () => {
  const m = evaluateDetections([image([], [])], ["a"]);
  assert.deepEqual([m.precision, m.recall, m.mAP50, m.mAP50_95, m.fitness], [0, 0, 0, 0, 0]);
});

test("np.interp semantics: ties take the last point, outside takes left/right", () => {
  const xp = [-0.9, -0.9, -0.5];
  const fp = [1, 0.8, 0.4];
  assert.equal(interp(-0.95, xp, fp, 7), 7);
  assert.equal(interp(-0.9, xp, fp, 7), 0.8);
  close(interp(-0.7, xp, fp, 7), 0.6, "between");
  assert.equal(interp(-0.1, xp, fp, 7), 0.4);
});

/** A seeded scene: several classes, crowds, misses, duplicates, false positives. */
function scene(seed: number, n: number, nc: number): DetImageEval[] {
  let s = seed;
  const rnd = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const out: DetImageEval[] = [];
  for (let i = 0; i < n; i++) {
    const im = image([], []);
    for (let j = Math.floor(rnd() * 6); j > 0; j--) {
      const cls = Math.floor(rnd() * nc);
      const x = rnd() * 500;
      const y = rnd() * 380;
      const w = 4 + rnd() * 120;
      const h = 4 + rnd() * 100;
      im.gt.push({ cls, box: [x, y, x + w, y + h], crowd: rnd() < 0.05 });
      for (let k = rnd() < 0.2 ? 2 : rnd() < 0.85 ? 1 : 0; k > 0; k--) {
        const e = (): number => (rnd() - 0.5) * 0.3 * w;
        im.dt.push({ cls: rnd() < 0.9 ? cls : Math.floor(rnd() * nc), box: [x + e(), y + e(), x + w + e(), y + h + e()], score: Math.round(rnd() * 100) / 100 });
      }
    }
    for (let j = Math.floor(rnd() * 3); j > 0; j--) {
      const x = rnd() * 500;
      const y = rnd() * 400;
      im.dt.push({ cls: Math.floor(rnd() * nc), box: [x, y, x + 10 + rnd() * 80, y + 10 + rnd() * 60], score: rnd() * 0.5 });
    }
    out.push(im);
  }
  return out;
}

test("mAP is cocoEvaluate's on the same boxes written as COCO JSON files", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-detm-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const classes = ["a", "b", "c", "d"];
  const images = scene(7, 120, classes.length);
  const m = evaluateDetections(images, classes);
  // the files a user would hand to `kiln eval`, built here independently of toCoco
  let id = 0;
  const gt = {
    images: images.map((im, i) => ({ id: 1000 + i, width: im.width, height: im.height })),
    annotations: images.flatMap((im, i) => im.gt.map((g) => {
      const [x1, y1, x2, y2] = g.box;
      return { id: ++id, image_id: 1000 + i, category_id: g.cls + 1, bbox: [x1, y1, x2 - x1, y2 - y1], area: (x2 - x1) * (y2 - y1), iscrowd: g.crowd ? 1 : 0 };
    })),
    categories: classes.map((name, c) => ({ id: c + 1, name })),
  };
  const dt = images.flatMap((im, i) => im.dt.map((d) => ({ image_id: 1000 + i, category_id: d.cls + 1, bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]], score: d.score })));
  writeFileSync(join(dir, "gt.json"), JSON.stringify(gt));
  writeFileSync(join(dir, "dt.json"), JSON.stringify(dt));
  const files = await readCocoFiles(join(dir, "gt.json"), join(dir, "dt.json"));
  const coco = cocoEvaluate(files.gt, files.dt);
  assert.ok(m.mAP50 > 0.2 && m.mAP50 < 0.95, `a scene with errors: mAP50 ${m.mAP50}`);
  assert.equal(m.mAP50, coco.stats[1]);
  assert.equal(m.mAP50_95, coco.stats[0]);
  classes.forEach((_, c) => {
    assert.equal(m.perClass[c].ap50, coco.perCategoryAp50[String(c + 1)]);
    assert.equal(m.perClass[c].ap50_95, coco.perCategoryAp[String(c + 1)]);
  });
  // P and R: the means of the per-class values at one shared confidence
  const withGt = m.perClass.filter((c) => c.instances > 0);
  close(m.precision, withGt.reduce((a, c) => a + c.precision, 0) / withGt.length, "P mean");
  close(m.recall, withGt.reduce((a, c) => a + c.recall, 0) / withGt.length, "R mean");
  // every non-crowd object lands once in a column of the confusion matrix
  const objects = images.reduce((a, im) => a + im.gt.filter((g) => !g.crowd).length, 0);
  const columnSum = m.confusion.reduce((a, row) => a + row.slice(0, classes.length).reduce((x, y) => x + y, 0), 0);
  assert.equal(columnSum, objects);
});

test("the plots are written and decode as real images", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-detplots-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const classes = ["cat", "dog", "car <&>"];
  await writeDetectionPlots(dir, evaluateDetections(scene(3, 60, classes.length), classes), classes);
  for (const name of ["BoxPR_curve.png", "BoxF1_curve.png", "BoxP_curve.png", "BoxR_curve.png", "confusion_matrix.png"]) {
    const { data, info } = await sharp(readFileSync(join(dir, name))).raw().toBuffer({ resolveWithObject: true });
    assert.ok(info.width >= 400 && info.height >= 300, `${name}: ${info.width}x${info.height}`);
    let min = 255;
    for (const v of data) if (v < min) min = v;
    assert.ok(min < 100, `${name} has dark pixels (lines, text)`);
    // the thick mean line is pure blue somewhere in the curve plots
    if (name.startsWith("Box")) {
      let blue = 0;
      for (let i = 0; i < data.length; i += info.channels) if (data[i] < 40 && data[i + 1] < 40 && data[i + 2] > 200) blue++;
      assert.ok(blue > 100, `${name}: the mean curve is drawn (${blue} blue pixels)`);
    }
  }
});

test("many classes: grey unlabelled curves, still one image", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-detplots-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const classes = Array.from({ length: 30 }, (_, i) => `class${i}`);
  await writeDetectionPlots(dir, evaluateDetections(scene(5, 80, classes.length), classes), classes);
  const meta = await sharp(readFileSync(join(dir, "BoxPR_curve.png"))).metadata();
  assert.ok((meta.width ?? 0) > 400);
});
