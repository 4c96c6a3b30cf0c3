// One fresh kiln process of the detect benchmark: YOLOv8n training steps with
// the real detection loss on random images and the boxes bench/detect.ts
// generated (read as JSON from stdin); warm-up steps, then timed steps; prints
// one JSON line. Run by bench/detect.ts.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { kernels, Rng, rand, tidy } from "../src/engine/index.js";
import { yolov8 } from "../src/models/index.js";
import { detectionLoss, type DetectionTargets } from "../src/models/yolo/loss.js";
import { SGD } from "../src/optim/index.js";
import { intFlag, median } from "./stats.js";

/** The objects of the batch, as bench/detect.ts writes them (Ultralytics' names). */
export interface DetectTargetsJson {
  batch: number;
  imgsz: number;
  nc: number;
  batch_idx: number[];
  cls: number[];
  /** Normalised cx, cy, w, h per object. */
  bboxes: number[][];
}

export interface DetectWorkerResult {
  images_per_s: number;
  step_ms: number;
  /** Median time of the loss's forward (assignment, losses and their gradient) inside a step. */
  loss_ms: number;
  peak_rss_mb: number;
  threads: number;
  isa: string;
  backend: string;
  params: number;
  loss: number;
  items: { box: number; cls: number; dfl: number };
}

function main(): void {
  const { values } = parseArgs({ options: { steps: { type: "string" }, warmup: { type: "string" } }, strict: true });
  const steps = intFlag("--steps", values.steps, 5);
  const warmup = intFlag("--warmup", values.warmup, 2, 0);
  const spec = JSON.parse(readFileSync(0, "utf8")) as DetectTargetsJson;
  const targets: DetectionTargets = {
    size: spec.batch,
    imgsz: spec.imgsz,
    batchIndex: Int32Array.from(spec.batch_idx),
    cls: Int32Array.from(spec.cls),
    boxes: Float32Array.from(spec.bboxes.flat()),
  };

  const model = yolov8({ size: "n", nc: spec.nc });
  const strides = model.strides;
  const x = rand([spec.batch, 3, spec.imgsz, spec.imgsz], new Rng(0)); // the loader's 0..1 pixels
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  model.train();

  let lossMs = 0;
  const step = (): { loss: number; items: DetectWorkerResult["items"] } => tidy(() => {
    const maps = model.forward(x);
    const t0 = performance.now();
    const { loss, items } = detectionLoss(maps, targets, { nc: spec.nc, strides });
    lossMs = performance.now() - t0;
    loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
    return { loss: loss.item(), items };
  });

  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  const lossTimes: number[] = [];
  let last = { loss: NaN, items: { box: NaN, cls: NaN, dfl: NaN } };
  for (let i = 0; i < steps; i++) {
    const start = process.hrtime.bigint();
    last = step();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    lossTimes.push(lossMs);
  }
  if (!Number.isFinite(last.loss)) throw new Error(`detect: the loss is not finite (${last.loss})`);
  const info = kernels().info();
  const result: DetectWorkerResult = {
    images_per_s: (spec.batch * steps * 1000) / times.reduce((a, b) => a + b, 0),
    step_ms: median(times),
    loss_ms: median(lossTimes),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    threads: info.threads,
    isa: info.isa,
    backend: info.name,
    params: model.numParameters(),
    loss: last.loss,
    items: last.items,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
