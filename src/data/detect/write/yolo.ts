// Writes YOLO (Ultralytics) layout: data.yaml (no `path`: the YAML's folder is the root),
// images/<split>/, labels/<split>/<stem>.txt with `class cx cy w h` (8 decimals), an
// empty label file for an image without objects, and crowd objects in <stem>.crowd.txt.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { fmt, toCxCyWh } from "../boxes.js";
import type { DetectionDataset, DetObject } from "../types.js";
import { placeImages, placeSamples, stem } from "./common.js";
import type { SplitName } from "../../types.js";

export const yoloLine = (o: DetObject): string => [String(o.cls), ...toCxCyWh(o.box).map((v) => fmt(v, 8))].join(" ");

const lines = (objects: DetObject[]): string => objects.map((o) => `${yoloLine(o)}\n`).join("");

export async function writeYolo(ds: DetectionDataset, dir: string): Promise<void> {
  const config: Record<string, unknown> = {};
  for (const [split, samples] of Object.entries(ds.splits) as [SplitName, DetectionDataset["splits"]["train"]][]) {
    if (!samples) continue;
    const placed = await placeSamples(samples, new Set());
    await placeImages(placed, path.join(dir, "images", split));
    for (const p of placed) {
      const label = path.join(dir, "labels", split, ...stem(p.name).split("/"));
      await mkdir(path.dirname(label), { recursive: true });
      await writeFile(`${label}.txt`, lines(p.sample.objects.filter((o) => !o.crowd)));
      const crowd = p.sample.objects.filter((o) => o.crowd);
      if (crowd.length > 0) await writeFile(`${label}.crowd.txt`, lines(crowd));
    }
    config[split] = `images/${split}`;
  }
  config.nc = ds.classes.length;
  config.names = ds.classes;
  await writeFile(path.join(dir, "data.yaml"), `# written by kiln data convert from ${ds.name}\n${stringify(config)}`);
}
