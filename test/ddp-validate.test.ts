// Validation sharded over 2 ranks (real `mpirun -np 2` through `kiln train
// ranks=2`): each rank evaluates its part of every val batch, and the parts
// are combined exactly — classification's confusion matrix, top-5 hits and
// loss sums gathered and added; detection's per-image detections gathered in
// the order one process evaluates them, so the COCO evaluation sees the same
// input. The oracle is one process with the same weights: lr0=1e-30 and
// freeze_bn=true leave the weights at their seeded start in both runs
// (asserted, within 1e-30), so every val metric must agree: counts, accuracy, F1,
// mAP exactly, losses up to float rounding. A rank that validated only its
// part without combining, or every rank the whole split, is off by half or
// double counts.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";
import { floats } from "./helpers/ddp.js";
import { ULTRA } from "./helpers/ultralytics.js";

const scratch: string[] = [];
after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));
const QUIET = ["project=runs", "mlflow=false", "tensorboard=false", "plots=false", "yes=true", "optimizer=SGD", "lr0=1e-30", "warmup_epochs=0", "freeze_bn=true", "epochs=1"];

function trainTwice(dir: string, common: string[]): void {
  for (const [name, extra] of [["one", []], ["two", ["ranks=2"]]] as const) {
    const r = runKiln(["train", ...common, `name=${name}`, ...extra], dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }
  const a = floats(join(dir, "runs/one/weights/last.safetensors"));
  const b = floats(join(dir, "runs/two/weights/last.safetensors"));
  for (const [k, v] of a) {
    if (!k.startsWith("model.") && !k.startsWith("ema.")) continue;
    // lr0=1e-30 moves only values near 0 (biases that start at 0, weights of about 1e-35), by about 1e-33
    // and differently by float rounding: far below what a float32 sum with activations can see.
    const w = b.get(k)!;
    let moved = 0;
    v.forEach((x, i) => { moved = Math.max(moved, Math.abs(w[i] - x)); });
    assert.ok(moved < 1e-30, `${k}: the same weights in both runs (differ by ${moved})`);
  }
}

const metricsJson = (dir: string, run: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, "runs", run, "metrics.json"), "utf8")) as Record<string, unknown>;

function assertClose(got: number, want: number, what: string, tolerance = 1e-6): void {
  assert.ok(Number.isFinite(want) && Math.abs(got - want) <= tolerance * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);
}

test("classification: 2 ranks each validating their part give the 1-process metrics and confusion matrix", { timeout: 120_000 }, () => {
  const dir = scratchDir("kiln-ddp-val-");
  scratch.push(dir);
  // 500 val images in batches of 8 (the last holds 4); 40 training images.
  trainTwice(dir, [...QUIET, "imgsz=16", "max_per_class=4", "batch=8"]);
  const one = metricsJson(dir, "one");
  const two = metricsJson(dir, "two");
  const v1 = one.val as Record<string, unknown>;
  const v2 = two.val as Record<string, unknown>;
  assert.equal(v1.count, 500);
  assert.equal(v2.count, 500, "every val image counted once");
  assert.deepEqual(two.confusion, one.confusion);
  for (const k of ["accuracy", "top5", "macroF1"]) assert.equal(v2[k], v1[k], k);
  assert.deepEqual(v2.perClass, v1.perClass);
  assertClose(v2.loss as number, v1.loss as number, "val loss");
});


/** A YOLO dataset of the real Ultralytics checkpoint's four labelled images (train and val: the same four). */
function rectsDataset(root: string): string {
  for (const split of ["train", "val"]) {
    mkdirSync(join(root, "images", split), { recursive: true });
    mkdirSync(join(root, "labels", split), { recursive: true });
    for (const f of readdirSync(join(ULTRA, "images"))) copyFileSync(join(ULTRA, "images", f), join(root, f.endsWith(".txt") ? "labels" : "images", split, f));
  }
  const yaml = join(root, "data.yaml");
  writeFileSync(yaml, "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: red\n  1: green\n  2: blue\n");
  return yaml;
}

test("detection: 2 ranks each validating their part give the 1-process COCO metrics and val losses", { timeout: 180_000 }, () => {
  const dir = scratchDir("kiln-ddp-val-");
  scratch.push(dir);
  // Fine-tuned from a trained Ultralytics yolov8n (mAP50 well above 0 on these images) with lr0=1e-30: both runs
  // validate the trained weights. Val batches of 3 over 4 images: [3, 1], so rank 0's part of the second is
  // empty and rank 1 alone evaluates it (still taking part in the loss's all-reduce).
  const yaml = rectsDataset(join(dir, "rects"));
  trainTwice(dir, [...QUIET, "task=detect", `data=${yaml}`, `model=${join(ULTRA, "best.pt")}`, "imgsz=320", "batch=3", "close_mosaic=0"]);
  const one = metricsJson(dir, "one");
  const two = metricsJson(dir, "two");
  assert.ok((one.mAP50 as number) > 0.3, `a trained detector's mAP50 to compare (${String(one.mAP50)})`);
  for (const k of ["mAP50", "mAP50-95", "precision", "recall"]) assert.equal(two[k], one[k], k);
  assert.deepEqual(two.per_class, one.per_class);
  const values1 = one.values as Record<string, number>;
  const values2 = two.values as Record<string, number>;
  for (const k of ["val/box_loss", "val/cls_loss", "val/dfl_loss"]) assertClose(values2[k], values1[k], k);
});
