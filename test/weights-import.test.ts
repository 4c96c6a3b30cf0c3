// Weight import against PyTorch's own answers: torchvision resnet18 (plain
// state_dict whose tensors are strided views of one storage) and
// mobilenet_v2 (inside {"model": …}), saved by torch.save in
// test/fixtures/generate_weights.py; and the real Ultralytics checkpoint in
// ../shared/data (whole pickled FP16 modules) against its raw output and
// Ultralytics' own predictions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { noGrad, tensor, tidy } from "../src/engine/index.js";
import { readSafetensorsSync, toFloat32Tensors } from "../src/io/safetensors.js";
import { createModel, type Classifier, type YOLOv8 } from "../src/models/index.js";
import { decodeDetections } from "../src/models/yolo/decode.js";
import { formatTransfer, freezeLayers, readWeights, transferWeights } from "../src/models/weights.js";
import { predictImages } from "../src/train/predict.js";
import { FIXTURES_DIR } from "./helpers/fixtures.js";
import { imageTensor, ULTRA } from "./helpers/ultralytics.js";

const W = join(FIXTURES_DIR, "weights");

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function classifierMatchesTorch(file: string, io: string): void {
  const w = readWeights(join(W, file));
  const model = createModel(w.architecture as "resnet18", { nc: w.nc }) as Classifier;
  model.loadStateDict(w.tensors); // strict: every name and shape of torchvision's state dict
  model.eval();
  const ref = toFloat32Tensors(readSafetensorsSync(join(W, io)));
  const x = ref.get("input")!, y = ref.get("output")!;
  const out = noGrad(() => tidy(() => model.forward(tensor(x.data.slice(), x.shape)).toArray()));
  const err = maxAbsDiff(out, y.data);
  assert.ok(err < 1e-4, `${file}: max |kiln − PyTorch| = ${err}`);
  model.dispose();
}

test("a torchvision resnet18 saved by torch.save (views into one storage) imports by name and matches PyTorch within 1e-4", () => {
  const w = readWeights(join(W, "resnet18.pt"));
  assert.equal(w.architecture, "resnet18");
  assert.equal(w.nc, 1000);
  assert.equal(w.info.layout, "state_dict");
  assert.equal(w.tensors.size, 122);
  classifierMatchesTorch("resnet18.pt", "resnet18_io.safetensors");
});

test("a torchvision mobilenet_v2 inside {'model': state_dict} imports and matches PyTorch within 1e-4", () => {
  const w = readWeights(join(W, "mobilenet_v2.pt"));
  assert.equal(w.architecture, "mobilenet_v2");
  assert.equal(w.nc, 10);
  assert.equal(w.info.layout, "dict:model");
  classifierMatchesTorch("mobilenet_v2.pt", "mobilenet_v2_io.safetensors");
});

test("the Ultralytics checkpoint's pickled FP16 modules harvest into kiln's yolov8n names (all 355 of keys.json)", () => {
  const w = readWeights(join(ULTRA, "best.pt"));
  const keys = JSON.parse(readFileSync(join(ULTRA, "keys.json"), "utf8")) as { state_dict: Record<string, number[]> };
  assert.equal(w.architecture, "yolov8n");
  assert.equal(w.task, "detect");
  assert.deepEqual(w.names, ["red", "green", "blue"]);
  assert.equal(w.imgsz, 320);
  assert.deepEqual([...w.tensors.keys()].sort(), Object.keys(keys.state_dict).sort());
  for (const [k, shape] of Object.entries(keys.state_dict)) assert.deepEqual(w.tensors.get(k)!.shape, shape, k);
});

test("kiln's yolov8n with the Ultralytics weights gives the checkpoint's raw output within 1e-3", async () => {
  const w = readWeights(join(ULTRA, "best.pt"));
  const model = createModel("yolov8n", { nc: 3 }) as YOLOv8;
  model.loadStateDict(w.tensors);
  model.eval();
  const x = await imageTensor(join(ULTRA, "images", "0000.jpg"));
  const rows = noGrad(() => tidy(() => decodeDetections(model.forward(tensor(x, [1, 3, 320, 320])), model.detect.strides, 3, 320)[0]));
  const raw = JSON.parse(readFileSync(join(ULTRA, "raw_output_0000.json"), "utf8")) as { shape: number[]; output: number[] };
  assert.deepEqual(raw.shape, [1, 7, 2100]);
  const flat = raw.output;
  assert.equal(flat.length, 7 * 2100);
  const A = 2100;
  // kiln's rows are [A, 4 + nc] xyxy; the reference is [7, A] cx, cy, w, h then class probabilities.
  let err = 0;
  for (let a = 0; a < A; a++) {
    const [x1, y1, x2, y2] = [rows[a * 7], rows[a * 7 + 1], rows[a * 7 + 2], rows[a * 7 + 3]];
    const mine = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, rows[a * 7 + 4], rows[a * 7 + 5], rows[a * 7 + 6]];
    for (let c = 0; c < 7; c++) err = Math.max(err, Math.abs(mine[c] - flat[c * A + a]));
  }
  assert.ok(err < 1e-3, `max |kiln − Ultralytics| over the raw output = ${err}`);
  model.dispose();
});

test("kiln predict with the Ultralytics checkpoint matches Ultralytics' predictions (classes, boxes within 1 px, confidences within 1e-3)", async () => {
  const ref = JSON.parse(readFileSync(join(ULTRA, "predictions.json"), "utf8")) as {
    predictions: Record<string, { xyxy: number[][]; conf: number[]; cls: number[] }>;
  };
  const r = await predictImages({ model: join(ULTRA, "best.pt"), source: join(ULTRA, "images"), conf: 0.25, iou: 0.7 });
  const byFile = new Map(r.detections!.map((d) => [d.file.split("/").pop()!, d.detections]));
  for (const [file, want] of Object.entries(ref.predictions)) {
    const got = byFile.get(file)!;
    assert.equal(got.length, want.conf.length, `${file}: ${got.length} boxes, Ultralytics ${want.conf.length}`);
    // Both sorted by confidence (descending).
    got.forEach((d, i) => {
      assert.equal(d.cls, want.cls[i], `${file} box ${i}: class`);
      assert.ok(Math.abs(d.score - want.conf[i]) < 1e-3, `${file} box ${i}: confidence ${d.score} vs ${want.conf[i]}`);
      d.box.forEach((v, j) => assert.ok(Math.abs(v - want.xyxy[i][j]) < 1, `${file} box ${i}: coordinate ${j} ${v} vs ${want.xyxy[i][j]}`));
    });
  }
});

test("a new nc transfers every matching weight and re-initialises the class layers, reported as transferred N/M", () => {
  const w = readWeights(join(ULTRA, "best.pt"));
  const model = createModel("yolov8n", { nc: 10 }) as YOLOv8;
  const r = transferWeights(model, w.tensors);
  // The three class branches' last 1×1 conv (weight and bias) depend on nc; everything else transfers.
  assert.deepEqual(r.skipped.sort(), [0, 1, 2].flatMap((i) => [`model.22.cv3.${i}.2.bias`, `model.22.cv3.${i}.2.weight`]).sort());
  assert.equal(r.total, 355);
  assert.equal(r.transferred, 349);
  assert.match(formatTransfer(r, "best.pt"), /^transferred 349\/355 items from best\.pt \(re-initialised.*model\.22\.cv3\.0\.2\.weight/);
  const stem = model.stateDict().get("model.0.conv.weight")!;
  assert.deepEqual(Array.from(stem.data.subarray(0, 8)), Array.from(w.tensors.get("model.0.conv.weight")!.data.subarray(0, 8)));
  const frozen = freezeLayers(model, 10);
  assert.ok(frozen.length > 0 && frozen.every((n) => /^model\.[0-9]\./.test(n)));
  for (const [n, p] of model.namedParameters()) if (/^model\.[0-9]\./.test(n)) assert.equal(p.requiresGrad, false, n);
  assert.equal(model.stateDict().get("model.22.cv2.0.0.conv.weight")!.requiresGrad, true);
  model.dispose();
});
