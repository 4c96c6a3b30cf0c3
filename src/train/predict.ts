// `kiln predict`: top-k labels with probabilities for an image or a folder of
// images, decoded and resized exactly as validation does.
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { noGrad, softmax, tensor, tidy } from "../engine/index.js";
import { KilnError } from "../errors.js";
import { DataLoader } from "../data/loader.js";
import type { Sample } from "../data/types.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import { modelFromCheckpoint } from "./checkpoint.js";
import { loadAnyCheckpoint } from "../models/weights-checkpoint.js";
import { createRunDir } from "./run-dir.js";
import { onnxDetectionRows, predictDetections, predictDetectionsWith, type ImageDetections } from "./detect-predict.js";
import { openOnnx, type OnnxSession } from "../io/onnx/runtime.js";
import type { ModelMeta } from "./checkpoint.js";

export interface PredictOptions {
  model: string;
  /** An image file or a folder of images (not recursive). */
  source: string;
  topk?: number;
  /** Detector thresholds: confidence (0.25), NMS IoU (0.7), most boxes per image (300). */
  conf?: number;
  iou?: number;
  maxDet?: number;
  /** Write predictions.csv and predictions.json into a new folder under `project` (runs/classify/predict, predict2, …). */
  save?: boolean;
  project?: string;
  batch?: number;
}

export interface Prediction { file: string; top: { label: string; index: number; probability: number }[] }

export interface PredictResult {
  /** Classifier: top-k labels per image (empty for a detector). */
  predictions: Prediction[];
  /** Detector: the boxes per image (absent for a classifier). */
  detections?: ImageDetections[];
  savedTo: string | null;
}

const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"]);

function imageFiles(source: string): string[] {
  let info;
  try {
    info = statSync(source);
  } catch {
    throw new KilnError(`the source ${source} does not exist. Fix: pass an image file or a folder of images to --source.`);
  }
  if (info.isFile()) return [source];
  const files = readdirSync(source).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort().map((f) => join(source, f));
  if (files.length === 0) throw new KilnError(`the folder ${source} has no images (${[...IMAGE_EXTENSIONS].join(", ")}).`);
  return files;
}

/** A batch of images [N, C, H, W] to the model's output (logits, or a detector's raw maps / ONNX output). */
export type BatchForward = (images: Float32Array, shape: readonly number[]) => Promise<Float32Array>;

/** The model metadata kiln wrote into an exported ONNX file. */
function onnxModelMeta(session: OnnxSession, path: string): ModelMeta {
  const text = session.metadata.kiln_model;
  if (!text) throw new KilnError(`${path} has no kiln metadata (metadata_props "kiln_model"): kiln predicts with ONNX files written by kiln export.`);
  return JSON.parse(text) as ModelMeta;
}

/** Runs an ONNX model one image at a time (it may have a fixed batch of 1). */
function onnxForward(session: OnnxSession): BatchForward {
  return async (images, shape) => {
    const per = shape.slice(1).reduce((a, b) => a * b, 1);
    const parts: Float32Array[] = [];
    for (let i = 0; i < shape[0]; i++) parts.push((await session.run(images.slice(i * per, (i + 1) * per), [1, ...shape.slice(1)]))[0].data);
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
}

export async function predictImages(options: PredictOptions): Promise<PredictResult> {
  // The model first: a bad --model is the error to report, whatever the source.
  let files: string[];
  let meta: ModelMeta;
  let forward: BatchForward;
  if (options.model.toLowerCase().endsWith(".onnx")) {
    const session = await openOnnx(options.model);
    meta = onnxModelMeta(session, options.model);
    forward = onnxForward(session);
    files = imageFiles(options.source);
    if (meta.task === "detect") {
      const r = await predictDetectionsWith(meta, onnxDetectionRows(forward, meta.classes.length), { ...options, files });
      return { predictions: [], detections: r.images, savedTo: r.savedTo };
    }
  } else {
    const ckpt = loadAnyCheckpoint(options.model);
    files = imageFiles(options.source);
    if (ckpt.model.task === "detect") {
      const r = await predictDetections(ckpt, { ...options, files });
      return { predictions: [], detections: r.images, savedTo: r.savedTo };
    }
    // Fused for inference (BN folded, activation in the conv kernel, weights packed once), as Ultralytics' val/predict do.
    const model = modelFromCheckpoint(ckpt, options.model).fuse();
    meta = ckpt.model;
    forward = async (images, shape) => noGrad(() => tidy(() => model.forward(tensor(images, shape)).toArray()));
  }
  const { classes, imgsz, channels, normalize } = meta;
  const k = Math.min(options.topk ?? 5, classes.length);
  const samples: Sample[] = files.map((path) => ({ source: { kind: "file", path }, label: 0 }));
  const loader = new DataLoader(samples, { batch: options.batch ?? 32, imgsz, channels, shuffle: false, seed: 0, dropLast: false, augment: null, normalize, cache: false, prefetch: 2 });
  const predictions: Prediction[] = [];
  for await (const b of loader.epoch(0)) {
    const logits = await forward(b.images, [b.size, channels, imgsz, imgsz]);
    const probs = noGrad(() => tidy(() => softmax(tensor(logits, [b.size, classes.length]), 1).toArray()));
    for (let i = 0; i < b.size; i++) {
      const row = Array.from(probs.subarray(i * classes.length, (i + 1) * classes.length), (p, index) => ({ index, p }));
      row.sort((x, y) => y.p - x.p || x.index - y.index);
      predictions.push({ file: files[b.indices[i]], top: row.slice(0, k).map(({ index, p }) => ({ label: classes[index], index, probability: p })) });
    }
  }
  let savedTo: string | null = null;
  if (options.save) {
    savedTo = createRunDir(options.project ?? "runs/classify", undefined, false, "predict");
    const csv = ["file,label,probability,top" + k, ...predictions.map((p) => [JSON.stringify(p.file), p.top[0].label, p.top[0].probability.toFixed(6),
      JSON.stringify(p.top.map((t) => `${t.label}:${t.probability.toFixed(4)}`).join(" "))].join(","))];
    writeFileAtomicSync(join(savedTo, "predictions.csv"), `${csv.join("\n")}\n`);
    writeFileAtomicSync(join(savedTo, "predictions.json"), `${JSON.stringify({ model: options.model, predictions }, null, 2)}\n`);
  }
  return { predictions, savedTo };
}
