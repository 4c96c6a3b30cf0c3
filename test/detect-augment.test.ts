// Detection augmentation and its loader, checked on constructed images: white rectangles on
// black whose boxes are known, so after letterbox, mosaic, the affine and a flip each box must
// equal the bounding box of its white pixels (within 1 px). Then the loader: seeded batches,
// exact resume, close_mosaic, crowd objects, and validation shapes that map boxes back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { Rng } from "../src/engine/rng.js";
import { affineMatrix, boxCandidate, transformBoxes, warpAffine } from "../src/data/detect/affine.js";
import { augmentDetection, DetScratch, flipBoxes, flipPixels, mosaicPartners, type DetAugmentOptions } from "../src/data/detect/augment.js";
import { augmentHsv, hsvGains } from "../src/data/detect/hsv.js";
import { letterbox, loadSized, PAD, placeObjects, type Box } from "../src/data/detect/letterbox.js";
import { DetectionLoader, type DetLoaderBatch } from "../src/data/detect/loader.js";
import { mosaic4, type Tile } from "../src/data/detect/mosaic.js";
import type { DetObject, DetSample } from "../src/data/detect/types.js";
import type { RawImage } from "../src/data/types.js";

type Rect = [number, number, number, number];

/** width × height black RGB with white pixels [x1, x2) × [y1, y2) for each rect. */
function rects(width: number, height: number, ...boxes: Rect[]): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (const [x1, y1, x2, y2] of boxes) for (let y = y1; y < y2; y++) data.fill(255, (y * width + x1) * 3, (y * width + x2) * 3);
  return { width, height, channels: 3, data };
}

/** The bounding box (pixel edges) of the white pixels (red > 127) inside `within`, or null. */
function whiteBox(pixels: Uint8Array, width: number, height: number, within: Rect = [0, 0, width, height]): Rect | null {
  let [x1, y1, x2, y2] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let y = Math.max(0, within[1]); y < Math.min(height, within[3]); y++) {
    for (let x = Math.max(0, within[0]); x < Math.min(width, within[2]); x++) {
      if (pixels[(y * width + x) * 3] > 127) [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
    }
  }
  return Number.isFinite(x1) ? [x1, y1, x2, y2] : null;
}

const corners = (b: Box): Rect => [b.x1, b.y1, b.x2, b.y2];
const grow = (r: Rect, by: number): Rect => [Math.floor(r[0]) - by, Math.floor(r[1]) - by, Math.ceil(r[2]) + by, Math.ceil(r[3]) + by];

function near(actual: readonly number[], expected: readonly number[] | null, tol: number, what: string): void {
  assert.ok(expected, `${what}: no white pixels`);
  const ok = actual.every((v, i) => Math.abs(v - expected[i]) <= tol);
  assert.ok(ok, `${what}: [${actual.map((v) => v.toFixed(2))}] vs [${expected.map((v) => v.toFixed(2))}]`);
}

/** Each box against the white pixels around it. */
function boxesMatchPixels(boxes: readonly Box[], pixels: Uint8Array, size: number, what: string): void {
  for (const b of boxes) near(corners(b), whiteBox(pixels, size, size, grow(corners(b), 2)), 1, `${what} cls ${b.cls}`);
}

const pixelSource = (img: RawImage): DetSample["source"] => ({ kind: "pixels", ...img });
const object = (cls: number, r: Rect, w: number, h: number, crowd?: boolean): DetObject =>
  ({ cls, box: [r[0] / w, r[1] / h, r[2] / w, r[3] / h], ...(crowd ? { crowd } : {}) });

const NONE: DetAugmentOptions = { mosaic: 0, translate: 0, scale: 0, fliplr: 0, hsv_h: 0, hsv_s: 0, hsv_v: 0 };

test("letterbox: long side to imgsz, centred on grey, boxes on their pixels", async () => {
  for (const [w, h, r] of [[200, 100, [50, 20, 90, 60]], [90, 150, [10, 30, 70, 100]]] as [number, number, Rect][]) {
    const sized = await loadSized(pixelSource(rects(w, h, r)), 64);
    assert.equal(Math.max(sized.image.width, sized.image.height), 64);
    assert.deepEqual([sized.width, sized.height], [w, h]);
    const canvas = new Uint8Array(64 * 64 * 3);
    const { padX, padY } = letterbox(sized.image, 64, canvas);
    assert.deepEqual([padX, padY], [Math.floor((64 - sized.image.width) / 2), Math.floor((64 - sized.image.height) / 2)]);
    assert.equal(canvas[0], PAD);
    const [box] = placeObjects([object(0, r, w, h)], sized.image, padX, padY);
    near(corners(box), whiteBox(canvas, 64, 64), 1, `letterbox ${w}x${h}`);
  }
});

test("a flip mirrors pixels and boxes", () => {
  const img = rects(64, 64, [5, 10, 25, 30]);
  flipPixels(img.data, 64, 64);
  const [box] = flipBoxes([{ cls: 0, x1: 5, y1: 10, x2: 25, y2: 30 }], 64);
  assert.deepEqual(corners(box), [39, 10, 59, 30]);
  near(corners(box), whiteBox(img.data, 64, 64), 0, "flipped");
});

test("the affine with fixed parameters moves boxes with the pixels", () => {
  const img = rects(64, 64, [20, 12, 44, 40]);
  const out = new Uint8Array(64 * 64 * 3);
  for (const [scale, tx, ty] of [[1, 32, 32], [1.3, 30, 36], [0.6, 38, 25], [1.5, 26.5, 40.25]]) {
    const m = affineMatrix(scale, tx, ty, 64, 64);
    warpAffine(img, m, 64, 64, out);
    const boxes = transformBoxes([{ cls: 0, x1: 20, y1: 12, x2: 44, y2: 40 }], m, scale, 64, 64);
    assert.equal(boxes.length, 1);
    near(corners(boxes[0]), whiteBox(out, 64, 64), 1, `scale ${scale} at (${tx}, ${ty})`);
    if (scale === 1 && tx === 32) assert.ok(out.every((v, i) => v === img.data[i]), "the identity leaves pixels as they are");
  }
});

test("boxes cut by the border are clipped, and dropped when 10% or less of their area stays", () => {
  const img = rects(64, 64, [40, 20, 60, 40]);
  const out = new Uint8Array(64 * 64 * 3);
  const box: Box = { cls: 0, x1: 40, y1: 20, x2: 60, y2: 40 };
  // Moved 12 px right: 8 of its 20 px columns stay.
  let m = affineMatrix(1, 44, 32, 64, 64);
  warpAffine(img, m, 64, 64, out);
  const [cut] = transformBoxes([box], m, 1, 64, 64);
  assert.equal(cut.x2, 64);
  near(corners(cut), whiteBox(out, 64, 64), 1, "clipped");
  // Moved 22.5 px right: 1.5 of 20 columns stay, under the 2 px minimum.
  m = affineMatrix(1, 54.5, 32, 64, 64);
  assert.deepEqual(transformBoxes([box], m, 1, 64, 64), []);
  // A 40 px wide box: 3.5 columns (8.75%) left is dropped by the area rule alone, 5 (12.5%) kept.
  const wide: Box = { cls: 0, x1: 20, y1: 20, x2: 60, y2: 40 };
  assert.deepEqual(transformBoxes([wide], affineMatrix(1, 72.5, 32, 64, 64), 1, 64, 64), []);
  assert.deepEqual(transformBoxes([wide], affineMatrix(1, 71, 32, 64, 64), 1, 64, 64).map(corners), [[59, 20, 64, 40]]);
  // The area rule on its own: 3 of 40 rows (7.5%) left is dropped, 5 rows (12.5%) kept.
  const tall: Box = { cls: 0, x1: 0, y1: 0, x2: 30, y2: 40 };
  assert.ok(!boxCandidate(tall, { cls: 0, x1: 0, y1: 0, x2: 30, y2: 3 }, 1));
  assert.ok(boxCandidate(tall, { cls: 0, x1: 0, y1: 0, x2: 30, y2: 5 }, 1));
  // Under a zoom the area compared is the scaled one: half the zoomed box kept is kept.
  assert.ok(boxCandidate(tall, { cls: 0, x1: 0, y1: 0, x2: 60, y2: 40 }, 2));
  assert.ok(!boxCandidate(tall, { cls: 0, x1: 0, y1: 0, x2: 200, y2: 1.9 }, 1), "thin: dropped");
});

test("mosaic: four tiles around the centre, boxes shifted, clipped to the canvas, empty ones dropped", () => {
  const tiles: Tile[] = [
    { image: rects(64, 32, [8, 4, 40, 28]), boxes: [{ cls: 0, x1: 8, y1: 4, x2: 40, y2: 28 }] },
    { image: rects(40, 64, [10, 10, 30, 50]), boxes: [{ cls: 1, x1: 10, y1: 10, x2: 30, y2: 50 }] },
    { image: rects(64, 64, [20, 20, 44, 44], [1, 60, 4, 63]), boxes: [{ cls: 2, x1: 20, y1: 20, x2: 44, y2: 44 }, { cls: 5, x1: 1, y1: 60, x2: 4, y2: 63 }] },
    { image: rects(30, 20, [5, 5, 25, 15]), boxes: [{ cls: 3, x1: 5, y1: 5, x2: 25, y2: 15 }] },
  ];
  const canvas = new Uint8Array(128 * 128 * 3);
  const [xc, yc] = [50, 70];
  const boxes = mosaic4(tiles, 64, [xc, yc], canvas);
  assert.equal(canvas[0], PAD);
  // Tile 0 ends at the centre: its right edge at xc, bottom at yc; cut at the left (50 of 64 columns shown).
  const quadrant = (cls: number): Rect => [[0, 0, xc, yc], [xc, 0, 128, yc], [0, yc, xc, 128], [xc, yc, 128, 128]][cls === 5 ? 2 : cls] as Rect;
  for (const b of boxes) near(corners(b), whiteBox(canvas, 128, 128, quadrant(b.cls)), 0, `tile ${b.cls}`);
  assert.deepEqual(corners(boxes.find((b) => b.cls === 0)!), [0, 42, 26, 66], "tile 0 clipped at the left edge");
  // Tile 2 (64 wide) ends at xc = 50: its 14 left columns are off the canvas, and the small box with them.
  assert.ok(!boxes.some((b) => b.cls === 5), "a box wholly off the canvas is dropped");
  assert.deepEqual(boxes.map((b) => b.cls), [0, 1, 2, 3]);
});

test("the pipeline: mosaic + affine + flip keep every box on its white pixels", () => {
  const scratch = new DetScratch(64);
  const tile = (w: number, h: number, cls: number): Tile => {
    const r: Rect = [Math.round(w / 4), Math.round(h / 4), Math.round(w * 3 / 4), Math.round(h * 3 / 4)];
    return { image: rects(w, h, r), boxes: [{ cls, x1: r[0], y1: r[1], x2: r[2], y2: r[3] }] };
  };
  const tiles = [tile(64, 48, 0), tile(48, 64, 1), tile(64, 64, 2), tile(64, 40, 3)];
  const opts: DetAugmentOptions = { ...NONE, mosaic: 1, translate: 0.1, scale: 0.5, fliplr: 0.5 };
  let seen = 0;
  for (let seed = 0; seed < 12; seed++) {
    const { pixels, boxes } = augmentDetection(tiles, opts, new Rng(seed), scratch);
    boxesMatchPixels(boxes, pixels, 64, `mosaic seed ${seed}`);
    for (const b of boxes) assert.ok(b.x1 >= 0 && b.y1 >= 0 && b.x2 <= 64 && b.y2 <= 64);
    seen += boxes.length;
    const single = augmentDetection([tile(64, 64 - 2 * seed, 7)], { ...opts, mosaic: 0 }, new Rng(seed), scratch);
    boxesMatchPixels(single.boxes, single.pixels, 64, `letterbox path seed ${seed}`);
  }
  assert.ok(seen > 12, "most mosaic boxes survive");
  // Same generator state, same result.
  const a = augmentDetection(tiles, opts, new Rng(5), scratch).pixels.slice();
  assert.deepEqual(augmentDetection(tiles, opts, new Rng(5), scratch).pixels, a);
});

test("HSV: zero gains leave pixels alone; gains change colours, never boxes", () => {
  const colours = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 37 + (i >> 5) * 11) % 256);
  const copy = colours.slice();
  augmentHsv(copy, 64 * 64, hsvGains({ hsv_h: 0, hsv_s: 0, hsv_v: 0 }, new Rng(1)));
  assert.deepEqual(copy, colours);
  // Unit tables (a gain too small to change any entry) still round-trip through 8-bit HSV: within a few levels.
  augmentHsv(copy, 64 * 64, [1, 1, 1.0001]);
  assert.ok(copy.every((v, i) => Math.abs(v - colours[i]) <= 4), "RGB -> HSV -> RGB");
  // OpenCV's hue is 0..179: green (60) times 1.5 is 90, cyan.
  const green = Uint8Array.of(0, 255, 0);
  augmentHsv(green, 1, [1.5, 1, 1]);
  assert.deepEqual([...green], [0, 255, 255]);
  const grey = Uint8Array.of(100, 100, 100);
  augmentHsv(grey, 1, [1, 1, 1.5]);
  assert.deepEqual([...grey], [150, 150, 150]);
  // Through the pipeline with no geometry: boxes are the letterbox's, pixels differ.
  const tile: Tile = { image: rects(64, 48, [10, 10, 30, 30]), boxes: [{ cls: 0, x1: 10, y1: 10, x2: 30, y2: 30 }] };
  const scratch = new DetScratch(64);
  const plain = augmentDetection([tile], NONE, new Rng(3), scratch);
  const plainPixels = plain.pixels.slice();
  const jittered = augmentDetection([tile], { ...NONE, hsv_h: 0.5, hsv_s: 0.7, hsv_v: 0.4 }, new Rng(3), scratch);
  assert.deepEqual(jittered.boxes, plain.boxes);
  assert.deepEqual(corners(plain.boxes[0]), [10, 18, 30, 38]);
  assert.notDeepEqual(jittered.pixels, plainPixels);
});

test("mosaic partners: none at probability 0, three at 1, seeded", () => {
  assert.equal(mosaicPartners(0, 10, new Rng(1)), null);
  const p = mosaicPartners(1, 10, new Rng(1));
  assert.equal(p?.length, 3);
  assert.deepEqual(mosaicPartners(1, 10, new Rng(1)), p);
  assert.ok(p!.every((i) => Number.isInteger(i) && i >= 0 && i < 10));
});

// ---- the loader ----

/** Sizes vary; one white rectangle each (class i % 3); every third image also has a crowd region (class 9). */
function samples(n: number): DetSample[] {
  return Array.from({ length: n }, (_, i) => {
    const [w, h] = [48 + (i % 4) * 16, 40 + (i % 3) * 12];
    const r: Rect = [6 + (i % 5) * 3, 5 + (i % 4) * 2, 30 + (i % 5) * 3, 28 + (i % 4) * 2];
    const crowd: Rect = [w - 10, h - 8, w - 2, h - 2];
    const objects = [object(i % 3, r, w, h)];
    if (i % 3 === 0) objects.push(object(9, crowd, w, h, true));
    return { source: pixelSource(rects(w, h, r)), width: w, height: h, name: `img${i}.png`, objects };
  });
}

interface Copy { images: Float32Array; boxes: number[]; cls: number[]; batchIndex: number[]; indices: number[]; crowd: number[]; shapes: DetLoaderBatch["shapes"] }

async function collect(loader: DetectionLoader, epoch: number, start = 0): Promise<Copy[]> {
  const out: Copy[] = [];
  for await (const b of loader.epoch(epoch, start)) {
    out.push({ images: b.images.slice(), boxes: [...b.boxes], cls: [...b.cls], batchIndex: [...b.batchIndex], indices: [...b.indices], crowd: [...b.crowd.boxes], shapes: b.shapes });
  }
  return out;
}

const AUG: DetAugmentOptions = { mosaic: 1, translate: 0.1, scale: 0.5, fliplr: 0.5, hsv_h: 0.015, hsv_s: 0.7, hsv_v: 0.4 };
const base = { batch: 4, imgsz: 64, seed: 11, dropLast: false };

test("training batches: seeded, different per epoch, the same whatever the prefetch, crowd left out", async () => {
  const data = samples(10);
  const a = await collect(new DetectionLoader(data, { ...base, shuffle: true, augment: AUG }), 2);
  const b = await collect(new DetectionLoader(data, { ...base, shuffle: true, augment: AUG, prefetch: 0, workers: 1 }), 2);
  assert.equal(a.length, 3);
  assert.deepEqual(a, b);
  assert.equal(a[2].indices.length, 2, "the last, short batch");
  const other = await collect(new DetectionLoader(data, { ...base, shuffle: true, augment: AUG }), 3);
  assert.notDeepEqual(other.map((x) => x.indices), a.map((x) => x.indices));
  assert.notDeepEqual(other.map((x) => x.boxes), a.map((x) => x.boxes));
  for (const batch of a) {
    assert.ok(!batch.cls.includes(9), "no crowd object in training targets");
    assert.equal(batch.crowd.length, 0);
    assert.equal(batch.images.length, batch.indices.length * 3 * 64 * 64);
    for (let k = 0; k < batch.cls.length; k++) {
      const [cx, cy, w, h] = batch.boxes.slice(4 * k, 4 * k + 4);
      assert.ok(cx - w / 2 >= -1e-6 && cy - h / 2 >= -1e-6 && cx + w / 2 <= 1 + 1e-6 && cy + h / 2 <= 1 + 1e-6 && w * 64 > 2 && h * 64 > 2);
    }
    assert.ok(batch.batchIndex.every((k, i) => k >= 0 && k < batch.indices.length && (i === 0 || k >= batch.batchIndex[i - 1])), "objects in image order");
  }
});

test("epoch(e, k) is exactly the tail of epoch(e)", async () => {
  const data = samples(11);
  const make = (): DetectionLoader => new DetectionLoader(data, { ...base, batch: 3, shuffle: true, augment: AUG });
  const full = await collect(make(), 4);
  assert.equal(full.length, 4);
  for (const k of [1, 3]) assert.deepEqual(await collect(make(), 4, k), full.slice(k));
  // One loader, epochs one after another: no state leaks from one into the next.
  const loader = make();
  await collect(loader, 1);
  assert.deepEqual(await collect(loader, 4, 2), full.slice(2));
});

test("setMosaic(false): training without mosaic, and with no other change it is the validation letterbox", async () => {
  const data = samples(8);
  const geometryFree: DetAugmentOptions = { ...NONE, mosaic: 1 };
  const val = await collect(new DetectionLoader(data, { ...base, shuffle: false, augment: null }), 0);
  const train = new DetectionLoader(data, { ...base, shuffle: false, augment: geometryFree });
  const withMosaic = await collect(train, 0);
  assert.notDeepEqual(withMosaic.map((x) => x.images), val.map((x) => x.images));
  assert.ok(withMosaic.some((x) => x.cls.length > x.indices.length), "mosaics hold their partners' objects");
  train.setMosaic(false);
  const closed = await collect(train, 0);
  assert.deepEqual(closed.map((x) => x.images), val.map((x) => x.images));
  assert.deepEqual(closed.map((x) => x.boxes), val.map((x) => x.boxes));
  train.setMosaic(true);
  assert.deepEqual((await collect(train, 0)).map((x) => x.boxes), withMosaic.map((x) => x.boxes));
});

/** The white pixels' box (pixel edges) of image k of a CHW float batch. */
function batchWhiteBox(images: Float32Array, k: number, size: number, within?: Rect): Rect | null {
  const plane = size * size;
  const rgb = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) rgb[i * 3] = Math.round(images[k * 3 * plane + i] * 255);
  return whiteBox(rgb, size, size, within);
}

test("validation: letterbox only, crowd apart, shapes map boxes back to the original (pixels and a PNG file)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "kiln-detaug-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "tall.png");
  const fileRect: Rect = [20, 50, 70, 130];
  const tall = rects(90, 150, fileRect);
  await sharp(Buffer.from(tall.data), { raw: { width: 90, height: 150, channels: 3 } }).png().toFile(file);
  const data = [...samples(3), { source: { kind: "file" as const, path: file }, width: 90, height: 150, name: "tall.png", objects: [object(4, fileRect, 90, 150)] }];
  const [batch] = await collect(new DetectionLoader(data, { ...base, shuffle: false, augment: null }), 0);
  assert.deepEqual(batch.indices, [0, 1, 2, 3]);
  assert.deepEqual(batch.cls, [0, 1, 2, 4]);
  assert.equal(batch.crowd.length, 4, "sample 0's crowd region, kept apart");
  for (let k = 0; k < 4; k++) {
    const s = batch.shapes[k];
    const original = data[k].objects[0];
    assert.deepEqual([s.width, s.height], [data[k].width, data[k].height]);
    assert.ok(Math.abs(s.scale - 64 / Math.max(s.width, s.height)) < 1e-12);
    const [cx, cy, w, h] = batch.boxes.slice(4 * k, 4 * k + 4).map((v) => v * 64);
    const input: Rect = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
    near(input, batchWhiteBox(batch.images, k, 64), 1, `input box ${k}`);
    const back = [(input[0] - s.padX) / s.scale, (input[1] - s.padY) / s.scale, (input[2] - s.padX) / s.scale, (input[3] - s.padY) / s.scale];
    const expected = [original.box[0] * s.width, original.box[1] * s.height, original.box[2] * s.width, original.box[3] * s.height];
    near(back, expected, 1, `mapped back ${k}`);
    // Outside the resized image: the grey padding.
    if (s.padX > 0) assert.ok(Math.abs(batch.images[k * 3 * 64 * 64] - PAD / 255) < 1e-6);
  }
  assert.deepEqual([batch.shapes[3].padX, batch.shapes[3].padY], [Math.floor((64 - Math.round(90 * 64 / 150)) / 2), 0]);
});

test("option errors name the option", () => {
  assert.throws(() => new DetectionLoader([], { ...base, imgsz: 50, shuffle: false, augment: null }), /imgsz must be a multiple of 32/);
  assert.throws(() => new DetectionLoader([], { ...base, shuffle: false, augment: { ...AUG, scale: 1 } }), /scale must be/);
  assert.throws(() => new DetectionLoader([], { ...base, shuffle: false, augment: { ...AUG, mosaic: 1.5 } }), /mosaic must be/);
});
