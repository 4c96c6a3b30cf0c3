// Letterbox: the image resized so its long side is imgsz (aspect kept, as Ultralytics'
// load_image), then centred on an imgsz × imgsz canvas of grey 114 (LetterBox). The resize is
// what a cache keeps; the padding is one copy per use.
import sharp from "sharp";
import { decodeError } from "../decode.js";
import type { ImageSource, RawImage } from "../types.js";
import type { DetObject } from "./types.js";

/** An object in pixels of the image being worked on: corners x1 < x2, y1 < y2 (pixel i spans [i, i+1)). */
export interface Box {
  cls: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** Ultralytics' padding grey (and the affine warp's border). */
export const PAD = 114;

/** An image resized for imgsz: 3-channel pixels whose long side is imgsz, and the size it was decoded from. */
export interface SizedImage {
  image: RawImage;
  /** The original (EXIF-oriented) size in pixels. */
  width: number;
  height: number;
}

/** The long-side scale r = imgsz / max(width, height), and the resized size (at most imgsz, at least 1). */
export function longSide(width: number, height: number, imgsz: number): { scale: number; width: number; height: number } {
  const scale = imgsz / Math.max(width, height);
  return { scale, width: Math.max(1, Math.min(imgsz, Math.round(width * scale))), height: Math.max(1, Math.min(imgsz, Math.round(height * scale))) };
}

/**
 * Bilinear resample to width × height with pixel centres aligned (cv2.resize INTER_LINEAR),
 * edge-clamped; 1-channel input comes out grey RGB. Always 3 channels.
 */
export function resizeBilinear(img: RawImage, width: number, height: number): RawImage {
  const { data, channels: ic } = img;
  const out = new Uint8Array(width * height * 3);
  const sx = img.width / width;
  const sy = img.height / height;
  const x0 = new Int32Array(width);
  const x1 = new Int32Array(width);
  const wx = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const f = Math.min(img.width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
    x0[x] = Math.floor(f);
    x1[x] = Math.min(img.width - 1, x0[x] + 1);
    wx[x] = f - x0[x];
  }
  for (let y = 0; y < height; y++) {
    const f = Math.min(img.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const r0 = Math.floor(f) * img.width;
    const r1 = Math.min(img.height - 1, Math.floor(f) + 1) * img.width;
    const wy = f - Math.floor(f);
    for (let x = 0; x < width; x++) {
      const a = (r0 + x0[x]) * ic;
      const b = (r0 + x1[x]) * ic;
      const c = (r1 + x0[x]) * ic;
      const d = (r1 + x1[x]) * ic;
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) {
        const ch = ic === 1 ? 0 : k;
        const top = data[a + ch] + (data[b + ch] - data[a + ch]) * wx[x];
        const bottom = data[c + ch] + (data[d + ch] - data[c + ch]) * wx[x];
        out[o + k] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return { width, height, channels: 3, data: out };
}

/**
 * Decodes a source and resizes it so its long side is imgsz. Files go through sharp (libuv's
 * pool; libvips resamples properly when shrinking a large photo); pixel sources are resampled here.
 */
export async function loadSized(source: ImageSource, imgsz: number): Promise<SizedImage> {
  if (source.kind === "pixels") {
    const size = longSide(source.width, source.height, imgsz);
    const same = size.width === source.width && size.height === source.height && source.channels === 3;
    return { image: same ? source : resizeBilinear(source, size.width, size.height), width: source.width, height: source.height };
  }
  try {
    const pipeline = sharp(source.path);
    const meta = await pipeline.metadata();
    const { width, height } = meta.autoOrient;
    const { data, info } = await pipeline.autoOrient().removeAlpha().resize({ width: imgsz, height: imgsz, fit: "inside" })
      .toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { image: { width: info.width, height: info.height, channels: 3, data }, width, height };
  } catch (err) {
    throw decodeError(source.path, err);
  }
}

/** Ultralytics' centring: the odd pixel of padding goes right and below (round(d/2 - 0.1)). */
export const centredPad = (imgsz: number, width: number, height: number): { padX: number; padY: number } =>
  ({ padX: Math.floor((imgsz - width) / 2), padY: Math.floor((imgsz - height) / 2) });

/** Copies `img` (at most imgsz a side) centred onto an imgsz² canvas of grey; returns the padding. */
export function letterbox(img: RawImage, imgsz: number, out: Uint8Array): { padX: number; padY: number } {
  if (img.width > imgsz || img.height > imgsz || img.channels !== 3) throw new Error(`letterbox: needs a 3-channel image within ${imgsz}², got ${img.width}×${img.height}×${img.channels}`);
  const { padX, padY } = centredPad(imgsz, img.width, img.height);
  out.fill(PAD, 0, imgsz * imgsz * 3);
  const row = img.width * 3;
  for (let y = 0; y < img.height; y++) out.set(img.data.subarray(y * row, (y + 1) * row), ((y + padY) * imgsz + padX) * 3);
  return { padX, padY };
}

/**
 * Objects (boxes normalised by the original image) → pixel boxes of the resized image shifted by
 * the padding. The per-axis scale is the resized pixels' own, so boxes stay on their pixels.
 */
export function placeObjects(objects: readonly DetObject[], image: RawImage, padX = 0, padY = 0): Box[] {
  const w = image.width;
  const h = image.height;
  return objects.map(({ cls, box }) => ({ cls, x1: box[0] * w + padX, y1: box[1] * h + padY, x2: box[2] * w + padX, y2: box[3] * h + padY }));
}
