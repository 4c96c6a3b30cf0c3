// ONNX export checked by onnxruntime-node: the exported graph of each model,
// run by onnxruntime, must give kiln's own output within 1e-4 (and, for the
// imported checkpoints, PyTorch's / Ultralytics' answers). Also --dynamic,
// --half, --nms, --format safetensors, and `kiln predict --model x.onnx`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { noGrad, tensor, tidy } from "../src/engine/index.js";
import { readOnnxMetadata } from "../src/io/onnx/runtime.js";
import { readSafetensorsSync, toFloat32Tensors } from "../src/io/safetensors.js";
import { createModel, type Classifier, type YOLOv8 } from "../src/models/index.js";
import { decodeDetections } from "../src/models/yolo/decode.js";
import { readWeights } from "../src/models/weights.js";
import { exportWeights } from "../src/models/weights-export.js";
import { FIXTURES_DIR } from "./helpers/fixtures.js";
import { runKiln } from "./helpers/kiln-cli.js";
import { imageTensor, ULTRA } from "./helpers/ultralytics.js";

const W = join(FIXTURES_DIR, "weights");
const dir = mkdtempSync(join(tmpdir(), "kiln-export-"));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function runOnnx(path: string, x: Float32Array, shape: number[]): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(path);
  return session.run({ images: new ort.Tensor("float32", x, shape) });
}

function kilnClassifier(file: string): Classifier {
  const w = readWeights(file);
  const m = createModel(w.architecture as "resnet18", { nc: w.nc }) as Classifier;
  m.loadStateDict(w.tensors);
  return m.eval();
}

test("resnet18 (imported from torch.save) exported to ONNX: onnxruntime equals kiln within 1e-4, and PyTorch's answer", async () => {
  const out = join(dir, "resnet18.onnx");
  const r = exportWeights({ model: join(W, "resnet18.pt"), format: "onnx", output: out });
  assert.equal(r.path, out);
  assert.deepEqual(r.outputs, ["output0"]);
  const io = toFloat32Tensors(readSafetensorsSync(join(W, "resnet18_io.safetensors")));
  const x = io.get("input")!;
  const onnx = (await runOnnx(out, x.data.slice(), [1, 3, 224, 224])).output0;
  assert.deepEqual(onnx.dims, [1, 1000]);
  const model = kilnClassifier(join(W, "resnet18.pt"));
  const kiln = noGrad(() => tidy(() => model.forward(tensor(x.data.slice(), x.shape)).toArray()));
  const err = maxAbsDiff(onnx.data as Float32Array, kiln);
  assert.ok(err < 1e-4, `max |onnxruntime − kiln| = ${err}`);
  assert.ok(maxAbsDiff(onnx.data as Float32Array, io.get("output")!.data) < 1e-4);
  const meta = readOnnxMetadata(readFileSync(out));
  assert.equal(JSON.parse(meta.kiln_model).architecture, "resnet18");
});

test("mobilenet_v2 with --dynamic runs a batch of 2 (each row equal to kiln's within 1e-4); --half halves the file", async () => {
  const out = join(dir, "mobilenet.onnx");
  exportWeights({ model: join(W, "mobilenet_v2.pt"), format: "onnx", output: out, dynamic: true, imgsz: 96 });
  const io = toFloat32Tensors(readSafetensorsSync(join(W, "mobilenet_v2_io.safetensors")));
  const one = io.get("input")!.data;
  const two = new Float32Array(2 * one.length);
  two.set(one);
  two.set(one.map((v) => -v), one.length);
  const onnx = (await runOnnx(out, two, [2, 3, 96, 96])).output0;
  assert.deepEqual(onnx.dims, [2, 10]);
  const model = kilnClassifier(join(W, "mobilenet_v2.pt"));
  const kiln = noGrad(() => tidy(() => model.forward(tensor(two.slice(), [2, 3, 96, 96])).toArray()));
  assert.ok(maxAbsDiff(onnx.data as Float32Array, kiln) < 1e-4);
  assert.ok(maxAbsDiff((onnx.data as Float32Array).subarray(0, 10), io.get("output")!.data) < 1e-4, "row 0 is PyTorch's answer");

  const half = join(dir, "mobilenet-half.onnx");
  exportWeights({ model: join(W, "mobilenet_v2.pt"), format: "onnx", output: half, half: true, imgsz: 96 });
  assert.ok(statSync(half).size < 0.6 * statSync(out).size, `half ${statSync(half).size} vs ${statSync(out).size} bytes`);
  const h = (await runOnnx(half, one.slice(), [1, 3, 96, 96])).output0;
  // float16 weights (11 bits of mantissa): close to, not equal to, the float32 answer.
  assert.ok(maxAbsDiff(h.data as Float32Array, io.get("output")!.data) < 5e-3);
});

test("the Ultralytics yolov8n exported to ONNX: output0 [1, 7, 2100] equals kiln's decoded output within 1e-4 (relative for pixels) and the checkpoint's raw output within 1e-3", async () => {
  const out = join(dir, "yolo.onnx");
  exportWeights({ model: join(ULTRA, "best.pt"), format: "onnx", output: out });
  const x = await imageTensor(join(ULTRA, "images", "0000.jpg"));
  const onnx = (await runOnnx(out, x.slice(), [1, 3, 320, 320])).output0;
  assert.deepEqual(onnx.dims, [1, 7, 2100]);
  const w = readWeights(join(ULTRA, "best.pt"));
  const model = createModel("yolov8n", { nc: 3 }) as YOLOv8;
  model.loadStateDict(w.tensors);
  model.fuse(); // the exported graph is the fused model (BatchNorm folded into the convolutions)
  const rows = noGrad(() => tidy(() => decodeDetections(model.forward(tensor(x.slice(), [1, 3, 320, 320])), model.detect.strides, 3, 320)[0]));
  const A = 2100, o = onnx.data as Float32Array;
  let err = 0;
  for (let a = 0; a < A; a++) {
    const [x1, y1, x2, y2] = rows.subarray(a * 7, a * 7 + 4);
    const mine = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, rows[a * 7 + 4], rows[a * 7 + 5], rows[a * 7 + 6]];
    // Box values are pixels up to 320, where float32 spacing is 3e-5: compare them relative to their size.
    for (let c = 0; c < 7; c++) err = Math.max(err, Math.abs(mine[c] - o[c * A + a]) / Math.max(1, Math.abs(mine[c])));
  }
  assert.ok(err < 1e-4, `max |onnxruntime − kiln| / max(1, |kiln|) = ${err}`);
  const raw = JSON.parse(readFileSync(join(ULTRA, "raw_output_0000.json"), "utf8")) as { output: number[] };
  assert.ok(maxAbsDiff(o, raw.output) < 1e-3);
});

test("--nms puts NonMaxSuppression in the graph: its detections are Ultralytics' predictions (classes, boxes within 1 px)", async () => {
  const out = join(dir, "yolo-nms.onnx");
  const r = exportWeights({ model: join(ULTRA, "best.pt"), format: "onnx", output: out, nms: true, conf: 0.25, iou: 0.7 });
  assert.deepEqual(r.outputs, ["output0", "detections"]);
  const ref = JSON.parse(readFileSync(join(ULTRA, "predictions.json"), "utf8")) as {
    predictions: Record<string, { xyxy: number[][]; conf: number[]; cls: number[] }>;
  };
  for (const [file, want] of Object.entries(ref.predictions)) {
    const dets = (await runOnnx(out, await imageTensor(join(ULTRA, "images", file)), [1, 3, 320, 320])).detections;
    const d = dets.data as Float32Array;
    const got = Array.from({ length: dets.dims[0] }, (_, i) => d.subarray(i * 7, i * 7 + 7)).sort((a, b) => b[5] - a[5]);
    assert.equal(got.length, want.conf.length, `${file}: ${got.length} detections, Ultralytics ${want.conf.length}`);
    got.forEach((g, i) => {
      assert.equal(g[0], 0);
      assert.equal(g[6], want.cls[i], `${file} #${i} class`);
      assert.ok(Math.abs(g[5] - want.conf[i]) < 1e-3, `${file} #${i} confidence`);
      for (let j = 0; j < 4; j++) assert.ok(Math.abs(g[1 + j] - want.xyxy[i][j]) < 1, `${file} #${i} coordinate ${j}`);
    });
  }
});

test("kiln export and kiln predict --model x.onnx on the command line (onnxruntime-node) find Ultralytics' objects", () => {
  const onnx = join(dir, "cli.onnx");
  const e = runKiln(["export", "--model", join(ULTRA, "best.pt"), "--output", onnx], dir);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /exported yolov8n \(detect, 3 classes, 320 px\) to .*cli\.onnx/);
  const p = runKiln(["predict", "--model", onnx, "--source", join(ULTRA, "images"), "--json"], dir);
  assert.equal(p.code, 0, p.stderr);
  const got = JSON.parse(p.stdout) as { detections: { file: string; detections: { cls: number; score: number; box: number[]; label: string }[] }[] };
  const ref = JSON.parse(readFileSync(join(ULTRA, "predictions.json"), "utf8")) as { predictions: Record<string, { xyxy: number[][]; cls: number[] }> };
  for (const im of got.detections) {
    const want = ref.predictions[im.file.split("/").pop()!];
    assert.deepEqual(im.detections.map((d) => d.cls), want.cls);
    im.detections.forEach((d, i) => d.box.forEach((v, j) => assert.ok(Math.abs(v - want.xyxy[i][j]) < 1)));
    assert.ok(im.detections.every((d) => ["red", "green", "blue"].includes(d.label)));
  }
});

test("--format safetensors writes weights only with the model's metadata; it loads back and exports to the same ONNX answer", async () => {
  const st = join(dir, "resnet18-weights.safetensors");
  const e = runKiln(["export", "--model", join(W, "resnet18.pt"), "--format", "safetensors", "--output", st], dir);
  assert.equal(e.code, 0, e.stderr);
  const contents = readSafetensorsSync(st);
  assert.equal(contents.metadata.format, "kiln.weights.v1");
  assert.equal(JSON.parse(contents.metadata.model).architecture, "resnet18");
  assert.ok(![...contents.tensors.keys()].some((k) => k.startsWith("optimizer.")));
  assert.equal(contents.tensors.size, 122);
  const onnx = join(dir, "from-safetensors.onnx");
  exportWeights({ model: st, format: "onnx", output: onnx, imgsz: 224 });
  const io = toFloat32Tensors(readSafetensorsSync(join(W, "resnet18_io.safetensors")));
  const o = (await runOnnx(onnx, io.get("input")!.data.slice(), [1, 3, 224, 224])).output0;
  assert.ok(maxAbsDiff(o.data as Float32Array, io.get("output")!.data) < 1e-4);
});
