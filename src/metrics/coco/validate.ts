// Checks a COCO instances object and a results list before evaluation. Where
// pycocotools asserts or dies with a KeyError, kiln names the file, the entry
// and the fix. What pycocotools accepts silently stays accepted (a detection
// or annotation of an unlisted category is dropped; an `ignore` field has no
// effect), except duplicate ids, which it would quietly merge.
import { KilnError } from "../../errors.js";
import type { CocoGroundTruth, CocoResult } from "./types.js";

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** A value as it appears in the file, cut short. */
function shown(v: unknown): string {
  const s = v === undefined ? "missing" : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isBox(v: unknown): v is [number, number, number, number] {
  return Array.isArray(v) && v.length === 4 && v.every(isNumber);
}

function listField(root: Obj, key: string, source: string): unknown[] {
  const v = root[key];
  if (!Array.isArray(v)) {
    throw new KilnError(`${source}: '${key}' must be a list (got ${shown(v)}). A COCO instances file has "images", "annotations" and "categories" lists.`);
  }
  return v;
}

/** The entry's label in messages: annotations[12] (id 13). */
function entryName(list: string, i: number, e: unknown): string {
  const id = isObject(e) && e.id !== undefined ? ` (id ${shown(e.id)})` : "";
  return `${list}[${i}]${id}`;
}

/** Validates a COCO instances object; the error names `source` (the file) and the bad entry. */
export function validateGroundTruth(value: unknown, source: string): CocoGroundTruth {
  if (!isObject(value)) {
    const hint = Array.isArray(value) ? " This is a list: it looks like a results file (give it as --dt)." : "";
    throw new KilnError(`${source}: expected a COCO instances object with "images", "annotations" and "categories".${hint}`);
  }
  const images = listField(value, "images", source);
  const annotations = listField(value, "annotations", source);
  const categories = listField(value, "categories", source);

  const imageIds = new Set<number>();
  images.forEach((e, i) => {
    if (!isObject(e) || !isNumber(e.id)) throw new KilnError(`${source}: ${entryName("images", i, e)}: 'id' must be a number (got ${shown(isObject(e) ? e.id : e)}).`);
    if (imageIds.has(e.id)) throw new KilnError(`${source}: ${entryName("images", i, e)}: image id ${e.id} is listed twice. Fix: give every image its own id.`);
    imageIds.add(e.id);
  });

  const categoryIds = new Set<number>();
  categories.forEach((e, i) => {
    if (!isObject(e) || !isNumber(e.id)) throw new KilnError(`${source}: ${entryName("categories", i, e)}: 'id' must be a number (got ${shown(isObject(e) ? e.id : e)}).`);
    if (e.name !== undefined && typeof e.name !== "string") throw new KilnError(`${source}: ${entryName("categories", i, e)}: 'name' must be a string (got ${shown(e.name)}).`);
    if (categoryIds.has(e.id)) throw new KilnError(`${source}: ${entryName("categories", i, e)}: category id ${e.id} is listed twice. Fix: give every category its own id.`);
    categoryIds.add(e.id);
  });

  const annotationIds = new Set<number>();
  annotations.forEach((e, i) => {
    const at = `${source}: ${entryName("annotations", i, e)}`;
    if (!isObject(e)) throw new KilnError(`${at}: expected an object {id, image_id, category_id, bbox, area, iscrowd} (got ${shown(e)}).`);
    if (!isNumber(e.id)) throw new KilnError(`${at}: 'id' must be a number (got ${shown(e.id)}).`);
    if (annotationIds.has(e.id)) throw new KilnError(`${at}: annotation id ${e.id} is used twice. Fix: give every annotation its own id.`);
    annotationIds.add(e.id);
    if (!isNumber(e.image_id)) throw new KilnError(`${at}: 'image_id' must be a number (got ${shown(e.image_id)}).`);
    if (!imageIds.has(e.image_id)) throw new KilnError(`${at}: image_id ${e.image_id} is not in "images". Fix: list the image, or remove the annotation.`);
    if (!isNumber(e.category_id)) throw new KilnError(`${at}: 'category_id' must be a number (got ${shown(e.category_id)}).`);
    if (!isBox(e.bbox)) throw new KilnError(`${at}: 'bbox' must be [x, y, width, height], four numbers (got ${shown(e.bbox)}).`);
    if (!isNumber(e.area)) {
      const wh = e.bbox[2] * e.bbox[3];
      throw new KilnError(`${at}: 'area' must be a number (got ${shown(e.area)}); the area ranges (small, medium, large) read it. Fix: for a box, "area": width*height (here ${wh}).`);
    }
    if (!(e.iscrowd === 0 || e.iscrowd === 1 || typeof e.iscrowd === "boolean")) {
      throw new KilnError(`${at}: 'iscrowd' must be 0 or 1 (got ${shown(e.iscrowd)}). Fix: "iscrowd": 0 for an ordinary object, 1 for a crowd region.`);
    }
  });
  return value as unknown as CocoGroundTruth;
}

/** Validates a results list against the ground truth's images; the error names `source` and the entry. */
export function validateResults(value: unknown, source: string, gt: CocoGroundTruth, gtSource = "the ground truth"): CocoResult[] {
  if (!Array.isArray(value)) {
    const hint = isObject(value) && "annotations" in value ? " This looks like an instances file (give it as --gt)." : "";
    throw new KilnError(`${source}: expected a list of detections [{"image_id", "category_id", "bbox", "score"}, ...].${hint}`);
  }
  const imageIds = new Set<number>();
  for (const im of gt.images) imageIds.add(im.id);
  value.forEach((e, i) => {
    const at = `${source}: detection ${i}`;
    if (!isObject(e)) throw new KilnError(`${at}: expected an object {image_id, category_id, bbox, score} (got ${shown(e)}).`);
    if (!isNumber(e.image_id)) throw new KilnError(`${at}: 'image_id' must be a number (got ${shown(e.image_id)}).`);
    if (!imageIds.has(e.image_id)) {
      throw new KilnError(`${at}: image_id ${e.image_id} is not an image of ${gtSource} (${imageIds.size} images). Fix: evaluate the detections against the annotation file they were made for, or remove them.`);
    }
    if (!isNumber(e.category_id)) throw new KilnError(`${at}: 'category_id' must be a number (got ${shown(e.category_id)}).`);
    if (!isBox(e.bbox)) {
      const hint = e.bbox === undefined && e.segmentation !== undefined ? " kiln evaluates boxes: give each detection a bbox." : "";
      throw new KilnError(`${at}: 'bbox' must be [x, y, width, height], four numbers (got ${shown(e.bbox)}).${hint}`);
    }
    if (!isNumber(e.score)) throw new KilnError(`${at}: 'score' must be a number (got ${shown(e.score)}).`);
  });
  return value as CocoResult[];
}
