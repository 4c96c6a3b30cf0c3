// Pre-flight checks before the first epoch: the loader's output shape, one
// forward pass with the output the task expects, a finite initial loss, and a
// measured training step (its time feeds the estimate; its peak memory is
// compared with what the machine has free). The model is left exactly as it
// was: BatchNorm statistics are restored and gradients dropped.
import { readFileSync } from "node:fs";
import { freemem } from "node:os";
import { noGrad, tidy } from "../engine/index.js";
import { KilnError } from "../errors.js";
import type { AnyModule } from "../nn/index.js";
import type { TrainTask } from "./task.js";
import type { BatchSource } from "./trainer.js";

export interface PreflightReport {
  inputShape: number[];
  /** The model's output as the task describes it ("[32, 10]", "3 maps [32, 144, 40, 40] …"). */
  output: string;
  initialLoss: number;
  secondsPerBatch: number;
  peakRssBytes: number;
  freeBytes: number;
}

const MEASURED_STEPS = 2;

/**
 * @param retryCommand the command line with a smaller batch, for the advice when memory will not fit
 */
export async function preflight<B extends { size: number }>(model: AnyModule, loader: BatchSource<B>, task: TrainTask<B>, imgsz: number,
  retryCommand: (smaller: { batch: number; imgsz: number }) => string): Promise<PreflightReport> {
  const iterator = loader.epoch(0);
  const first = await iterator.next();
  if (first.done) {
    await iterator.return?.();
    throw new KilnError("the training split is empty: there is no batch to train on. Fix: check the data path and its train/ folder.");
  }
  // The loader reuses its buffers: use the batch before letting the iterator go.
  const b = first.value;
  const buffers = model.namedBuffers().map(([, t]) => [t, t.data.slice()] as const);
  let initialLoss = NaN;
  let secondsPerBatch = NaN;
  let shapes: { input: number[]; output: string };
  try {
    shapes = task.inspect(model, b);
    noGrad(() => tidy(() => {
      model.eval();
      initialLoss = task.step(model, b).value;
    }));
    if (!Number.isFinite(initialLoss)) {
      throw new KilnError(`the initial loss is ${initialLoss} before any training: the inputs hold non-finite values or the model is broken. Fix: run 'kiln data check' on the data.`);
    }
    model.train();
    const start = performance.now();
    for (let i = 0; i < MEASURED_STEPS; i++) tidy(() => task.step(model, b).loss.backward());
    secondsPerBatch = (performance.now() - start) / 1000 / MEASURED_STEPS;
  } finally {
    await iterator.return?.();
    model.train();
    for (const p of model.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
    for (const [t, saved] of buffers) t.data.set(saved);
  }

  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const freeBytes = availableMemory();
  if (peakRssBytes > 0.9 * freeBytes) {
    const smaller = { batch: Math.max(1, b.size >> 1), imgsz: Math.max(8, imgsz >> 1) };
    throw new KilnError(`a training step needs about ${formatBytes(peakRssBytes)}, and ${formatBytes(freeBytes)} are free: ` +
      `it would not fit. Fix: a smaller batch (or image size, or model): ${retryCommand(smaller)}`);
  }
  return { inputShape: shapes.input, output: shapes.output, initialLoss, secondsPerBatch, peakRssBytes, freeBytes };
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/**
 * Memory this process may use: the machine's free memory plus what it holds,
 * capped by a container's cgroup limit (os.freemem() reports the host's) and by
 * KILN_MEMORY_LIMIT (bytes, or with a K/M/G suffix) when set.
 */
export function availableMemory(): number {
  const rss = process.memoryUsage().rss;
  let available = freemem() + rss;
  const cgroup = readCgroupLimit();
  if (cgroup !== null) available = Math.min(available, cgroup);
  const explicit = process.env.KILN_MEMORY_LIMIT;
  if (explicit !== undefined && explicit !== "") {
    const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)i?B?$/i.exec(explicit.trim());
    if (!m) throw new KilnError(`KILN_MEMORY_LIMIT=${explicit} is not a size. Fix: bytes or a number with K, M or G (e.g. KILN_MEMORY_LIMIT=8G).`);
    const scale = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
    available = Math.min(available, Number(m[1]) * scale);
  }
  return available;
}

function readCgroupLimit(): number | null {
  for (const path of ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]) {
    try {
      const text = readFileSync(path, "utf8").trim();
      const bytes = Number(text);
      // "max" (v2) or a huge sentinel (v1) mean no limit.
      if (Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 60) return bytes;
      return null;
    } catch {
      // not this cgroup version
    }
  }
  return null;
}
