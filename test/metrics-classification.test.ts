// Classification metrics against scikit-learn's answers (test/fixtures/metrics/*.json, made by
// test/fixtures/generate_metrics.py) and against a case computed by hand below.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  classificationReport, classificationReportFromPredictions, confusionMatrix, normalizeRows,
  predictionsFromLogits, sklearnReportDict, worstClasses, writeClassificationReport, type ClassificationReport,
} from "../src/metrics/index.js";

const METRICS_DIR = fileURLToPath(new URL("../../test/fixtures/metrics/", import.meta.url));
const TOL = 1e-12;

interface Averages { precision: number; recall: number; f1: number }
interface Fixture {
  name: string;
  classes: string[];
  y_true: number[];
  y_pred: number[];
  logits: number[];
  accuracy: number;
  top5: number;
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
  macro: Averages;
  weighted: Averages;
  confusion: number[][];
  confusion_normalized: number[][];
  report: Record<string, number | Record<string, number>>;
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: ${actual} vs sklearn ${expected}`);
}

function closeAll(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((v, i) => close(v, expected[i], `${what}[${i}]`));
}

function checkAgainst(r: ClassificationReport, f: Fixture): void {
  const what = f.name;
  assert.deepEqual(r.confusion, f.confusion, `${what}: confusion`);
  assert.equal(r.count, f.y_true.length);
  close(r.accuracy, f.accuracy, `${what} accuracy`);
  closeAll(r.perClass.map((m) => m.precision), f.precision, `${what} precision`);
  closeAll(r.perClass.map((m) => m.recall), f.recall, `${what} recall`);
  closeAll(r.perClass.map((m) => m.f1), f.f1, `${what} f1`);
  assert.deepEqual(r.perClass.map((m) => m.support), f.support, `${what}: support`);
  for (const avg of ["macro", "weighted"] as const) {
    close(r[avg].precision, f[avg].precision, `${what} ${avg} precision`);
    close(r[avg].recall, f[avg].recall, `${what} ${avg} recall`);
    close(r[avg].f1, f[avg].f1, `${what} ${avg} f1`);
    assert.equal(r[avg].support, f.y_true.length);
  }
  normalizeRows(r.confusion).forEach((row, i) => closeAll(row, f.confusion_normalized[i], `${what} normalized row ${i}`));

  // The report dictionary: same keys as sklearn's, except "accuracy" where sklearn says "micro avg".
  const ours = sklearnReportDict(r);
  const theirs: Fixture["report"] = {};
  for (const [key, value] of Object.entries(f.report)) {
    if (key === "micro avg" && typeof value === "object") {
      close(value.recall, f.accuracy, `${what} micro recall`);
      close(value["f1-score"], f.accuracy, `${what} micro f1`);
      theirs.accuracy = value.precision;
    } else {
      theirs[key] = value;
    }
  }
  assert.deepEqual(Object.keys(ours), Object.keys(theirs), `${what}: report keys`);
  for (const [key, expected] of Object.entries(theirs)) {
    const actual = ours[key];
    if (typeof expected === "number") {
      assert.equal(typeof actual, "number");
      close(actual as number, expected, `${what} report ${key}`);
    } else {
      assert.equal(typeof actual, "object");
      for (const [field, v] of Object.entries(expected)) {
        close((actual as unknown as Record<string, number>)[field], v, `${what} report ${key}.${field}`);
      }
    }
  }
}

const fixtures: Fixture[] = readdirSync(METRICS_DIR)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(METRICS_DIR, f), "utf8")) as Fixture);

test("the fixtures are there (all five cases)", () => {
  assert.deepEqual(fixtures.map((f) => f.name), ["hand3", "never_predicted", "no_support", "random10", "single_class"]);
});

for (const f of fixtures) {
  test(`matches sklearn from predictions and logits: ${f.name}`, () => {
    const r = classificationReportFromPredictions(f.y_true, f.y_pred, f.classes, { logits: f.logits });
    checkAgainst(r, f);
    close(r.top5 ?? NaN, f.top5, `${f.name} top5`);
  });

  test(`matches sklearn from a confusion matrix and a top-5 count: ${f.name}`, () => {
    const { predictions, topkCorrect } = predictionsFromLogits(f.logits, f.y_true, f.classes.length, 5);
    assert.deepEqual([...predictions], f.y_pred);
    const r = classificationReport(f.confusion, f.classes, { top5Correct: topkCorrect });
    checkAgainst(r, f);
    close(r.top5 ?? NaN, f.top5, `${f.name} top5`);
  });
}

test("random10 is an ordinary case: top-5 between accuracy and 1", () => {
  const f = fixtures.find((x) => x.name === "random10");
  assert.ok(f && f.top5 < 1 && f.top5 > f.accuracy);
});

test("a hand-computed case", () => {
  // true: a a a a b b c   pred: a a b c b a c   (class d: no samples, never predicted)
  const r = classificationReportFromPredictions([0, 0, 0, 0, 1, 1, 2], [0, 0, 1, 2, 1, 0, 2], ["a", "b", "c", "d"], {
    top5Hits: [true, true, true, true, true, false, true],
  });
  assert.deepEqual(r.confusion, [[2, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]);
  assert.equal(r.accuracy, 4 / 7);
  assert.equal(r.top5, 6 / 7);
  // a: tp 2, predicted 3, support 4 -> p 2/3, r 1/2, f1 4/7
  // b: tp 1, predicted 2, support 2 -> p 1/2, r 1/2, f1 1/2
  // c: tp 1, predicted 2, support 1 -> p 1/2, r 1,   f1 2/3
  // d: nothing -> 0, 0, 0 (and it counts in the macro average, as sklearn with labels=range(4))
  const expected = [[2 / 3, 1 / 2, 4 / 7, 4], [1 / 2, 1 / 2, 1 / 2, 2], [1 / 2, 1, 2 / 3, 1], [0, 0, 0, 0]];
  r.perClass.forEach((m, i) => closeAll([m.precision, m.recall, m.f1, m.support], expected[i], `class ${m.name}`));
  closeAll([r.macro.precision, r.macro.recall, r.macro.f1], [(2 / 3 + 1 / 2 + 1 / 2) / 4, 2 / 4, (4 / 7 + 1 / 2 + 2 / 3) / 4], "macro");
  closeAll(
    [r.weighted.precision, r.weighted.recall, r.weighted.f1],
    [(4 * 2 / 3 + 2 * 1 / 2 + 1 / 2) / 7, 4 / 7, (4 * 4 / 7 + 2 * 1 / 2 + 2 / 3) / 7],
    "weighted",
  );
  // worst: b (0.5), a (4/7), c (2/3); d has no support and is left out
  assert.deepEqual(r.worst.map((m) => m.name), ["b", "a", "c"]);
});

test("worst classes: lowest F1 first, ties by name, only classes with support, at most k", () => {
  const m = (name: string, f1: number, support = 1) => ({ name, precision: 0, recall: 0, f1, support });
  const list = [m("zebra", 0.2), m("ant", 0.2), m("gone", 0, 0), m("cow", 0.9), m("bee", 0.1), m("emu", 0.5)];
  assert.deepEqual(worstClasses(list, 3).map((x) => x.name), ["bee", "ant", "zebra"]);
  assert.deepEqual(worstClasses(list).map((x) => x.name), ["bee", "ant", "zebra", "emu", "cow"]);
});

test("no samples: rates are 0, not NaN; top-5 is null when unknown", () => {
  const r = classificationReport([[0, 0], [0, 0]], ["a", "b"]);
  assert.equal(r.accuracy, 0);
  assert.equal(r.top5, null);
  assert.deepEqual(r.macro, { precision: 0, recall: 0, f1: 0, support: 0 });
  assert.deepEqual(r.weighted, { precision: 0, recall: 0, f1: 0, support: 0 });
  assert.deepEqual(r.worst, []);
});

test("ties in logits count for top-k; argmax takes the first maximum", () => {
  // 6 classes, every score equal: argmax 0, and no class scores strictly higher than the truth
  const { predictions, topkCorrect } = predictionsFromLogits(new Float32Array(12), [5, 3], 6, 5);
  assert.deepEqual([...predictions], [0, 0]);
  assert.equal(topkCorrect, 2);
  // truth (class 0) is 6th of 6: a miss
  const { topkCorrect: miss } = predictionsFromLogits([0, 1, 2, 3, 4, 5], [0], 6, 5);
  assert.equal(miss, 0);
});

test("bad input is refused", () => {
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), /not a class index below 3/);
  assert.throws(() => confusionMatrix([0], [0, 1], 3), /1 targets but 2 predictions/);
  assert.throws(() => classificationReport([[1, 0]], ["a"]), /1×1/);
  assert.throws(() => predictionsFromLogits([0, 1, 2], [0], 2), /expected 1×2/);
});

test("writes classification_report.json and confusion_matrix.json", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-metrics-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = classificationReport([[3, 1], [0, 0]], ["cat", "dog"]);
  writeClassificationReport(dir, r);
  assert.deepEqual(readdirSync(dir).sort(), ["classification_report.json", "confusion_matrix.json"]);
  const report = JSON.parse(readFileSync(join(dir, "classification_report.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual(Object.keys(report), ["cat", "dog", "accuracy", "macro avg", "weighted avg"]);
  assert.deepEqual(report.cat, { precision: 1, recall: 0.75, "f1-score": 1.5 / 1.75, support: 4 });
  assert.deepEqual(report.dog, { precision: 0, recall: 0, "f1-score": 0, support: 0 });
  assert.equal(report.accuracy, 0.75);
  const cm = JSON.parse(readFileSync(join(dir, "confusion_matrix.json"), "utf8")) as unknown;
  assert.deepEqual(cm, { classes: ["cat", "dog"], matrix: [[3, 1], [0, 0]], normalized: [[0.75, 0.25], [0, 0]] });
});
