// Writes Pascal VOC layout: JPEGImages/, Annotations/<id>.xml, ImageSets/Main/<split>.txt,
// and classes.txt (VOC has no class list; without it a reader would sort the names and lose
// the order and the classes without objects). VOC is one flat folder for all splits: "/" in
// a name becomes "__", and a name already used by another split gets _2, _3…
// Corners are 1-based inclusive, written as detectron2 reads them: xmin = x1·W + 1, xmax = x2·W.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { XMLBuilder } from "fast-xml-parser";
import { fmt } from "../boxes.js";
import type { DetectionDataset } from "../types.js";
import type { SplitName } from "../../types.js";
import { placeImages, placeSamples, stem, type Placed } from "./common.js";

const builder = new XMLBuilder({ format: true, indentBy: "\t", suppressEmptyNode: false });

export function vocXml(p: Placed, classes: string[]): string {
  const annotation = {
    folder: "JPEGImages",
    filename: p.name,
    size: { width: p.width, height: p.height, depth: p.sample.source.kind === "pixels" ? p.sample.source.channels : 3 },
    segmented: 0,
    object: p.sample.objects.map((o) => ({
      name: classes[o.cls],
      pose: "Unspecified",
      truncated: 0,
      difficult: o.crowd ? 1 : 0,
      bndbox: { xmin: fmt(o.box[0] * p.width + 1, 6), ymin: fmt(o.box[1] * p.height + 1, 6), xmax: fmt(o.box[2] * p.width, 6), ymax: fmt(o.box[3] * p.height, 6) },
    })),
  };
  return builder.build({ annotation }) as string;
}

export async function writeVoc(ds: DetectionDataset, dir: string): Promise<void> {
  const taken = new Set<string>();
  await mkdir(path.join(dir, "Annotations"), { recursive: true });
  await mkdir(path.join(dir, "ImageSets", "Main"), { recursive: true });
  for (const [split, samples] of Object.entries(ds.splits) as [SplitName, DetectionDataset["splits"]["train"]][]) {
    if (!samples) continue;
    const placed = await placeSamples(samples, taken, (name) => name.split("/").join("__"));
    await placeImages(placed, path.join(dir, "JPEGImages"));
    for (const p of placed) await writeFile(path.join(dir, "Annotations", `${stem(p.name)}.xml`), vocXml(p, ds.classes));
    await writeFile(path.join(dir, "ImageSets", "Main", `${split}.txt`), placed.map((p) => `${stem(p.name)}\n`).join(""));
  }
  await writeFile(path.join(dir, "classes.txt"), ds.classes.map((c) => `${c}\n`).join(""));
}
