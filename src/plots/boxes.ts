// Batches drawn with their boxes, as Ultralytics' val_batch0_labels.jpg and
// val_batch0_pred.jpg: up to 16 network inputs in a grid, labels (or
// predictions with their confidence) drawn as coloured rectangles by an SVG
// overlay that sharp composites onto the pixels.
import { join } from "node:path";
import sharp from "sharp";
import type { DetBatch } from "../data/detect/types.js";
import { writeFileAtomic } from "../io/atomic.js";
import { escapeXml, FONT_FAMILY, PALETTE } from "./index.js";

const MAX_IMAGES = 16;

interface DrawnBox { cls: number; box: [number, number, number, number]; score?: number }

/** A copy of a batch's first images and their boxes in input pixels (the loader reuses its buffers). */
export interface BatchImages {
  imgsz: number;
  /** n × 3 × imgsz × imgsz, values 0..1 */
  images: Float32Array;
  n: number;
  labels: DrawnBox[][];
  predictions: DrawnBox[][];
}

/**
 * Snapshot of `b` for drawing; `predictions[i]` are image i's detections in its
 * original pixels, mapped back into the letterboxed input with the batch's shapes.
 */
export function snapshotBatch(b: DetBatch, predictions: { cls: number; box: [number, number, number, number]; score: number }[][]): BatchImages {
  const n = Math.min(b.size, MAX_IMAGES);
  const plane = 3 * b.imgsz * b.imgsz;
  const labels: DrawnBox[][] = Array.from({ length: n }, () => []);
  for (let k = 0; k < b.cls.length; k++) {
    const i = b.batchIndex[k];
    if (i >= n) continue;
    const [cx, cy, w, h] = [0, 1, 2, 3].map((j) => b.boxes[4 * k + j] * b.imgsz);
    labels[i].push({ cls: b.cls[k], box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
  }
  const toInput = (i: number, d: DrawnBox): DrawnBox => {
    const s = b.shapes[i];
    const [x1, y1, x2, y2] = d.box;
    return { ...d, box: [x1 * s.scale + s.padX, y1 * s.scale + s.padY, x2 * s.scale + s.padX, y2 * s.scale + s.padY] };
  };
  return {
    imgsz: b.imgsz, n, images: b.images.slice(0, n * plane), labels,
    predictions: predictions.slice(0, n).map((dets, i) => dets.filter((d) => d.score >= 0.25).map((d) => toInput(i, d))),
  };
}

/** Writes `<prefix>_labels.jpg` and `<prefix>_pred.jpg` into runDir. */
export async function writeBatchImages(runDir: string, prefix: string, shot: BatchImages, classes: readonly string[]): Promise<void> {
  const cols = Math.ceil(Math.sqrt(shot.n));
  const rows = Math.ceil(shot.n / cols);
  const s = shot.imgsz;
  const width = cols * s, height = rows * s;
  const rgb = Buffer.alloc(width * height * 3, 114);
  const plane = s * s;
  for (let i = 0; i < shot.n; i++) {
    const ox = (i % cols) * s, oy = Math.floor(i / cols) * s;
    const base = i * 3 * plane;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const o = ((oy + y) * width + ox + x) * 3;
        for (let c = 0; c < 3; c++) rgb[o + c] = Math.max(0, Math.min(255, Math.round(shot.images[base + c * plane + y * s + x] * 255)));
      }
    }
  }
  for (const [kind, boxes] of [["labels", shot.labels], ["pred", shot.predictions]] as const) {
    const svg = overlay(width, height, cols, s, boxes, classes);
    const jpg = await sharp(rgb, { raw: { width, height, channels: 3 } }).composite([{ input: Buffer.from(svg) }]).jpeg({ quality: 90 }).toBuffer();
    await writeFileAtomic(join(runDir, `${prefix}_${kind}.jpg`), jpg);
  }
}

function overlay(width: number, height: number, cols: number, s: number, boxes: DrawnBox[][], classes: readonly string[]): string {
  const parts: string[] = [];
  const font = Math.max(9, Math.round(s / 28));
  boxes.forEach((list, i) => {
    const ox = (i % cols) * s, oy = Math.floor(i / cols) * s;
    for (const d of list) {
      const colour = PALETTE[d.cls % PALETTE.length];
      const [x1, y1, x2, y2] = d.box.map((v, j) => Math.max(0, Math.min(s, v)) + (j % 2 === 0 ? ox : oy));
      const name = classes[d.cls] ?? String(d.cls);
      const label = d.score === undefined ? name : `${name} ${d.score.toFixed(2)}`;
      parts.push(`<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${(x2 - x1).toFixed(1)}" height="${(y2 - y1).toFixed(1)}" fill="none" stroke="${colour}" stroke-width="2"/>`);
      parts.push(`<rect x="${x1.toFixed(1)}" y="${Math.max(oy, y1 - font - 2).toFixed(1)}" width="${(label.length * font * 0.6 + 4).toFixed(1)}" height="${font + 2}" fill="${colour}"/>`);
      parts.push(`<text x="${(x1 + 2).toFixed(1)}" y="${(Math.max(oy, y1 - font - 2) + font - 1).toFixed(1)}" font-family="${FONT_FAMILY}" font-size="${font}" fill="#fff">${escapeXml(label)}</text>`);
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join("")}</svg>`;
}
