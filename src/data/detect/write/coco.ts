// Writes COCO layout: annotations/instances_<split>.json and images/<split>/. Category ids
// are class index + 1 (COCO counts from 1), in class order; boxes are pixel [x, y, w, h]
// rounded to 1e-6 px; one image, annotation or category per line, so messages can name lines.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { roundTo } from "../boxes.js";
import type { DetectionDataset } from "../types.js";
import type { SplitName } from "../../types.js";
import { placeImages, placeSamples } from "./common.js";

/** JSON with each element of the top-level arrays on its own line. */
export function cocoText(doc: Record<string, unknown>): string {
  const parts = Object.entries(doc).map(([key, value]) => {
    const head = `${JSON.stringify(key)}: `;
    if (!Array.isArray(value) || value.length === 0) return head + JSON.stringify(value);
    return `${head}[\n${value.map((v) => `  ${JSON.stringify(v)}`).join(",\n")}\n]`;
  });
  return `{\n${parts.join(",\n")}\n}\n`;
}

export async function writeCoco(ds: DetectionDataset, dir: string): Promise<void> {
  const categories = ds.classes.map((name, i) => ({ id: i + 1, name, supercategory: "" }));
  await mkdir(path.join(dir, "annotations"), { recursive: true });
  for (const [split, samples] of Object.entries(ds.splits) as [SplitName, DetectionDataset["splits"]["train"]][]) {
    if (!samples) continue;
    const placed = await placeSamples(samples, new Set());
    await placeImages(placed, path.join(dir, "images", split));
    const images = placed.map((p, i) => ({ id: i + 1, file_name: p.name, width: p.width, height: p.height }));
    const annotations = placed.flatMap((p, i) => p.sample.objects.map((o) => {
      const [x1, y1, x2, y2] = o.box;
      const w = roundTo((x2 - x1) * p.width, 6);
      const h = roundTo((y2 - y1) * p.height, 6);
      return { image_id: i + 1, category_id: o.cls + 1, bbox: [roundTo(x1 * p.width, 6), roundTo(y1 * p.height, 6), w, h], area: roundTo(w * h, 6), iscrowd: o.crowd ? 1 : 0, segmentation: [] };
    })).map((a, i) => ({ id: i + 1, ...a }));
    const doc = { info: { description: `written by kiln data convert from ${ds.name}` }, licenses: [], images, annotations, categories };
    await writeFile(path.join(dir, "annotations", `instances_${split}.json`), cocoText(doc));
  }
}
