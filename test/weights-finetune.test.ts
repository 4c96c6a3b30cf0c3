// Using imported weights end to end: `kiln val` of the Ultralytics checkpoint
// on its four images with their labels (a tiny YOLO dataset) finds most boxes
// where random weights find none, and `kiln train model=best.pt` fine-tunes on
// the built-in detection demo, saying what it transferred.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Rng } from "../src/engine/index.js";
import { encodeSafetensors, type TensorToWrite } from "../src/io/safetensors.js";
import { createModel } from "../src/models/index.js";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";
import { ULTRA } from "./helpers/ultralytics.js";


/** images/val + labels/val + data.yaml from the checkpoint's four labelled images (train is the same four). */
function tinyYoloDataset(root: string): string {
  for (const split of ["train", "val"]) {
    mkdirSync(join(root, "images", split), { recursive: true });
    mkdirSync(join(root, "labels", split), { recursive: true });
    for (const f of readdirSync(join(ULTRA, "images"))) {
      copyFileSync(join(ULTRA, "images", f), join(root, f.endsWith(".txt") ? "labels" : "images", split, f));
    }
  }
  const yaml = join(root, "data.yaml");
  writeFileSync(yaml, "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: red\n  1: green\n  2: blue\n");
  return yaml;
}

test("kiln val of the imported Ultralytics checkpoint on its labelled images: mAP50 > 0.5; random weights: ~0", () => {
  const dir = scratchDir();
  const yaml = tinyYoloDataset(join(dir, "rects"));
  const r = runKiln(["val", "--model", join(ULTRA, "best.pt"), "--data", yaml, "--json"], dir);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout) as { mAP50: number; images: number };
  assert.equal(m.images, 4);
  assert.ok(m.mAP50 > 0.5, `mAP50 ${m.mAP50}`);

  // The same architecture with random weights, as a weights-only safetensors file with kiln's model metadata.
  const model = createModel("yolov8n", { nc: 3, rng: new Rng(1) });
  const tensors = new Map<string, TensorToWrite>([...model.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  const meta = { task: "detect", architecture: "yolov8n", classes: ["red", "green", "blue"], imgsz: 320, channels: 3, normalize: { mean: [0, 0, 0], std: [1, 1, 1] } };
  writeFileSync(join(dir, "random.safetensors"), encodeSafetensors(tensors, { format: "kiln.weights.v1", model: JSON.stringify(meta) }));
  const rr = runKiln(["val", "--model", join(dir, "random.safetensors"), "--data", yaml, "--json"], dir);
  assert.equal(rr.code, 0, rr.stderr);
  const random = JSON.parse(rr.stdout) as { mAP50: number };
  assert.ok(random.mAP50 < 0.05, `random weights mAP50 ${random.mAP50}`);
});

test("kiln train model=best.pt fine-tunes on the detection demo for one epoch and reports transferred N/M; freeze=10 freezes the backbone", () => {
  const dir = scratchDir();
  const r = runKiln([
    "train", `model=${join(ULTRA, "best.pt")}`, "epochs=1", "imgsz=64", "batch=8", "fraction=0.1", "freeze=10",
    "plots=false", "tensorboard=false", "mlflow=false", "--yes",
  ], dir);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 0, out);
  // The demo has its own classes: the class layers are re-initialised, everything else transfers.
  assert.match(out, /transferred 349\/355 items from .*best\.pt \(re-initialised, shapes differ or absent: model\.22\.cv3\.0\.2\.weight/);
  assert.match(out, /freeze=10: \d+ parameters of the first 10 layers frozen/);
  const weights = readdirSync(join(dir, "runs", "detect", "train", "weights"));
  assert.ok(weights.includes("best.safetensors") && weights.includes("last.safetensors"), weights.join(", "));
});
