// Conversion between detection formats: the source is read whole (and refused when it has
// errors, so nothing half-right is written), written into a temporary folder beside the
// output, then renamed into place: the output folder appears complete or not at all.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { KilnError } from "../../errors.js";
import { readDetectionDataset, type DetectionFormat } from "./load.js";
import type { DetectionDataset } from "./types.js";
import { writeCoco } from "./write/coco.js";
import { writeVoc } from "./write/voc.js";
import { writeYolo } from "./write/yolo.js";

export const DETECTION_FORMATS: readonly DetectionFormat[] = ["yolo", "coco", "voc"];

const WRITERS: Record<DetectionFormat, (ds: DetectionDataset, dir: string) => Promise<void>> = { yolo: writeYolo, coco: writeCoco, voc: writeVoc };

/** Throws a KilnError listing the dataset's errors (the first few), if it has any. */
export function refuseErrors(ds: DetectionDataset, what: string): void {
  const errors = (ds.issues ?? []).filter((i) => i.severity === "error");
  if (errors.length === 0) return;
  const shown = errors.slice(0, 5).map((i) => `\n  ${i.file ? `${i.file}: ` : ""}${i.message}${i.fix ? ` (fix: ${i.fix})` : ""}`).join("");
  throw new KilnError(`${ds.name} has ${errors.length} error(s); ${what}:${shown}${errors.length > 5 ? `\n  … (kiln data check ${ds.name} lists all)` : ""}\nFix: correct them first; nothing was written.`);
}

async function assertFreeOutput(out: string): Promise<void> {
  const info = await stat(out).catch(() => null);
  if (!info) return;
  if (!info.isDirectory()) throw new KilnError(`the output ${out} exists and is a file. Fix: choose a new folder for --out.`);
  if ((await readdir(out)).length > 0) throw new KilnError(`the output folder ${out} is not empty. Fix: choose a new folder for --out, or empty it first.`);
}

/** Writes `ds` as `format` into `out` (which must not exist, or be empty), atomically. */
export async function writeDetectionDataset(ds: DetectionDataset, format: DetectionFormat, out: string): Promise<void> {
  const writer = WRITERS[format];
  if (!writer) throw new KilnError(`unknown detection format '${String(format)}'. Fix: use one of ${DETECTION_FORMATS.join(", ")}.`);
  await assertFreeOutput(out);
  const parent = path.dirname(path.resolve(out));
  await mkdir(parent, { recursive: true });
  const temp = path.join(parent, `.${path.basename(out)}.kiln-tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  await mkdir(temp);
  try {
    await writer(ds, temp);
    await assertFreeOutput(out); // it may have appeared meanwhile
    await rmdir(out).catch(() => undefined); // an empty folder: rename needs it gone on some systems
    await rename(temp, out);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
}

/** Reads `src` (any detection format, or "synthetic") and writes it as `to` into `out`. */
export async function convertDetectionDataset(src: string, to: DetectionFormat, out: string): Promise<DetectionDataset> {
  if (!DETECTION_FORMATS.includes(to)) throw new KilnError(`unknown format '${String(to)}'. Fix: --to yolo, --to coco or --to voc.`);
  await assertFreeOutput(out);
  const ds = await readDetectionDataset(src);
  refuseErrors(ds, "convert refuses it");
  await writeDetectionDataset(ds, to, out);
  return ds;
}
