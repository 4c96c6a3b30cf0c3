// Checkpoints: one safetensors file with the model ("model.*"), the optimizer
// state ("optimizer.*"), callback tensors such as the EMA ("ema.*"), and a
// JSON __metadata__ with everything else a run needs to continue exactly
// (architecture, classes, image size, normalisation, position in the epoch,
// RNG state, best fitness, history, config, callbacks' states, version).
// Written atomically: temp file, fsync, rename.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { encodeSafetensors, readSafetensorsSync, toFloat32Tensors, type Float32Tensor, type TensorToWrite } from "../io/safetensors.js";
import { KilnError } from "../errors.js";
import type { Tensor } from "../engine/index.js";
import { CLASSIFIER_NAMES, createModel, DETECTOR_NAMES, type Classifier, type ClassifierName, type DetectorName, type YOLOv8 } from "../models/index.js";
import type { JsonValue } from "./callbacks.js";

export const CHECKPOINT_FORMAT = "kiln.checkpoint.v1";

/** What a checkpoint says about the model: enough to rebuild it and feed it. */
export interface ModelMeta {
  task: "classify" | "detect";
  architecture: string;
  classes: string[];
  imgsz: number;
  channels: 1 | 3;
  normalize: { mean: number[]; std: number[] };
}

/** Where a run stands and what it remembers (JSON in __metadata__). */
export interface TrainingMeta {
  epoch: number;
  /** The next batch of `epoch` to train (0 at an epoch boundary). */
  batch: number;
  iteration: number;
  rng: number[];
  bestFitness: number;
  bestEpoch: number;
  history: JsonValue;
  epochStats: JsonValue;
  config: Record<string, unknown>;
  callbacks: Record<string, JsonValue>;
  optimizer: JsonValue;
  /** Which tensors are the model to evaluate: "ema" or "model". */
  weights: "ema" | "model";
  runDir: string;
  kilnVersion: string;
}

export interface Checkpoint { model: ModelMeta; training: TrainingMeta; tensors: Map<string, Float32Tensor> }

/** The tensors under `prefix.` with the prefix removed. */
export function tensorsUnder(tensors: ReadonlyMap<string, Float32Tensor>, prefix: string): Map<string, Float32Tensor> {
  const out = new Map<string, Float32Tensor>();
  for (const [k, v] of tensors) if (k.startsWith(`${prefix}.`)) out.set(k.slice(prefix.length + 1), v);
  return out;
}

export function saveCheckpoint(path: string, groups: Record<string, ReadonlyMap<string, Tensor>>, model: ModelMeta, training: TrainingMeta): void {
  const tensors = new Map<string, TensorToWrite>();
  for (const [prefix, map] of Object.entries(groups)) {
    for (const [k, t] of map) tensors.set(`${prefix}.${k}`, { shape: t.shape, data: t.data });
  }
  const metadata = { format: CHECKPOINT_FORMAT, model: JSON.stringify(model), training: JSON.stringify(training) };
  writeAtomically(path, encodeSafetensors(tensors, metadata));
}

/**
 * Temp file, fsync, rename (as src/io/atomic.ts), written in two halves so a
 * test can stop the process between them (KILN_TEST_PAUSE_CHECKPOINT_WRITE=1
 * prints a marker and waits) and prove a kill mid-write leaves the old file.
 */
function writeAtomically(path: string, bytes: Uint8Array): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, "w", 0o644);
  try {
    const half = bytes.length >> 1;
    writeAll(fd, bytes.subarray(0, half));
    if (process.env.KILN_TEST_PAUSE_CHECKPOINT_WRITE === "1" && existsSync(path)) {
      process.stderr.write(`KILN_TEST: paused writing ${path}\n`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    }
    writeAll(fd, bytes.subarray(half));
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(temp);
    throw err;
  }
  closeSync(fd);
  renameSync(temp, path);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
}

/** Reads a kiln checkpoint; anything else is a KilnError naming the file. */
export function loadCheckpoint(path: string): Checkpoint {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new KilnError(`${path} does not exist (or is not a file). Fix: pass a kiln checkpoint such as runs/classify/train/weights/last.safetensors.`);
  }
  let contents;
  try {
    contents = readSafetensorsSync(path);
  } catch (err) {
    throw new KilnError(`${path} is not a kiln checkpoint: it is not a readable safetensors file (${(err as Error).message}).`);
  }
  if (contents.metadata?.format !== CHECKPOINT_FORMAT || !contents.metadata.model || !contents.metadata.training) {
    throw new KilnError(`${path} is not a kiln checkpoint: its __metadata__ has no ${CHECKPOINT_FORMAT} model and training entries (plain weights cannot be resumed or evaluated by name).`);
  }
  return {
    model: JSON.parse(contents.metadata.model) as ModelMeta,
    training: JSON.parse(contents.metadata.training) as TrainingMeta,
    tensors: toFloat32Tensors(contents, path),
  };
}

/** A fresh model of the checkpoint's architecture holding its evaluation weights (the EMA when saved), in eval mode. */
export function modelFromCheckpoint(ckpt: Checkpoint, source = "the checkpoint"): Classifier {
  const arch = ckpt.model.architecture;
  if (!CLASSIFIER_NAMES.includes(arch as ClassifierName)) {
    const what = DETECTOR_NAMES.includes(arch as DetectorName) ? "a detector; this command needs an image classifier" : "a model this kiln does not know";
    throw new KilnError(`${source} holds a "${arch}" model, ${what} (classifiers: ${CLASSIFIER_NAMES.join(", ")}).`);
  }
  const model = createModel(arch as ClassifierName, { nc: ckpt.model.classes.length, inChannels: ckpt.model.channels }) as Classifier;
  model.loadStateDict(tensorsUnder(ckpt.tensors, ckpt.training.weights));
  return model.eval();
}

/** The same for a detector checkpoint (kiln val / predict with task detect). */
export function detectorFromCheckpoint(ckpt: Checkpoint, source = "the checkpoint"): YOLOv8 {
  const arch = ckpt.model.architecture;
  if (!DETECTOR_NAMES.includes(arch as DetectorName)) throw new KilnError(`${source} holds a "${arch}" model, not a detector (detectors: ${DETECTOR_NAMES.join(", ")}).`);
  const model = createModel(arch as DetectorName, { nc: ckpt.model.classes.length }) as YOLOv8;
  model.loadStateDict(tensorsUnder(ckpt.tensors, ckpt.training.weights));
  return model.eval();
}
