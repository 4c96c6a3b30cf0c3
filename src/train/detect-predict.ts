// `kiln predict` with a detector: each image letterboxed as validation does,
// the model's maps decoded, class-aware NMS (conf 0.25, iou 0.7, max_det
// 300 by default), boxes mapped back to the image's own pixels. --save draws
// the boxes with labels and confidences onto copies of the images and writes
// predictions.json in COCO's results format.
import { basename, extname, join } from "node:path";
import sharp from "sharp";
import { noGrad, tensor, tidy } from "../engine/index.js";
import { DetectionLoader } from "../data/detect/loader.js";
import type { DetSample } from "../data/detect/types.js";
import { writeFileAtomic, writeFileAtomicSync } from "../io/atomic.js";
import { decodeDetections, type DecodedImage } from "../models/yolo/decode.js";
import { nms, scaleBoxes } from "../models/yolo/nms.js";
import { escapeXml, FONT_FAMILY, PALETTE } from "../plots/index.js";
import { detectorFromCheckpoint, type Checkpoint, type ModelMeta } from "./checkpoint.js";
import { createRunDir } from "./run-dir.js";

export interface Detection { label: string; cls: number; score: number; box: [number, number, number, number] }
export interface ImageDetections { file: string; width: number; height: number; detections: Detection[] }

export interface DetectPredictOptions {
  model: string;
  files: string[];
  conf?: number;
  iou?: number;
  maxDet?: number;
  batch?: number;
  save?: boolean;
  project?: string;
}

/** A letterboxed batch [N, 3, S, S] to each image's decoded rows (boxes xyxy in input pixels, class probabilities). */
export type DecodeBatch = (images: Float32Array, size: number, imgsz: number) => Promise<DecodedImage[]>;

export async function predictDetections(ckpt: Checkpoint, o: DetectPredictOptions): Promise<{ images: ImageDetections[]; savedTo: string | null }> {
  // Fused for inference (BN folded, activation in the conv kernel, weights packed once), as Ultralytics' val/predict do.
  const model = detectorFromCheckpoint(ckpt, o.model).fuse();
  const nc = ckpt.model.classes.length;
  const decode: DecodeBatch = async (images, size, imgsz) => noGrad(() => tidy(() =>
    decodeDetections(model.forward(tensor(images, [size, 3, imgsz, imgsz])), model.detect.strides, nc, imgsz)));
  return predictDetectionsWith(ckpt.model, decode, o);
}

/**
 * The rows of an exported detector's output0 [N, 4 + nc, A] (centre x, y, width, height, then class
 * probabilities), as decodeDetections gives them: [A, 4 + nc] with corners.
 */
export function onnxDetectionRows(forward: (images: Float32Array, shape: readonly number[]) => Promise<Float32Array>, nc: number): DecodeBatch {
  return async (images, size, imgsz) => {
    const out = await forward(images, [size, 3, imgsz, imgsz]);
    const width = 4 + nc, anchors = out.length / size / width;
    const result: DecodedImage[] = [];
    for (let b = 0; b < size; b++) {
      const base = b * width * anchors;
      const rows = new Float32Array(anchors * width);
      for (let a = 0; a < anchors; a++) {
        const [cx, cy, w, h] = [0, 1, 2, 3].map((c) => out[base + c * anchors + a]);
        rows.set([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], a * width);
        for (let c = 0; c < nc; c++) rows[a * width + 4 + c] = out[base + (4 + c) * anchors + a];
      }
      result.push(Object.assign(rows, { nc, anchors }));
    }
    return result;
  };
}

export async function predictDetectionsWith(meta: ModelMeta, decode: DecodeBatch, o: DetectPredictOptions): Promise<{ images: ImageDetections[]; savedTo: string | null }> {
  const { classes, imgsz } = meta;
  const samples: DetSample[] = o.files.map((path) => ({ source: { kind: "file", path }, width: 0, height: 0, objects: [], name: basename(path) }));
  const loader = new DetectionLoader(samples, { batch: o.batch ?? 8, imgsz, shuffle: false, seed: 0, dropLast: false, augment: null });
  const images: ImageDetections[] = [];
  for await (const b of loader.epoch(0)) {
    const decoded = await decode(b.images, b.size, imgsz);
    {
      for (let i = 0; i < b.size; i++) {
        const s = b.shapes[i];
        const kept = scaleBoxes(nms(decoded[i], { conf: o.conf ?? 0.25, iou: o.iou ?? 0.7, maxDet: o.maxDet ?? 300 }), s, s.width, s.height);
        images.push({
          file: o.files[b.indices[i]], width: s.width, height: s.height,
          detections: kept.map((d) => ({ label: classes[d.cls], cls: d.cls, score: d.score, box: d.box })),
        });
      }
    }
  }
  let savedTo: string | null = null;
  if (o.save) {
    savedTo = createRunDir(o.project ?? "runs/detect", undefined, false, "predict");
    for (const im of images) await drawDetections(im, join(savedTo, `${basename(im.file, extname(im.file))}.jpg`));
    // COCO results: one entry per box, bbox [x, y, w, h], image_id = the file name.
    const coco = images.flatMap((im) => im.detections.map((d) => ({
      image_id: basename(im.file), category_id: d.cls, bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]], score: d.score,
    })));
    writeFileAtomicSync(join(savedTo, "predictions.json"), `${JSON.stringify(coco, null, 2)}\n`);
  }
  return { images, savedTo };
}

async function drawDetections(im: ImageDetections, out: string): Promise<void> {
  const font = Math.max(11, Math.round(Math.max(im.width, im.height) / 50));
  const parts = im.detections.map((d) => {
    const colour = PALETTE[d.cls % PALETTE.length];
    const [x1, y1, x2, y2] = d.box;
    const label = `${d.label} ${d.score.toFixed(2)}`;
    const ty = Math.max(0, y1 - font - 2);
    return `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${(x2 - x1).toFixed(1)}" height="${(y2 - y1).toFixed(1)}" fill="none" stroke="${colour}" stroke-width="${Math.max(2, font / 6).toFixed(1)}"/>` +
      `<rect x="${x1.toFixed(1)}" y="${ty.toFixed(1)}" width="${(label.length * font * 0.6 + 4).toFixed(1)}" height="${font + 2}" fill="${colour}"/>` +
      `<text x="${(x1 + 2).toFixed(1)}" y="${(ty + font - 1).toFixed(1)}" font-family="${FONT_FAMILY}" font-size="${font}" fill="#fff">${escapeXml(label)}</text>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${im.width}" height="${im.height}">${parts.join("")}</svg>`;
  const jpg = await sharp(im.file).autoOrient().removeAlpha().composite([{ input: Buffer.from(svg) }]).jpeg({ quality: 90 }).toBuffer();
  await writeFileAtomic(out, jpg);
}
