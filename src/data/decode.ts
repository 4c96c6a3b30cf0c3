// Decoding: files through sharp (libvips, in libuv's thread pool, so decoding overlaps the
// caller's compute), pixel sources as they are. Colour conversion for files happens in
// sharp; for pixel sources the renderer converts while it samples (no copy).
import sharp from "sharp";
import { KilnError } from "../errors.js";
import type { ImageSource, RawImage } from "./types.js";

/** The message for a file sharp cannot decode: names the file and the fix. */
export function decodeError(file: string, cause: unknown): KilnError {
  const reason = cause instanceof Error ? cause.message.split("\n")[0] : String(cause);
  return new KilnError(`cannot decode image ${file}: ${reason}. Fix: replace or remove the file (kiln data check PATH lists every bad file).`);
}

/**
 * Decodes a source to 8-bit HWC pixels. Files come out with `channels` channels (alpha
 * dropped, EXIF orientation applied) and, when `shorterSide` is given, resized so their
 * shorter side is that many pixels. Pixel sources come back as they are (any channels).
 */
export async function decodeImage(source: ImageSource, channels: 1 | 3, shorterSide?: number): Promise<RawImage> {
  if (source.kind === "pixels") return source;
  try {
    let pipeline = sharp(source.path).autoOrient().removeAlpha();
    if (shorterSide !== undefined) pipeline = pipeline.resize({ width: shorterSide, height: shorterSide, fit: "outside" });
    pipeline = pipeline.toColourspace(channels === 1 ? "b-w" : "srgb");
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`decoded to ${info.channels} channels, expected ${channels}`);
    return { width: info.width, height: info.height, channels, data };
  } catch (err) {
    throw decodeError(source.path, err);
  }
}
