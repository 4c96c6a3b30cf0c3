// Image files as the detection readers, writers and check need them: sizes from
// the header (no decoding), copies that share the bytes when they can, and a
// bounded number of sharp calls in flight.
import { copyFile, link, mkdir } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { KilnError } from "../../errors.js";
import type { ImageSource } from "../types.js";


/** Width and height as the image is shown, EXIF rotation applied: the frame boxes are normalised by. */
export async function imageSize(source: ImageSource): Promise<{ width: number; height: number }> {
  if (source.kind === "pixels") return { width: source.width, height: source.height };
  let meta;
  try {
    meta = await sharp(source.path).metadata();
  } catch (err) {
    throw new KilnError(`cannot read the size of image ${source.path}: ${(err as Error).message.split("\n")[0]}. Fix: replace or remove the file (kiln data check PATH lists every bad file).`);
  }
  const { width, height } = meta.autoOrient ?? meta;
  if (!width || !height) throw new KilnError(`cannot read the size of image ${source.path}. Fix: replace or remove the file.`);
  return { width, height };
}

/** Puts the image at `dest`: a hard link to a file when the file system allows, else a copy; pixels as PNG. */
export async function placeImage(source: ImageSource, dest: string): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true });
  if (source.kind === "pixels") {
    await sharp(source.data, { raw: { width: source.width, height: source.height, channels: source.channels } }).png().toFile(dest);
    return;
  }
  try {
    await link(source.path, dest);
  } catch {
    // another file system, or one without hard links: copy the bytes
    await copyFile(source.path, dest).catch((err: Error) => {
      throw new KilnError(`cannot copy image ${source.path}: ${err.message}. Fix: check that the file exists and is readable (kiln data check lists every bad file).`);
    });
  }
}
