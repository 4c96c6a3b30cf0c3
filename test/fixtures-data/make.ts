// Builders for the data tests: temporary datasets of tiny images with known pixels.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import sharp from "sharp";

/** A fresh temporary folder, removed when the test ends. */
export async function tempDir(t: { after(fn: () => Promise<void>): void }, label = "kiln-data-"): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), label));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** HWC pixels where pixel (x, y) channel c is f(x, y, c). */
export function pixels(width: number, height: number, channels: number, f: (x: number, y: number, c: number) => number): Uint8Array {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = f(x, y, c);
  return data;
}

/** Writes raw pixels as an image file; the format follows the extension (png, jpg). */
export async function writeImage(file: string, width: number, height: number, channels: 1 | 3, data: Uint8Array): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const image = sharp(data, { raw: { width, height, channels } });
  await (file.endsWith(".jpg") ? image.jpeg({ quality: 95 }) : image.png()).toFile(file);
  return file;
}

/** A small PNG of one colour; `shade` makes each file's bytes different. */
export async function writeSolid(file: string, shade: number, size = 8): Promise<string> {
  return writeImage(file, size, size, 3, pixels(size, size, 3, (_x, _y, c) => (shade * (c + 1)) % 256));
}

/** An IDX file built byte by byte: magic 0x0000 08 dims, big-endian dims, then the bytes. */
export function idxBytes(shape: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * shape.length);
  const view = new DataView(header.buffer);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

export async function writeIdx(file: string, shape: number[], data: Uint8Array, gzip: boolean): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const bytes = idxBytes(shape, data);
  await writeFile(gzip ? `${file}.gz` : file, gzip ? gzipSync(bytes) : bytes);
}
