// Box arithmetic and the validity rules every reader and the check share, so a
// bad box gets the same message whichever format it came from.
import type { DetObject } from "./types.js";

export type Box = [number, number, number, number];

/** How far (normalised) a box may stick out of the image before it is an error: rounding in
 *  files written by other tools. */
export const INSIDE_TOLERANCE = 1e-3;

/** Two boxes of one class with an IoU above this are one object labelled twice. */
export const DUPLICATE_IOU = 0.99;

export function fromCxCyWh(cx: number, cy: number, w: number, h: number): Box {
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
}

export function toCxCyWh([x1, y1, x2, y2]: Box): Box {
  return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1];
}

export function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** What is wrong with an object (class out of range, a degenerate box, a box outside the image), or undefined. */
export function objectProblem(obj: DetObject, classCount: number): { message: string; fix: string } | undefined {
  if (!(Number.isInteger(obj.cls) && obj.cls >= 0 && obj.cls < classCount)) {
    return { message: `class id ${obj.cls} is outside 0..${classCount - 1} (${classCount} classes)`, fix: "correct the class id, or add the class to the class list" };
  }
  const [x1, y1, x2, y2] = obj.box;
  if (!obj.box.every(Number.isFinite)) return { message: `box [${obj.box.join(", ")}] has a value that is not a finite number`, fix: "correct the box" };
  if (x2 - x1 <= 0 || y2 - y1 <= 0) {
    return { message: `degenerate box: width ${fmt(x2 - x1, 6)}, height ${fmt(y2 - y1, 6)} (normalised); both must be > 0`, fix: "correct the box or remove it" };
  }
  const t = INSIDE_TOLERANCE;
  if (x1 < -t || y1 < -t || x2 > 1 + t || y2 > 1 + t) {
    return {
      message: `box [${obj.box.map((v) => fmt(v, 6)).join(", ")}] (normalised x1, y1, x2, y2) lies outside the image`,
      fix: "clip the box to the image; coordinates are fractions of the image's width and height",
    };
  }
  return undefined;
}

/** Groups of objects (indices) that are the same class and overlap with IoU > DUPLICATE_IOU. */
export function duplicateObjects(objects: DetObject[]): number[][] {
  const groups: number[][] = [];
  const taken = new Set<number>();
  for (let i = 0; i < objects.length; i++) {
    if (taken.has(i)) continue;
    const group = [i];
    for (let j = i + 1; j < objects.length; j++) {
      if (!taken.has(j) && objects[j].cls === objects[i].cls && iou(objects[i].box, objects[j].box) > DUPLICATE_IOU) {
        group.push(j);
        taken.add(j);
      }
    }
    if (group.length > 1) groups.push(group);
  }
  return groups;
}

/** A number with at most `decimals` decimals and no trailing zeros ("0.5", "12", never "1e-7"). */
export function fmt(value: number, decimals: number): string {
  let text = value.toFixed(decimals);
  if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
  return text === "-0" ? "0" : text;
}

/** Rounds to `decimals` decimals, for numbers written to JSON. */
export const roundTo = (value: number, decimals: number): number => {
  const scale = 10 ** decimals;
  const r = Math.round(value * scale) / scale;
  return Object.is(r, -0) ? 0 : r;
};
