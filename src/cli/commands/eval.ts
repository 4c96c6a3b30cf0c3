// `kiln eval --gt instances.json --dt results.json`: COCO bbox evaluation of a
// results file, with pycocotools' numbers and its summary lines.
import { parseArgs } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { cocoEvaluate, pyFixed, readCocoFiles, summaryLines, type CocoEvalResult, type CocoGroundTruth, type CocoResult } from "../../metrics/coco/index.js";
import { requireOption } from "./common.js";

export const EVAL_HELP = `kiln eval — COCO bbox evaluation of detections (the numbers pycocotools gives)

Usage: kiln eval --gt INSTANCES.json --dt RESULTS.json [--json]

  --gt PATH   COCO instances file: "images", "annotations" (id, image_id,
              category_id, bbox [x, y, w, h], area, iscrowd) and "categories"
  --dt PATH   COCO results file: a list of {image_id, category_id, bbox, score}
  --json      print {"stats": [12 numbers], "per_category_ap": {id: AP},
              "per_category_ap50": {id: AP50}} instead of the tables

Prints COCOeval's 12 summary lines (AP at IoU .50:.95, .50, .75, by area, and AR
at 1, 10, 100 detections per image and category) and AP per category. The rules
are pycocotools' with default parameters: crowd regions, the GT 'area' field for
the area ranges, the 100 best detections per image and category, -1 where there
is nothing to average. Detections of a category not listed in the instances
file are left out (with a warning); a detection on an image not listed is an error.

Examples:
  kiln eval --gt annotations/instances_val2017.json --dt detections.json
  kiln eval --gt gt.json --dt dt.json --json > metrics.json`;

const OPTIONS = ["gt", "dt", "json", "help"];

/** The per-category table: id, name, GT objects (non-crowd), detections, AP, AP50. */
function categoryTable(result: CocoEvalResult, gt: CocoGroundTruth, dt: readonly CocoResult[]): string[] {
  const objects = new Map<number, number>();
  for (const a of gt.annotations) if (!a.iscrowd) objects.set(a.category_id, (objects.get(a.category_id) ?? 0) + 1);
  const detections = new Map<number, number>();
  for (const d of dt) detections.set(d.category_id, (detections.get(d.category_id) ?? 0) + 1);
  const nameWidth = Math.max(8, ...result.categories.map((c) => c.name.length));
  const idWidth = Math.max(2, ...result.categories.map((c) => String(c.id).length));
  const ap = (v: number): string => (v === -1 ? "-" : pyFixed(v, 3)).padStart(6);
  const lines = [`${"id".padStart(idWidth)}  ${"category".padEnd(nameWidth)}  ${"objects".padStart(7)}  ${"dets".padStart(7)}      AP    AP50`];
  for (const c of result.categories) {
    const key = String(c.id);
    lines.push(`${key.padStart(idWidth)}  ${c.name.padEnd(nameWidth)}  ${String(objects.get(c.id) ?? 0).padStart(7)}  ${String(detections.get(c.id) ?? 0).padStart(7)}  ${ap(result.perCategoryAp[key])}  ${ap(result.perCategoryAp50[key])}`);
  }
  lines.push("AP: IoU .50:.95, AP50: IoU .50 (area all, 100 detections); -: no non-crowd ground truth for the category.");
  return lines;
}

/** argv: the words after `kiln eval`. */
export async function evalCommand(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(argv, (k) => k === "gt" || k === "dt");
  if (options.has("help")) {
    console.log(EVAL_HELP);
    return 0;
  }
  for (const key of options.keys()) {
    if (!OPTIONS.includes(key)) throw new KilnError(`unknown option '${key}' for kiln eval. Run 'kiln eval --help'.`);
  }
  if (positionals.length > 0) throw new KilnError(`kiln eval takes no positional arguments (got '${positionals[0]}'). Usage: kiln eval --gt INSTANCES.json --dt RESULTS.json`);
  const gtPath = requireOption(options, "gt", "kiln eval");
  const dtPath = requireOption(options, "dt", "kiln eval");
  const started = performance.now();
  const { gt, dt } = await readCocoFiles(gtPath, dtPath);
  const result = cocoEvaluate(gt, dt, { gtSource: gtPath, dtSource: dtPath });
  const seconds = (performance.now() - started) / 1000;
  if (result.droppedDetections > 0) {
    console.error(`warning: ${result.droppedDetections} detections in ${dtPath} have a category_id not listed in ${gtPath}; they are left out (as pycocotools does).`);
  }
  if (options.has("json")) {
    console.log(JSON.stringify({ stats: result.stats, per_category_ap: result.perCategoryAp, per_category_ap50: result.perCategoryAp50 }));
    return 0;
  }
  console.error(`evaluated ${dt.length} detections on ${gt.images.length} images, ${result.categories.length} categories, in ${seconds.toFixed(2)} s`);
  console.log(summaryLines(result.stats).join("\n"));
  console.log("");
  console.log(categoryTable(result, gt, dt).join("\n"));
  return 0;
}
