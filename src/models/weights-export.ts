// `kiln export`: a weights file (kiln checkpoint, .pt/.pth, .safetensors) to
// ONNX (checked by the caller against onnxruntime if wanted) or to plain
// safetensors weights (no optimizer state) with the model's metadata.
import { dirname, basename, extname, join } from "node:path";
import { KilnError } from "../errors.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import { exportOnnx } from "../io/onnx/export.js";
import { ExportError } from "../io/onnx/trace.js";
import { encodeSafetensors, type TensorToWrite } from "../io/safetensors.js";
import { detectorFromCheckpoint, modelFromCheckpoint, type ModelMeta } from "../train/checkpoint.js";
import { KILN_VERSION } from "../train/version.js";
import { loadAnyCheckpoint } from "./weights-checkpoint.js";

export const WEIGHTS_FORMAT = "kiln.weights.v1";

export interface ExportOptions {
  model: string;
  format: "onnx" | "safetensors";
  /** Where to write (default: next to the weights, same base name, .onnx / .safetensors; "-weights" when that is the input). */
  output?: string;
  opset?: number;
  dynamic?: boolean;
  half?: boolean;
  nms?: boolean;
  /** Input size for ONNX (default: the model's training size). */
  imgsz?: number;
  conf?: number;
  iou?: number;
  maxDet?: number;
}

export interface ExportResult { path: string; bytes: number; format: string; meta: ModelMeta; outputs: string[] }

function defaultOutput(model: string, format: string): string {
  const stem = basename(model, extname(model));
  const ext = format === "onnx" ? ".onnx" : ".safetensors";
  const same = extname(model).toLowerCase() === ext;
  return join(dirname(model), `${stem}${same ? "-weights" : ""}${ext}`);
}

export function exportWeights(o: ExportOptions): ExportResult {
  const ckpt = loadAnyCheckpoint(o.model);
  const meta = ckpt.model;
  const model = meta.task === "detect" ? detectorFromCheckpoint(ckpt, o.model) : modelFromCheckpoint(ckpt, o.model);
  const path = o.output ?? defaultOutput(o.model, o.format);
  const imgsz = o.imgsz ?? meta.imgsz;
  if (meta.task === "detect" && imgsz % 32 !== 0) throw new KilnError(`imgsz=${imgsz}: a detector's input must be a multiple of 32. Fix: --imgsz ${Math.max(32, Math.round(imgsz / 32) * 32)}.`);
  const exportedMeta: ModelMeta = { ...meta, imgsz };
  let bytes: Uint8Array;
  let outputs: string[] = [];
  if (o.format === "safetensors") {
    const tensors = new Map<string, TensorToWrite>();
    for (const [k, t] of model.stateDict()) tensors.set(k, { shape: t.shape, data: t.data, ...(o.half ? { dtype: "F16" as const } : {}) });
    bytes = encodeSafetensors(tensors, { format: WEIGHTS_FORMAT, model: JSON.stringify(exportedMeta), kiln_version: KILN_VERSION });
  } else {
    try {
      const r = exportOnnx(model, {
        input: [meta.channels, imgsz, imgsz], opset: o.opset, dynamic: o.dynamic, half: o.half,
        nms: o.nms ? { conf: o.conf ?? 0.25, iou: o.iou ?? 0.7, maxDet: o.maxDet ?? 300 } : undefined,
        producerVersion: KILN_VERSION,
        metadata: { kiln_model: JSON.stringify(exportedMeta), names: JSON.stringify(Object.fromEntries(meta.classes.map((c, i) => [i, c]))), imgsz: String(imgsz), task: meta.task },
      });
      bytes = r.bytes;
      outputs = r.outputs;
    } catch (err) {
      if (err instanceof ExportError) throw new KilnError(`${o.model}: ${err.message.replace(/^kiln: /, "")}`);
      throw err;
    }
  }
  try {
    writeFileAtomicSync(path, bytes);
  } catch (err) {
    throw new KilnError(`cannot write ${path}: ${(err as Error).message}. Fix: pass --output PATH in a writable folder.`);
  }
  model.dispose();
  return { path, bytes: bytes.length, format: o.format, meta: exportedMeta, outputs };
}
