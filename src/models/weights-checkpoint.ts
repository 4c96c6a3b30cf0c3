// `--model` for val / predict / export accepts any weights file: a kiln
// checkpoint as is, and imported weights (.pt/.pth, plain .safetensors) as a
// checkpoint-shaped value whose model metadata is filled from what the file
// says (Ultralytics' class names and image size) or the architecture's
// conventions (torchvision: ImageNet normalisation at 224 px).
import { IMAGENET_NORMALIZE } from "../data/stats.js";
import { CHECKPOINT_FORMAT, loadCheckpoint, type Checkpoint, type ModelMeta } from "../train/checkpoint.js";
import { readSafetensorsSync } from "../io/safetensors.js";
import { isWeightsPath, readWeights, type ImportedWeights } from "./weights.js";

/** True when the file is a kiln training checkpoint (metadata format kiln.checkpoint.v1). */
function isKilnCheckpoint(path: string): boolean {
  if (!path.toLowerCase().endsWith(".safetensors")) return false;
  try {
    return readSafetensorsSync(path).metadata.format === CHECKPOINT_FORMAT;
  } catch {
    return false;
  }
}

/** The model metadata of imported weights. */
export function importedModelMeta(w: ImportedWeights): ModelMeta {
  const k = w.kilnModel;
  if (k && typeof k.task === "string" && Array.isArray(k.classes)) return k as unknown as ModelMeta;
  const classes = w.names && w.names.length === w.nc ? w.names : Array.from({ length: w.nc }, (_, i) => `class${i}`);
  if (w.task === "detect") {
    return { task: "detect", architecture: w.architecture, classes, imgsz: w.imgsz ?? 640, channels: 3, normalize: { mean: [0, 0, 0], std: [1, 1, 1] } };
  }
  return { task: "classify", architecture: w.architecture, classes, imgsz: w.imgsz ?? 224, channels: 3, normalize: IMAGENET_NORMALIZE };
}

/** A kiln checkpoint, or imported weights dressed as one (weights under "model."). */
export function loadAnyCheckpoint(path: string): Checkpoint {
  // Anything but imported weights (.pt/.pth, plain .safetensors) goes to the checkpoint reader and its messages.
  if (isKilnCheckpoint(path) || !isWeightsPath(path)) return loadCheckpoint(path);
  const w = readWeights(path);
  const tensors = new Map([...w.tensors].map(([k, v]) => [`model.${k}`, v]));
  return {
    model: importedModelMeta(w),
    training: {
      epoch: 0, batch: 0, iteration: 0, rng: [], bestFitness: 0, bestEpoch: 0, history: [], epochStats: [], config: {},
      callbacks: {}, optimizer: null, weights: "model", runDir: "", kilnVersion: "",
    },
    tensors,
  };
}
