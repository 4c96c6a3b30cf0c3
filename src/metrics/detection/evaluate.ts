// Training-time detection metrics: COCO-exact mAP50 and mAP50-95 (the same
// evaluator as `kiln eval`), Ultralytics-style precision and recall at the
// confidence of the best mean F1, per-class numbers, curves and the confusion
// matrix, from per-image boxes in pixels.
import { RECALL_THRESHOLDS, resultOf, runCocoEval } from "../coco/index.js";
import { confidenceCurves, prCurveAt50 } from "./curves.js";
import { confusionMatrix } from "./confusion.js";
import { toCoco } from "./to-coco.js";
import type { DetClassMetrics, DetImageEval, DetectionMetrics } from "./types.js";

/** Bugs upstream (a class index past the list, a NaN box) fail loudly rather than skew the numbers. */
function checkInputs(images: readonly DetImageEval[], nc: number): void {
  const bad = (what: string, i: number, v: unknown): never => {
    throw new RangeError(`evaluateDetections: image ${i}: ${what} (got ${JSON.stringify(v)}; ${nc} classes)`);
  };
  images.forEach((im, i) => {
    for (const g of im.gt) {
      if (!Number.isInteger(g.cls) || g.cls < 0 || g.cls >= nc) bad("a ground-truth class is out of range", i, g.cls);
      if (!g.box.every(Number.isFinite)) bad("a ground-truth box is not finite", i, g.box);
    }
    for (const d of im.dt) {
      if (!Number.isInteger(d.cls) || d.cls < 0 || d.cls >= nc) bad("a detection class is out of range", i, d.cls);
      if (!d.box.every(Number.isFinite) || !Number.isFinite(d.score)) bad("a detection box or score is not finite", i, d);
    }
  });
}

/** Images holding at least one non-crowd object of each class. */
function imagesPerClass(images: readonly DetImageEval[], nc: number): number[] {
  const counts = new Array<number>(nc).fill(0);
  for (const im of images) {
    const seen = new Set<number>();
    for (const g of im.gt) if (!g.crowd) seen.add(g.cls);
    for (const c of seen) counts[c]++;
  }
  return counts;
}

const meanOf = (values: number[]): number => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);
const orZero = (v: number): number => (v === -1 ? 0 : v);

export function evaluateDetections(images: readonly DetImageEval[], classes: readonly string[]): DetectionMetrics {
  const nc = classes.length;
  checkInputs(images, nc);
  const { gt, dt } = toCoco(images, classes);
  const state = runCocoEval(gt, dt);
  const coco = resultOf(state);
  const curves = confidenceCurves(state);
  const imageCounts = imagesPerClass(images, nc);
  const withInstances = classes.map((_, c) => c).filter((c) => curves.instances[c] > 0);

  const perClass: DetClassMetrics[] = classes.map((name, c) => {
    const has = curves.instances[c] > 0;
    return {
      name,
      images: imageCounts[c],
      instances: curves.instances[c],
      precision: has ? curves.precision[c][curves.best] : NaN,
      recall: has ? curves.recall[c][curves.best] : NaN,
      ap50: has ? coco.perCategoryAp50[String(c)] : NaN,
      ap50_95: has ? coco.perCategoryAp[String(c)] : NaN,
    };
  });
  const mAP50 = orZero(coco.stats[1]);
  const mAP50_95 = orZero(coco.stats[0]);
  return {
    precision: meanOf(withInstances.map((c) => perClass[c].precision)),
    recall: meanOf(withInstances.map((c) => perClass[c].recall)),
    mAP50,
    mAP50_95,
    fitness: 0.1 * mAP50 + 0.9 * mAP50_95,
    perClass,
    curves: { confidence: curves.confidence, precision: curves.precision, recall: curves.recall, f1: curves.f1 },
    prCurve: { recall: Float64Array.from(RECALL_THRESHOLDS), precision: classes.map((_, c) => prCurveAt50(state, c)) },
    confusion: confusionMatrix(images, nc),
  };
}
