// Pre-flight checks before the first epoch: the loader's output shape, one
// forward pass with the expected [B, nc] output, a finite initial loss, and a
// measured training step (its time feeds the estimate; its peak memory is
// compared with what the machine has free). The model is left exactly as it
// was: BatchNorm statistics are restored and gradients dropped.
import { freemem } from "node:os";
import { crossEntropy, noGrad, tensor, tidy } from "../engine/index.js";
import { KilnError } from "../errors.js";
import type { Classifier } from "../models/index.js";
import type { BatchSource } from "./trainer.js";

export interface PreflightReport {
  inputShape: number[];
  outputShape: number[];
  initialLoss: number;
  secondsPerBatch: number;
  peakRssBytes: number;
  freeBytes: number;
}

const MEASURED_STEPS = 2;

/**
 * @param retryCommand the command line with a smaller batch, for the advice when memory will not fit
 */
export async function preflight(model: Classifier, loader: BatchSource, nc: number, channels: number, imgsz: number,
  retryCommand: (smaller: { batch: number; imgsz: number }) => string): Promise<PreflightReport> {
  const iterator = loader.epoch(0);
  const first = await iterator.next();
  await iterator.return?.();
  if (first.done) throw new KilnError("the training split is empty: there is no batch to train on. Fix: check the data path and its train/ folder.");
  const b = first.value;
  const expected = b.size * channels * imgsz * imgsz;
  if (b.images.length !== expected) {
    throw new Error(`kiln: the loader gave ${b.images.length} values for a batch of ${b.size} × ${channels} × ${imgsz} × ${imgsz}`);
  }
  const inputShape = [b.size, channels, imgsz, imgsz];
  const images = b.images.slice();
  const labels = b.labels.slice();
  const buffers = model.namedBuffers().map(([, t]) => [t, t.data.slice()] as const);

  let outputShape: number[] = [];
  let initialLoss = NaN;
  model.eval();
  noGrad(() => tidy(() => {
    const logits = model.forward(tensor(images, inputShape));
    outputShape = [...logits.shape];
    initialLoss = crossEntropy(logits, labels).item();
  }));
  if (outputShape.length !== 2 || outputShape[0] !== b.size || outputShape[1] !== nc) {
    throw new Error(`kiln: the model's output is [${outputShape.join(", ")}], expected [${b.size}, ${nc}]`);
  }
  if (!Number.isFinite(initialLoss)) {
    throw new KilnError(`the initial loss is ${initialLoss} before any training: the inputs hold non-finite values or the model is broken. Fix: run 'kiln data check' on the data.`);
  }

  model.train();
  const start = performance.now();
  for (let i = 0; i < MEASURED_STEPS; i++) {
    tidy(() => crossEntropy(model.forward(tensor(images, inputShape)), labels).backward());
  }
  const secondsPerBatch = (performance.now() - start) / 1000 / MEASURED_STEPS;
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
  for (const [t, saved] of buffers) t.data.set(saved);

  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const freeBytes = freemem() + process.memoryUsage().rss;
  if (peakRssBytes > 0.9 * freeBytes) {
    const smaller = { batch: Math.max(1, b.size >> 1), imgsz: Math.max(8, imgsz >> 1) };
    throw new KilnError(`a training step needs about ${(peakRssBytes / 2 ** 30).toFixed(1)} GiB, and ${(freeBytes / 2 ** 30).toFixed(1)} GiB are free: ` +
      `it would not fit. Fix: a smaller batch (or image size, or model): ${retryCommand(smaller)}`);
  }
  return { inputShape, outputShape, initialLoss, secondsPerBatch, peakRssBytes, freeBytes };
}
