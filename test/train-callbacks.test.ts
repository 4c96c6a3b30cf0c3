// The callbacks and metrics against hand-computed values: Ultralytics' warmup
// and decay rules, ReduceLROnPlateau, early stopping's explanation, gradient
// clipping and non-finite skipping, health warnings, classification metrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tensor } from "../src/engine/index.js";
import { KilnError } from "../src/errors.js";
import { EarlyStopping } from "../src/train/early-stopping.js";
import { GradientGuard } from "../src/train/guards.js";
import { HealthWarnings } from "../src/train/health.js";
import { MetricAccumulator } from "../src/train/metrics.js";
import type { EpochMetrics } from "../src/train/trainer.js";
import { ClassifyTask } from "../src/train/classify-task.js";
import { LrSchedule, type ScheduleOptions } from "../src/train/schedule.js";
import type { Trainer } from "../src/train/trainer.js";

/** Just the parts of a Trainer the callbacks read and write. */
function fakeTrainer(fields: Record<string, unknown> = {}): Trainer & { groups: { lr: number; momentum: number }[]; warnings: string[]; stopped: string | null } {
  const t = {
    epoch: 0, batch: 0, iteration: 0, batchesPerEpoch: 200, history: [], best: { fitness: 0, epoch: 0 },
    groups: [0, 1, 2].map(() => ({ lr: NaN, momentum: NaN })), warnings: [] as string[], stopped: null as string | null,
    setOptimizerHyper(f: (i: number) => { lr: number; momentum: number }) {
      this.groups = this.groups.map((_, i) => f(i));
    },
    requestStop(reason: string) {
      this.stopped = reason;
    },
    log: { warn: (s: string) => t.warnings.push(s), line: () => undefined },
    task: new ClassifyTask({ classes: ["a", "b"], imgsz: 8, labelSmoothing: 0, val: { length: 0, epoch: () => { throw new Error("unused"); } } }),
    ...fields,
  };
  return t as unknown as ReturnType<typeof fakeTrainer>;
}

const base: ScheduleOptions = { lr0: 0.01, lrf: 0.1, epochs: 10, momentum: 0.937, warmupEpochs: 1, warmupMomentum: 0.8, warmupBiasLr: 0.1, kind: "linear", biasGroup: 2 };
const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test("warmup: biases from warmup_bias_lr, the rest from 0, momentum from warmup_momentum (nw = max(epochs·nb, 100))", () => {
  const s = new LrSchedule(base);
  const t = fakeTrainer({ iteration: 50 }); // a quarter of nw = 200
  s.onTrainBatchStart(t);
  close(t.groups[2].lr, 0.1 + (0.01 - 0.1) * 0.25);
  close(t.groups[0].lr, 0.01 * 0.25);
  close(t.groups[0].momentum, 0.8 + (0.937 - 0.8) * 0.25);
  // A tiny dataset still warms up for 100 batches.
  const tiny = fakeTrainer({ iteration: 50, batchesPerEpoch: 10 });
  s.onTrainBatchStart(tiny);
  close(tiny.groups[0].lr, 0.01 * 0.5);
});

test("after warmup: linear and cosine decay to lr0·lrf", () => {
  const linear = new LrSchedule(base);
  const t = fakeTrainer({ epoch: 5, iteration: 1000 });
  linear.onTrainBatchStart(t);
  close(t.groups[0].lr, 0.01 * ((1 - 5 / 10) * (1 - 0.1) + 0.1));
  close(t.groups[2].momentum, 0.937);
  const cosine = new LrSchedule({ ...base, kind: "cosine" });
  close(cosine.factor(2), ((1 - Math.cos((2 * Math.PI) / 10)) / 2) * (0.1 - 1) + 1);
  close(cosine.factor(10), 0.1);
  close(linear.factor(10), 0.1);
});

test("plateau: lr × 0.1 after 3 epochs without a better val loss; the state round-trips", () => {
  const s = new LrSchedule({ ...base, kind: "plateau", lrf: 0.001 });
  const t = fakeTrainer();
  const epoch = (loss: number): EpochMetrics => ({ epoch: 0, lr: [], fitness: 0, values: { "train/loss": 1, "val/loss": loss }, detail: null });
  for (const loss of [1, 0.9, 0.95, 0.95]) s.onValidationEnd(t, epoch(loss));
  assert.equal(s.factor(0), 1);
  s.onValidationEnd(t, epoch(0.91));
  close(s.factor(0), 0.1);
  const copy = new LrSchedule({ ...base, kind: "plateau", lrf: 0.001 });
  copy.loadStateDict(JSON.parse(JSON.stringify(s.stateDict())));
  close(copy.factor(0), 0.1);
});

test("early stopping stops after `patience` epochs without improvement and explains itself", () => {
  const stop = new EarlyStopping(3);
  const t = fakeTrainer({ best: { fitness: 0.75, epoch: 4 } });
  stop.onValidationEnd(t, { epoch: 6 } as EpochMetrics);
  assert.equal(t.stopped, null);
  stop.onValidationEnd(t, { epoch: 7 } as EpochMetrics);
  assert.match(t.stopped!, /has not improved for 3 epochs \(best 0\.7500 at epoch 5\); patience=3\. .*patience=0/);
});

test("gradient clipping scales to clip_grad; a non-finite gradient skips the step; too many stop the run", () => {
  const p = tensor([0, 0], [2]);
  p.grad = tensor([3, 4], [2]); // norm 5
  const t = fakeTrainer({ model: { parameters: () => [p] }, batchesPerEpoch: 10 });
  const guard = new GradientGuard(1, 0.2);
  assert.equal(guard.onBeforeOptimizerStep(t), true);
  const scale = 1 / (5 + 1e-6);
  assert.deepEqual([...p.grad.data], [Math.fround(3 * scale), Math.fround(4 * scale)]);
  p.grad = tensor([NaN, 1], [2]);
  assert.equal(guard.onBeforeOptimizerStep(t), false);
  assert.equal(t.warnings.length, 1);
  guard.onNonFiniteBatch(t); // 2 of 10: at the limit
  assert.throws(() => guard.onNonFiniteBatch(t), (e: unknown) => e instanceof KilnError && /3 of 10 batches .* non-finite.*lr0/.test(e.message));
});

test("health warnings: train loss rising 3 epochs; val loss rising while train loss falls", () => {
  const h = new HealthWarnings();
  const rec = (trainLoss: number, valLoss: number) => ({ values: { "train/loss": trainLoss, "val/loss": valLoss } });
  const rising = fakeTrainer({ history: [rec(1, 1), rec(1.1, 1), rec(1.2, 1), rec(1.3, 1)] });
  h.onTrainEpochEnd(rising);
  assert.match(rising.warnings.join("\n"), /train loss has risen for 3 epochs/);
  const overfit = fakeTrainer({ history: [rec(1, 1), rec(0.8, 0.9), rec(0.6, 1.0), rec(0.5, 1.1)] });
  h.onTrainEpochEnd(overfit);
  assert.match(overfit.warnings.join("\n"), /val loss is rising while train loss falls/);
  const fine = fakeTrainer({ history: [rec(1, 1), rec(0.8, 0.9), rec(0.6, 0.8)] });
  h.onTrainEpochEnd(fine);
  assert.deepEqual(fine.warnings, []);
});

test("classification metrics from a hand-checked confusion matrix", () => {
  const m = new MetricAccumulator(["a", "b", "c"]);
  // true a→a, a→b, b→b, c→b  (logits chosen so argmax is the prediction)
  const logits = Float32Array.from([5, 1, 0, 1, 5, 0, 0, 5, 1, 0, 5, 1]);
  m.add(logits, Int32Array.from([0, 0, 1, 2]), 4, 8);
  const r = m.result();
  assert.deepEqual(r.confusion, [[1, 1, 0], [0, 1, 0], [0, 1, 0]]);
  assert.equal(r.accuracy, 0.5);
  assert.equal(r.loss, 2);
  assert.equal(r.top5, 1);
  const [a, b, c] = r.perClass;
  assert.deepEqual([a.precision, a.recall, a.f1], [1, 0.5, 2 / 3]);
  assert.deepEqual([b.precision, b.recall, b.f1], [1 / 3, 1, 0.5]);
  assert.deepEqual([c.precision, c.recall, c.f1], [0, 0, 0]);
  close(r.macroF1, (2 / 3 + 0.5 + 0) / 3);
});
