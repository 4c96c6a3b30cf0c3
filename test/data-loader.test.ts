import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { KilnError } from "../src/errors.js";
import { decodeImage } from "../src/data/decode.js";
import { DataLoader, type Batch, type LoaderOptions } from "../src/data/loader.js";
import { newPlacement, Renderer, type AugmentOptions } from "../src/data/augment.js";
import { measureNormalization } from "../src/data/stats.js";
import type { Sample } from "../src/data/types.js";
import { pixels, tempDir, writeImage } from "./fixtures-data/make.js";

const IDENTITY = { mean: [0, 0, 0], std: [1, 1, 1] };
const base: LoaderOptions = {
  batch: 4, imgsz: 8, channels: 3, shuffle: false, seed: 0, dropLast: false, augment: null, normalize: IDENTITY, cache: false, prefetch: 2,
};
const AUGMENT: AugmentOptions = { randomResizedCrop: { scale: [0.3, 1], ratio: [0.75, 4 / 3] }, fliplr: 0.5, hsv_h: 0.1, hsv_s: 0.5, hsv_v: 0.3 };

/** `count` 8×8 RGB pixel samples, each pixel distinct, label i % 3. */
const pixelSamples = (count: number, size = 8): Sample[] => Array.from({ length: count }, (_, i) => ({
  source: { kind: "pixels", width: size, height: size, channels: 3, data: pixels(size, size, 3, (x, y, c) => (i * 37 + x * 11 + y * 29 + c * 71) % 256) },
  label: i % 3,
}));

/** Copies of every batch of an epoch (a batch's arrays are reused after next()). */
async function collect(loader: DataLoader, epoch: number, start = 0): Promise<{ images: number[][]; labels: number[][]; indices: number[][]; sizes: number[] }> {
  const out = { images: [] as number[][], labels: [] as number[][], indices: [] as number[][], sizes: [] as number[] };
  for await (const b of loader.epoch(epoch, start) as AsyncIterable<Batch>) {
    out.images.push([...b.images]);
    out.labels.push([...b.labels]);
    out.indices.push([...b.indices]);
    out.sizes.push(b.size);
  }
  return out;
}

test("decodeImage returns a PNG's exact pixels; gray files become 3 channels by repetition", async (t) => {
  const dir = await tempDir(t);
  const rgb = pixels(3, 2, 3, (x, y, c) => 40 * x + 100 * y + c);
  const file = await writeImage(path.join(dir, "known.png"), 3, 2, 3, rgb);
  const img = await decodeImage({ kind: "file", path: file }, 3);
  assert.deepEqual([img.width, img.height, img.channels], [3, 2, 3]);
  assert.deepEqual([...img.data], [...rgb]);
  const gray = await writeImage(path.join(dir, "gray.png"), 2, 2, 1, new Uint8Array([0, 50, 100, 250]));
  const asRgb = await decodeImage({ kind: "file", path: gray }, 3);
  assert.deepEqual([...asRgb.data], [0, 0, 0, 50, 50, 50, 100, 100, 100, 250, 250, 250]);
  const asGray = await decodeImage({ kind: "file", path: file }, 1);
  assert.equal(asGray.channels, 1);
  // Pixel (0,0) is (0, 1, 2): its luma is about 1.
  assert.ok(Math.abs(asGray.data[0] - 1) <= 1, `luma ${asGray.data[0]}`);
});

test("decodeImage: a JPEG of one colour decodes close to it; shorterSide resizes keeping the aspect", async (t) => {
  const dir = await tempDir(t);
  const file = await writeImage(path.join(dir, "solid.jpg"), 40, 20, 3, pixels(40, 20, 3, (_x, _y, c) => [200, 100, 50][c]));
  const img = await decodeImage({ kind: "file", path: file }, 3, 10);
  assert.deepEqual([img.width, img.height], [20, 10]);
  for (let i = 0; i < img.data.length; i++) assert.ok(Math.abs(img.data[i] - [200, 100, 50][i % 3]) <= 3);
});

test("normalisation: a known image gives (v/255 − mean)/std exactly, in CHW order", async (t) => {
  const file = await writeImage(path.join(await tempDir(t), "c.png"), 4, 4, 3, pixels(4, 4, 3, (_x, _y, c) => [10, 128, 250][c]));
  const norm = { mean: [0.5, 0.25, 0.125], std: [0.5, 0.2, 0.3] };
  const loader = new DataLoader([{ source: { kind: "file", path: file }, label: 2 }], { ...base, imgsz: 4, normalize: norm });
  const { images, labels } = await collect(loader, 0);
  assert.deepEqual(labels, [[2]]);
  for (let c = 0; c < 3; c++) {
    const expected = Math.fround(([10, 128, 250][c] / 255 - norm.mean[c]) / norm.std[c]);
    assert.deepEqual(images[0].slice(c * 16, (c + 1) * 16), new Array(16).fill(expected));
  }
});

test("eval: shorter side then centre crop (a 12×8 image at imgsz 8 keeps columns 2..9)", async () => {
  const wide: Sample = { source: { kind: "pixels", width: 12, height: 8, channels: 1, data: pixels(12, 8, 1, (x, y) => 20 * y + x) }, label: 0 };
  const loader = new DataLoader([wide], { ...base, channels: 1, normalize: { mean: [0], std: [1] } });
  const [image] = (await collect(loader, 0)).images;
  const expected = [];
  for (let y = 0; y < 8; y++) for (let x = 2; x < 10; x++) expected.push(Math.fround((20 * y + x) / 255));
  assert.deepEqual(image, expected);
});

test("horizontal flip mirrors every row exactly", async () => {
  const samples = pixelSamples(3);
  const plain = await collect(new DataLoader(samples, base), 0);
  const flipped = await collect(new DataLoader(samples, { ...base, augment: { randomResizedCrop: null, fliplr: 1, hsv_h: 0, hsv_s: 0, hsv_v: 0 } }), 0);
  for (let k = 0; k < 3; k++) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 8; y++) {
        const row = (img: number[]): number[] => img.slice(k * 192 + c * 64 + y * 8, k * 192 + c * 64 + y * 8 + 8);
        assert.deepEqual(row(flipped.images[0]), row(plain.images[0]).reverse());
      }
    }
  }
});

test("HSV: a hue shift of a third turns red into green; value gain scales gray; saturation leaves gray alone", () => {
  const renderer = new Renderer(1, 3, IDENTITY);
  const out = new Float32Array(3);
  const p = newPlacement();
  p.hueShift = 1 / 3;
  renderer.render({ width: 1, height: 1, channels: 3, data: new Uint8Array([255, 0, 0]) }, p, out, 0);
  assert.deepEqual([...out].map((v) => Math.round(v * 255)), [0, 255, 0]);
  Object.assign(p, { hueShift: 0.25, saturationGain: 1.7, valueGain: 0.5 });
  renderer.render({ width: 1, height: 1, channels: 3, data: new Uint8Array([100, 100, 100]) }, p, out, 0);
  assert.deepEqual([...out], new Array(3).fill(Math.fround(50 / 255)));
});

test("batches: shapes and sizes, dropLast, labels and indices", async () => {
  const samples = pixelSamples(10);
  const loader = new DataLoader(samples, base);
  assert.equal(loader.length, 3);
  const run = await collect(loader, 0);
  assert.deepEqual(run.sizes, [4, 4, 2]);
  assert.deepEqual(run.images.map((i) => i.length), [4 * 192, 4 * 192, 2 * 192]);
  assert.deepEqual(run.indices.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(run.labels.flat(), run.indices.flat().map((i) => i % 3));
  const dropping = new DataLoader(samples, { ...base, dropLast: true });
  assert.equal(dropping.length, 2);
  assert.deepEqual((await collect(dropping, 0)).sizes, [4, 4]);
});

test("seeded: same bits for the same (seed, epoch), a different order and augmentation for another epoch", async () => {
  const samples = pixelSamples(10);
  const opts = { ...base, shuffle: true, seed: 7, augment: AUGMENT };
  const a = await collect(new DataLoader(samples, opts), 3);
  const b = await collect(new DataLoader(samples, { ...opts, prefetch: 0 }), 3);
  assert.deepEqual(a, b);
  const next = await collect(new DataLoader(samples, opts), 4);
  assert.notDeepEqual(next.indices, a.indices);
  assert.deepEqual([...next.indices.flat()].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // The same sample gets different augmentation in another epoch.
  const imageOf = (run: typeof a, index: number): number[] => {
    const flat = run.indices.flat().indexOf(index);
    return run.images[Math.floor(flat / 4)].slice((flat % 4) * 192, (flat % 4 + 1) * 192);
  };
  assert.notDeepEqual(imageOf(next, 0), imageOf(a, 0));
  const otherSeed = await collect(new DataLoader(samples, { ...opts, seed: 8 }), 3);
  assert.notDeepEqual(otherSeed.indices, a.indices);
});

test("epoch(e, start) equals the tail of the full epoch (exact resume)", async () => {
  const loader = new DataLoader(pixelSamples(11), { ...base, shuffle: true, seed: 3, augment: AUGMENT, prefetch: 1 });
  const full = await collect(loader, 2);
  const tail = await collect(loader, 2, 1);
  assert.deepEqual(tail.images, full.images.slice(1));
  assert.deepEqual(tail.indices, full.indices.slice(1));
  assert.deepEqual(tail.labels, full.labels.slice(1));
});

test("breaking out of an epoch waits for its prefetches; the next epoch runs clean", async () => {
  const loader = new DataLoader(pixelSamples(12), { ...base, shuffle: true, prefetch: 2 });
  for await (const b of loader.epoch(0)) { assert.equal(b.size, 4); break; }
  assert.deepEqual(await collect(loader, 0), await collect(new DataLoader(pixelSamples(12), { ...base, shuffle: true }), 0));
});

test("the RAM cache gives the same bits as decoding every time", async (t) => {
  const dir = await tempDir(t);
  const samples: Sample[] = [];
  for (let i = 0; i < 5; i++) {
    const file = await writeImage(path.join(dir, `${i}.png`), 12, 10, 3, pixels(12, 10, 3, (x, y, c) => (i * 50 + x * 7 + y * 13 + c * 31) % 256));
    samples.push({ source: { kind: "file", path: file }, label: 0 });
  }
  const opts = { ...base, batch: 2, shuffle: true, augment: AUGMENT };
  const cached = new DataLoader(samples, { ...opts, cache: true });
  const first = await collect(cached, 1);
  assert.deepEqual(await collect(cached, 1), first);
  assert.deepEqual(await collect(new DataLoader(samples, opts), 1), first);
});

test("channels: gray pixels stay 1 channel or are repeated for 3; RGB pixels become luma for 1", async () => {
  const gray: Sample = { source: { kind: "pixels", width: 2, height: 2, channels: 1, data: new Uint8Array([0, 51, 102, 255]) }, label: 0 };
  const one = await collect(new DataLoader([gray], { ...base, imgsz: 2, channels: 1, normalize: { mean: [0], std: [1] } }), 0);
  assert.deepEqual(one.images[0], [0, 51, 102, 255].map((v) => Math.fround(v / 255)));
  const three = await collect(new DataLoader([gray], { ...base, imgsz: 2 }), 0);
  assert.deepEqual(three.images[0], [0, 1, 2].flatMap(() => [0, 51, 102, 255].map((v) => Math.fround(v / 255))));
  const red: Sample = { source: { kind: "pixels", width: 1, height: 1, channels: 3, data: new Uint8Array([200, 100, 0]) }, label: 0 };
  const luma = await collect(new DataLoader([red], { ...base, imgsz: 1, channels: 1, normalize: { mean: [0], std: [1] } }), 0);
  assert.deepEqual(luma.images[0], [Math.fround((0.299 * 200 + 0.587 * 100) / 255)]);
});

test("an image that does not decode stops the epoch with a KilnError naming the file", async (t) => {
  const file = path.join(await tempDir(t), "broken.png");
  await writeFile(file, "not a png");
  const loader = new DataLoader([{ source: { kind: "file", path: file }, label: 0 }], base);
  await assert.rejects(collect(loader, 0), (e: Error) => e instanceof KilnError && e.message.includes(file));
});

test("measureNormalization: black and white halves give mean 0.5 and std 0.5 per channel", async (t) => {
  const black: Sample = { source: { kind: "pixels", width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, label: 0 };
  const file = await writeImage(path.join(await tempDir(t), "white.png"), 2, 2, 3, new Uint8Array(12).fill(255));
  const stats = await measureNormalization([black, { source: { kind: "file", path: file }, label: 0 }], 3);
  assert.deepEqual(stats, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  const gray = await measureNormalization([black, black], 1);
  assert.deepEqual(gray, { mean: [0], std: [1] }); // a constant channel keeps std 1 (no division by zero)
});

test("one-channel rendering: bilinear crop, flip and brightness gain as the formula says, pixel by pixel", () => {
  const w = 7, h = 5, size = 4;
  const data = Uint8Array.from({ length: w * h }, (_, i) => (i * 37) % 256);
  const norm = { mean: [0.4], std: [0.2] };
  const r = new Renderer(size, 1, norm);
  for (const p of [{ x: 1.5, y: 0.5, width: 5, height: 3.5, flip: false, valueGain: 1.3 }, { x: 0, y: 1, width: 7, height: 4, flip: true, valueGain: 1 }]) {
    const placement = { ...newPlacement(), ...p };
    const out = new Float32Array(size * size);
    r.render({ width: w, height: h, channels: 1, data }, placement, out, 0);
    // The formula: output pixel centre mapped into the crop, clamped to the image, bilinear, then the gain (capped at 255).
    const px = (x: number, y: number): number => data[y * w + x];
    for (let oy = 0; oy < size; oy++) {
      for (let ox = 0; ox < size; ox++) {
        const from = p.flip ? size - 1 - ox : ox;
        const sx = Math.min(w - 1, Math.max(0, p.x + ((from + 0.5) * p.width) / size - 0.5));
        const sy = Math.min(h - 1, Math.max(0, p.y + ((oy + 0.5) * p.height) / size - 0.5));
        const x0 = Math.floor(sx), y0 = Math.floor(sy), x1 = Math.min(w - 1, x0 + 1), y1 = Math.min(h - 1, y0 + 1);
        const top = px(x0, y0) + (px(x1, y0) - px(x0, y0)) * (sx - x0);
        const bottom = px(x0, y1) + (px(x1, y1) - px(x0, y1)) * (sx - x0);
        const v = Math.min(255, (top + (bottom - top) * (sy - y0)) * p.valueGain);
        const want = (v / 255 - 0.4) / 0.2;
        assert.ok(Math.abs(out[oy * size + ox] - want) < 1e-5, `(${ox}, ${oy}): ${out[oy * size + ox]} vs ${want}`);
      }
    }
  }
});
