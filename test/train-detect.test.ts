// Detection end to end through the real CLI, on a small YOLO dataset written
// from the synthetic set: kiln train task=detect (Ultralytics' results.csv
// columns, metrics.json, plots, val batch images, checkpoints), kiln val and
// kiln predict with the detector, kiln compare on two detection runs, and a
// run interrupted by SIGINT then resumed ending bit-identical to a straight one.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { syntheticDetectionDataset } from "../src/data/detect/synthetic.js";
import { writeDetectionDataset } from "../src/data/detect/convert.js";
import { readSafetensorsSync } from "../src/io/safetensors.js";
import { runKiln, scratchDir, startKiln } from "./helpers/kiln-cli.js";

const dir = scratchDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const TINY = ["data=shapes/data.yaml", "imgsz=64", "epochs=2", "batch=4", "warmup_epochs=0", "close_mosaic=1", "yes=true"];

test("kiln train task=detect on a YOLO dataset: results.csv, metrics.json, plots, weights; val, predict and compare", async () => {
  const ds = syntheticDetectionDataset({ seed: 3, train: 16, val: 8, size: 96 });
  await writeDetectionDataset(ds, "yolo", join(dir, "shapes"));
  const r = runKiln(["train", "task=detect", ...TINY], dir);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /closing mosaic for the last 1 epochs/);
  const run = join(dir, "runs/detect/train");
  const header = readFileSync(join(run, "results.csv"), "utf8").split("\n")[0];
  assert.equal(header, "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B)," +
    "val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2");
  const metrics = JSON.parse(readFileSync(join(run, "metrics.json"), "utf8")) as Record<string, unknown> & { per_class: unknown[]; fitness: number; mAP50: number };
  assert.equal(metrics.task, "detect");
  for (const k of ["mAP50", "mAP50-95", "precision", "recall", "fitness", "per_class"]) assert.ok(k in metrics, k);
  assert.equal(metrics.per_class.length, ds.classes.length);
  assert.ok(Math.abs(metrics.fitness - (0.1 * metrics.mAP50 + 0.9 * (metrics["mAP50-95"] as number))) < 1e-12);
  for (const f of ["results.png", "BoxPR_curve.png", "BoxF1_curve.png", "confusion_matrix.png", "val_batch0_labels.jpg", "val_batch0_pred.jpg"]) {
    assert.ok(existsSync(join(run, f)), f);
    assert.ok(((await sharp(join(run, f)).metadata()).width ?? 0) > 100, f);
  }
  const weights = readSafetensorsSync(join(run, "weights/best.safetensors"));
  assert.ok([...weights.tensors.keys()].includes("model.model.22.cv2.0.0.conv.weight"), "Ultralytics' module names");

  const v = runKiln(["val", "--model", "runs/detect/train/weights/best.safetensors", "--json"], dir);
  assert.equal(v.code, 0, v.stderr);
  const val = JSON.parse(v.stdout) as { task: string; images: number; mAP50_95: number; perClass: unknown[] };
  assert.equal(val.task, "detect");
  assert.equal(val.images, 8);
  const best = (metrics.history as { epoch: number; values: Record<string, number> }[])[(metrics.best_epoch as number) - 1];
  assert.equal(val.mAP50_95, best.values["metrics/mAP50-95(B)"], "kiln val reproduces the best epoch's mAP50-95");

  const images = join(dir, "shapes/images/val");
  const p = runKiln(["predict", "--model", "runs/detect/train/weights/best.safetensors", "--source", images, "--conf", "0.001", "--save", "--json"], dir);
  assert.equal(p.code, 0, p.stderr);
  const pred = JSON.parse(p.stdout) as { detections: { file: string; width: number; detections: { score: number; box: number[] }[] }[]; savedTo: string };
  assert.equal(pred.detections.length, readdirSync(images).length);
  for (const im of pred.detections) {
    assert.equal(im.width, 96);
    for (const d of im.detections) assert.ok(d.score >= 0.001 && d.box[0] >= 0 && d.box[2] <= 96 && d.box[0] <= d.box[2]);
  }
  const saved = join(dir, pred.savedTo);
  assert.ok(readdirSync(saved).filter((f) => f.endsWith(".jpg")).length === pred.detections.length);
  const coco = JSON.parse(readFileSync(join(saved, "predictions.json"), "utf8")) as { bbox: number[]; score: number }[];
  assert.equal(coco.length, pred.detections.reduce((a, im) => a + im.detections.length, 0));

  const again = runKiln(["train", "task=detect", ...TINY, "epochs=1", "close_mosaic=0"], dir);
  assert.equal(again.code, 0, again.stderr);
  const cmp = runKiln(["compare", "runs/detect/train2", "runs/detect/train", "--json"], dir);
  assert.ok(cmp.code === 0 || cmp.code === 1, cmp.stderr);
  const c = JSON.parse(cmp.stdout) as { task: string; primary: string };
  assert.equal(c.task, "detect");
  assert.equal(c.primary, "mAP50_95");
});

const tensorBytes = (path: string): Map<string, Buffer> => new Map([...readSafetensorsSync(path).tensors].map(([k, t]) => [k, Buffer.from(t.bytes)]));

test("a detection run interrupted mid-epoch and resumed ends bit-identical to a straight run", async () => {
  const args = ["train", "task=detect", "data=shapes/data.yaml", "imgsz=64", "epochs=2", "batch=2", "warmup_epochs=0.5", "close_mosaic=1", "yes=true",
    "plots=false", "mlflow=false", "tensorboard=false"];
  const straight = runKiln([...args, "name=straight"], dir);
  assert.equal(straight.code, 0, straight.stderr);
  let sent = false;
  const cut = await startKiln([...args, "name=cut"], dir, {}, (out, child) => {
    if (!sent && /epoch 1\/2 █+░* [2-6]\/8/.test(out)) {
      sent = true;
      child.kill("SIGINT");
    }
  });
  assert.equal(cut.code, 130, cut.stdout + cut.stderr);
  // --resume alone finds the newest run, under runs/classify or runs/detect: here the interrupted detector.
  const resumed = runKiln(["train", "--resume"], dir);
  assert.equal(resumed.code, 0, resumed.stderr);
  const a = tensorBytes(join(dir, "runs/detect/straight/weights/last.safetensors"));
  const b = tensorBytes(join(dir, "runs/detect/cut/weights/last.safetensors"));
  for (const [k, bytes] of a) assert.ok(bytes.equals(b.get(k)!), `${k} differs`);
});
