// Weights from elsewhere: read a .safetensors, PyTorch .pt/.pth or Ultralytics
// checkpoint into a name → tensor map, recognise the architecture from the
// names and shapes alone (kiln's names are PyTorch's, so no mapping tables),
// and transfer into a kiln model by name: what matches is copied, what differs
// in shape (a new number of classes) stays freshly initialised and is named.
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname } from "node:path";
import { KilnError } from "../errors.js";
import { decodeSafetensors, SafetensorsError, toFloat32Tensors, type Float32Tensor } from "../io/safetensors.js";
import { decodeTorchCheckpoint, type CheckpointInfo } from "../io/torch-checkpoint.js";
import type { AnyModule } from "../nn/index.js";
import type { ModelName } from "./index.js";

export const WEIGHT_EXTENSIONS = [".pt", ".pth", ".safetensors"] as const;

/** True when `model=` names a weights file rather than an architecture. */
export function isWeightsPath(model: string): boolean {
  return WEIGHT_EXTENSIONS.some((e) => model.toLowerCase().endsWith(e));
}

const taskCache = new Map<string, "classify" | "detect" | null>();

/** The task of the model in a weights file, or null when it cannot be read (the caller reports that later). */
export function weightsFileTask(path: string): "classify" | "detect" | null {
  if (!taskCache.has(path)) {
    try {
      taskCache.set(path, readWeights(path).task);
    } catch {
      taskCache.set(path, null);
    }
  }
  return taskCache.get(path)!;
}

/** What a weights file holds and says about its model. */
export interface ImportedWeights {
  readonly tensors: Map<string, Float32Tensor>;
  /** The architecture recognised from the tensors' names and shapes. */
  readonly architecture: ModelName;
  readonly task: "classify" | "detect";
  /** Classes of the weights' last layer. */
  readonly nc: number;
  /** Class names, when the file has them (Ultralytics' `names`, kiln's metadata). */
  readonly names?: string[];
  readonly imgsz?: number;
  /** kiln's own model metadata, when the file is a kiln checkpoint or export. */
  readonly kilnModel?: Record<string, unknown>;
  readonly info: CheckpointInfo | { layout: string };
}

/** Reads any weights file kiln accepts; every problem is a KilnError naming the file. */
export function readWeights(path: string): ImportedWeights {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new KilnError(`the weights file ${path} does not exist. Fix: pass a .safetensors, .pt or .pth file, or a model name (resnet18, yolov8n, …).`);
  }
  const bytes = readFileSync(path);
  const isSafetensors = extname(path).toLowerCase() === ".safetensors";
  if (isSafetensors) return fromSafetensors(bytes, path);
  const ckpt = decodeTorchCheckpoint(bytes, path);
  const arch = recogniseArchitecture(ckpt.tensors, path);
  return { tensors: ckpt.tensors, ...arch, names: ckpt.info.names, imgsz: ckpt.info.imgsz, info: ckpt.info };
}

function fromSafetensors(bytes: Uint8Array, path: string): ImportedWeights {
  let contents;
  try {
    contents = decodeSafetensors(bytes, path);
  } catch (err) {
    if (err instanceof SafetensorsError) throw new KilnError(`cannot import ${err.message}`);
    throw err;
  }
  let tensors = toFloat32Tensors(contents, path);
  let kilnModel: Record<string, unknown> | undefined;
  const meta = contents.metadata;
  if (meta.model) {
    try {
      kilnModel = JSON.parse(meta.model) as Record<string, unknown>;
    } catch {
      throw new KilnError(`${path}: __metadata__ "model" is not valid JSON`);
    }
  }
  // A kiln training checkpoint holds "model.*", "ema.*" and "optimizer.*": take the evaluation weights.
  if (meta.training) {
    let which = "model";
    try {
      which = (JSON.parse(meta.training) as { weights?: string }).weights ?? "model";
    } catch { /* keep "model" */ }
    const prefix = `${which}.`;
    tensors = new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  }
  const arch = recogniseArchitecture(tensors, path, typeof kilnModel?.architecture === "string" ? kilnModel.architecture : undefined);
  const classes = Array.isArray(kilnModel?.classes) ? (kilnModel.classes as unknown[]).map(String) : undefined;
  return { tensors, ...arch, names: classes, imgsz: typeof kilnModel?.imgsz === "number" ? kilnModel.imgsz : undefined, kilnModel, info: { layout: "safetensors" } };
}

const shapeOf = (t: ReadonlyMap<string, Float32Tensor>, k: string): readonly number[] | undefined => t.get(k)?.shape;

/** The architecture, task and class count that the names and shapes of a state dict imply. */
export function recogniseArchitecture(tensors: ReadonlyMap<string, Float32Tensor>, source: string, declared?: string):
  { architecture: ModelName; task: "classify" | "detect"; nc: number } {
  const yoloStem = shapeOf(tensors, "model.0.conv.weight");
  if (yoloStem) {
    const size = ({ 16: "n", 32: "s", 48: "m" } as Record<number, string>)[yoloStem[0]];
    const cls = shapeOf(tensors, "model.22.cv3.0.2.weight");
    if (!size || !cls) throw new KilnError(`${source}: YOLO-style weights, but not a YOLOv8 n/s/m detector kiln knows (model.0 has ${yoloStem[0]} channels${cls ? "" : ", no model.22 Detect head"}).`);
    return { architecture: `yolov8${size}` as ModelName, task: "detect", nc: cls[0] };
  }
  const fc = shapeOf(tensors, "fc.weight");
  if (tensors.has("layer1.0.conv1.weight") && fc) {
    const arch = tensors.has("layer1.0.conv3.weight") ? "resnet50" : tensors.has("layer3.5.conv1.weight") ? "resnet34" : "resnet18";
    return { architecture: arch, task: "classify", nc: fc[0] };
  }
  const mobile = shapeOf(tensors, "classifier.1.weight");
  if (tensors.has("features.18.0.weight") && mobile) return { architecture: "mobilenet_v2", task: "classify", nc: mobile[0] };
  if (declared === "cnn" || declared === "mnist_cnn") {
    const last = [...tensors].filter(([k, v]) => k.endsWith(".weight") && v.shape.length === 2).pop();
    if (last) return { architecture: declared, task: "classify", nc: last[1].shape[0] };
  }
  const sample = [...tensors.keys()].slice(0, 6).join(", ");
  throw new KilnError(`${source}: kiln does not recognise these weights (first names: ${sample}). It imports torchvision resnet18/34/50 and mobilenet_v2, ` +
    "Ultralytics YOLOv8 n/s/m, and kiln's own models.");
}

export interface TransferReport {
  /** Model entries copied from the weights. */
  transferred: number;
  /** All of the model's entries. */
  total: number;
  /** Model entries left at their initial values: shapes differ (a new nc) or absent from the weights. */
  skipped: string[];
  /** Weights the model has no place for. */
  unused: string[];
}

/** Copies every weight whose name and shape match into `model`; the rest keep their initial values. */
export function transferWeights(model: AnyModule, tensors: ReadonlyMap<string, Float32Tensor>): TransferReport {
  const own = model.stateDict();
  const r = model.loadStateDict(tensors, { strict: false, skipMismatched: true });
  const skipped = [...r.mismatched, ...r.missing];
  return { transferred: own.size - skipped.length, total: own.size, skipped, unused: r.unexpected };
}

/** "transferred 349/355 items from best.pt (skipped: model.22.cv3.0.2.weight, …)". */
export function formatTransfer(r: TransferReport, source: string): string {
  const list = r.skipped.length > 8 ? `${r.skipped.slice(0, 8).join(", ")}, … (${r.skipped.length} in all)` : r.skipped.join(", ");
  return `transferred ${r.transferred}/${r.total} items from ${source}${r.skipped.length ? ` (re-initialised, shapes differ or absent: ${list})` : ""}`;
}

/**
 * Ultralytics' freeze=N: the parameters of the first N layers stop training
 * (for YOLO the layers are `model.0` … `model.N-1`; for a classifier its
 * top-level children in order). Returns the frozen parameter names.
 */
export function freezeLayers(model: AnyModule, n: number): string[] {
  if (n <= 0) return [];
  const top = model.namedChildren();
  const layers = top.length === 1 ? top[0][1].namedChildren().map(([k, m]) => [`${top[0][0]}.${k}`, m] as const) : top;
  const prefixes = layers.slice(0, n).map(([k]) => `${k}.`);
  const frozen: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (prefixes.some((pre) => name.startsWith(pre))) {
      p.requiresGrad = false;
      frozen.push(name);
    }
  }
  return frozen;
}

/**
 * `train model=WEIGHTS`: the architecture to build, and how to fill it — the
 * matching weights transferred (said as "transferred N/M …") and freeze=N
 * applied. `model` is an architecture name or a weights path.
 */
export function fineTuneSource(model: string, task: "classify" | "detect"): { architecture: string; weights: ImportedWeights | null } {
  if (!isWeightsPath(model)) return { architecture: model, weights: null };
  const weights = readWeights(model);
  if (weights.task !== task) {
    throw new KilnError(`model=${model} holds a ${weights.architecture} ${weights.task === "detect" ? "detector" : "classifier"}; task=${task} needs ${task === "detect" ? "a detector" : "a classifier"}. Fix: task=${weights.task}, or other weights.`);
  }
  return { architecture: weights.architecture, weights };
}

/** Transfers the weights (unless resuming) and freezes the first `freeze` layers; returns the lines to print. */
export function prepareFineTune(model: AnyModule, source: { weights: ImportedWeights | null }, path: string, freeze: number, resuming: boolean): string[] {
  const lines: string[] = [];
  if (source.weights && !resuming) lines.push(formatTransfer(transferWeights(model, source.weights.tensors), path));
  if (freeze > 0) lines.push(`freeze=${freeze}: ${freezeLayers(model, freeze).length} parameters of the first ${freeze} layers frozen`);
  return lines;
}
