// One fresh kiln process of the fashion benchmark: the library's `train` with the
// default `cnn` recipe on Fashion-MNIST, then `val` on the test split with the
// best weights; prints one JSON line on stdout (the run's own output goes to
// stderr). Run by bench/fashion.ts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { train, val } from "../src/api.js";
import { kernels } from "../src/engine/index.js";
import { loadCheckpoint, modelFromCheckpoint } from "../src/train/checkpoint.js";
import { RunLog } from "../src/train/log.js";
import { intFlag } from "./stats.js";

export interface FashionWorkerResult {
  test_acc: number;
  test_loss: number;
  best_val_acc: number;
  best_epoch: number;
  /** The `train` call: data, checks, pre-flight, every epoch with its validation, checkpoints. */
  train_s: number;
  /** The trainer's own elapsed time (epochs and validation only). */
  fit_s: number;
  /** The `val` call on the test split. */
  test_s: number;
  params: number;
  threads: number;
  isa: string;
  backend: string;
  peak_rss_mb: number;
  history: { epoch: number; train_loss: number; val_acc: number; val_loss: number; time: number }[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: "string" }, epochs: { type: "string" }, batch: { type: "string" }, fraction: { type: "string" },
      seed: { type: "string" }, keep: { type: "boolean", default: false },
    },
    strict: true,
  });
  const data = values.data ?? "/usr/share/datasets/fashion-mnist";
  const epochs = intFlag("--epochs", values.epochs, 13);
  const batch = intFlag("--batch", values.batch, 64);
  const seed = intFlag("--seed", values.seed, 0, 0);
  const fraction = values.fraction === undefined ? 1 : Number(values.fraction);
  const project = mkdtempSync(join(tmpdir(), "kiln-fashion-"));
  try {
    const started = performance.now();
    const result = await train({
      data, model: "cnn", imgsz: 28, epochs, batch, fraction, seed, yes: true, project, name: "fashion",
    }, { log: new RunLog(process.stderr) });
    const trainSeconds = (performance.now() - started) / 1000;
    if (result.status !== "finished") throw new Error(`training ended ${result.status}${result.stopReason ? `: ${result.stopReason}` : ""}`);
    const t0 = performance.now();
    const test = await val({ model: result.weights.best, split: "test" });
    if (test.task !== "classify") throw new Error("fashion: expected a classifier");
    const testSeconds = (performance.now() - t0) / 1000;
    const info = kernels().info();
    const params = modelFromCheckpoint(loadCheckpoint(result.weights.best)).numParameters();
    const out: FashionWorkerResult = {
      test_acc: test.accuracy, test_loss: test.loss, best_val_acc: result.best?.values["val/acc"] ?? NaN, best_epoch: result.bestEpoch,
      train_s: trainSeconds, fit_s: result.final?.time ?? NaN, test_s: testSeconds, params,
      threads: info.threads, isa: info.isa, backend: info.name, peak_rss_mb: process.resourceUsage().maxRSS / 1024,
      history: result.history.map((h) => ({ epoch: h.epoch + 1, train_loss: h.values["train/loss"], val_acc: h.values["val/acc"], val_loss: h.values["val/loss"], time: h.time })),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    if (!values.keep) rmSync(project, { recursive: true, force: true });
  }
}

await main();
