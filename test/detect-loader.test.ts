// The detection loader and its transforms, checked on constructed images: a
// white rectangle on black whose box is known, so that after letterbox,
// mosaic, the affine and a flip the box must equal the bounding box of the
// white pixels; boxes cut by the border are clipped or dropped; seeded
// determinism; exact resume; close_mosaic; validation's shapes map back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { Rng } from "../src/engine/index.js";
import { DetectionLoader, type DetAugmentOptions } from "../src/data/detect/loader.js";
import { flipLeftRight, isCandidate, letterbox, mosaic, randomAffine, type PixelBox, type Pixels } from "../src/data/detect/transforms.js";
import type { DetBatch, DetSample } from "../src/data/detect/types.js";

function rectangleImage(w: number, h: number, box: [number, number, number, number]): Pixels {
  const data = new Uint8Array(w * h * 3);
  for (let y = box[1]; y < box[3]; y++) for (let x = box[0]; x < box[2]; x++) data.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { width: w, height: h, data };
}

/** The bounding box of the bright pixels (> 200) of an image, in pixel edges. */
function brightBox(img: Pixels): [number, number, number, number] | null {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.data[(y * img.width + x) * 3] > 200) [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
    }
  }
  return Number.isFinite(x1) ? [x1, y1, x2, y2] : null;
}

const near = (a: number[], b: number[], tol: number, what: string): void => {
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol, `${what}: [${a.map((x) => x.toFixed(2))}] vs [${b.map((x) => x.toFixed(2))}]`));
};
const asArray = (b: PixelBox): number[] => [b.x1, b.y1, b.x2, b.y2];

test("letterbox centres the image on grey and shifts its boxes", () => {
  const img = rectangleImage(64, 32, [10, 5, 30, 20]);
  const lb = letterbox(img, [{ cls: 0, x1: 10, y1: 5, x2: 30, y2: 20 }], 64);
  assert.equal(lb.padX, 0);
  assert.equal(lb.padY, 16);
  assert.equal(lb.img.data[0], 114);
  near(asArray(lb.boxes[0]), brightBox(lb.img)!, 0, "letterboxed box");
});

test("the affine moves boxes with the pixels; a flip mirrors them", () => {
  for (let seed = 0; seed < 5; seed++) {
    const img = rectangleImage(64, 64, [20, 12, 44, 40]);
    const rng = new Rng(seed);
    const out = randomAffine(img, [{ cls: 1, x1: 20, y1: 12, x2: 44, y2: 40 }], 64, { translate: 0.1, scale: 0.3 }, rng);
    assert.equal(out.boxes.length, 1);
    near(asArray(out.boxes[0]), brightBox(out.img)!, 1, `affine seed ${seed}`);
    const flipped = flipLeftRight(out.img, out.boxes);
    near(asArray(flipped[0]), brightBox(out.img)!, 1, `flipped seed ${seed}`);
  }
});

test("boxes cut by the border are clipped, and dropped when under 10 % of their area stays", () => {
  const before: PixelBox = { cls: 0, x1: 50, y1: 10, x2: 70, y2: 30 };
  assert.ok(isCandidate(before, { cls: 0, x1: 50, y1: 10, x2: 64, y2: 30 }, 1), "70 % kept");
  assert.ok(!isCandidate(before, { cls: 0, x1: 62, y1: 10, x2: 64, y2: 30 }, 1), "2 px wide: dropped");
  assert.ok(!isCandidate({ cls: 0, x1: 0, y1: 0, x2: 40, y2: 40 }, { cls: 0, x1: 30, y1: 30, x2: 40, y2: 40 }, 1), "6 % kept: dropped");
  // Through the affine with no scaling, a box half outside the image after the translation is clipped to the edge.
  const img = rectangleImage(64, 64, [52, 20, 64, 40]);
  const out = randomAffine(img, [{ cls: 0, x1: 52, y1: 20, x2: 64, y2: 40 }], 64, { translate: 0, scale: 0 }, new Rng(1));
  assert.equal(out.boxes[0].x2, 64);
  near(asArray(out.boxes[0]), brightBox(out.img)!, 1, "clipped");
});

test("mosaic places four images around a random centre with their boxes", () => {
  const parts = [0, 1, 2, 3].map((i) => ({ img: rectangleImage(32, 32, [8, 8, 8 + 4 * (i + 1), 20]), boxes: [{ cls: i, x1: 8, y1: 8, x2: 8 + 4 * (i + 1), y2: 20 }] }));
  const m = mosaic(parts, 32, new Rng(3));
  assert.equal(m.img.width, 64);
  assert.equal(m.boxes.length, 4);
  for (const b of m.boxes) {
    // Each box covers bright pixels of its own width (4·(cls+1) px) at its place on the canvas.
    const crop = { width: 64, height: 64, data: m.img.data.map((v, i) => {
      const p = Math.floor(i / 3), x = p % 64, y = Math.floor(p / 64);
      return x >= b.x1 - 1 && x < b.x2 + 1 && y >= b.y1 - 1 && y < b.y2 + 1 ? v : 0;
    }) };
    const bright = brightBox(crop);
    if (b.x2 - b.x1 > 0 && b.y2 - b.y1 > 0) near(asArray(b), bright!, 0, `mosaic box ${b.cls}`);
  }
});

function pixelSamples(n: number, size = 64): DetSample[] {
  return Array.from({ length: n }, (_, i) => {
    const x = 4 + (i % 5) * 6, y = 6 + (i % 3) * 8;
    const img = rectangleImage(size, size, [x, y, x + 20, y + 16]);
    return { source: { kind: "pixels", width: size, height: size, channels: 3, data: img.data }, width: size, height: size, name: `img${i}.png`,
      objects: [{ cls: i % 2, box: [x / size, y / size, (x + 20) / size, (y + 16) / size] }] };
  });
}

const AUG: DetAugmentOptions = { mosaic: 1, translate: 0.1, scale: 0.5, fliplr: 0.5, hsv_h: 0.015, hsv_s: 0.7, hsv_v: 0.4 };

async function all(it: AsyncIterableIterator<DetBatch>): Promise<DetBatch[]> {
  const out: DetBatch[] = [];
  for await (const b of it) out.push({ ...b, images: b.images.slice(), boxes: b.boxes.slice(), cls: b.cls.slice(), batchIndex: b.batchIndex.slice() });
  return out;
}

test("training batches are seeded, differ by epoch, resume exactly, and lose mosaic on close_mosaic", async () => {
  const samples = pixelSamples(10);
  const make = (): DetectionLoader => new DetectionLoader(samples, { batch: 4, imgsz: 64, shuffle: true, seed: 7, dropLast: false, augment: AUG });
  const a = await all(make().epoch(2));
  const b = await all(make().epoch(2));
  assert.equal(a.length, 3);
  assert.deepEqual(a.map((x) => [...x.boxes]), b.map((x) => [...x.boxes]));
  assert.ok(a.every((x, i) => Buffer.from(x.images.buffer).equals(Buffer.from(b[i].images.buffer))));
  const other = await all(make().epoch(3));
  assert.notDeepEqual(other.map((x) => [...x.boxes]), a.map((x) => [...x.boxes]));
  const tail = await all(make().epoch(2, 1));
  assert.deepEqual(tail.map((x) => [...x.boxes]), a.slice(1).map((x) => [...x.boxes]));
  // Every box lies inside the input and is at least 2 px.
  for (const batch of a) {
    for (let k = 0; k < batch.cls.length; k++) {
      const [cx, cy, w, h] = batch.boxes.subarray(4 * k, 4 * k + 4);
      assert.ok(cx - w / 2 >= -1e-6 && cy - h / 2 >= -1e-6 && cx + w / 2 <= 1 + 1e-6 && cy + h / 2 <= 1 + 1e-6 && w * 64 > 2 && h * 64 > 2);
    }
  }
  const closed = make();
  closed.setMosaic(false);
  const plain = await all(closed.epoch(2));
  // Without mosaic each image holds only its own object.
  for (const batch of plain) assert.ok(batch.cls.length <= batch.size);
});

test("validation: letterbox only, and shapes map boxes back to the original image (a real PNG file)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-detload-"));
  try {
    const img = rectangleImage(120, 60, [30, 10, 90, 40]);
    const path = join(dir, "wide.png");
    await sharp(Buffer.from(img.data), { raw: { width: 120, height: 60, channels: 3 } }).png().toFile(path);
    const sample: DetSample = { source: { kind: "file", path }, width: 120, height: 60, name: "wide.png", objects: [{ cls: 0, box: [30 / 120, 10 / 60, 90 / 120, 40 / 60] }] };
    const [batch] = await all(new DetectionLoader([sample], { batch: 1, imgsz: 64, shuffle: false, seed: 0, dropLast: false, augment: null }).epoch(0));
    const s = batch.shapes[0];
    assert.deepEqual([s.width, s.height, s.padX, s.padY], [120, 60, 0, 16]);
    assert.ok(Math.abs(s.scale - 64 / 120) < 1e-9);
    const [cx, cy, w, h] = [...batch.boxes].map((v) => v * 64);
    const back = [(cx - w / 2 - s.padX) / s.scale, (cy - h / 2 - s.padY) / s.scale, (cx + w / 2 - s.padX) / s.scale, (cy + h / 2 - s.padY) / s.scale];
    near(back, [30, 10, 90, 40], 1e-4, "mapped back (float32 boxes)");
    // The input is the letterboxed image: grey bands above and below, white where the box is.
    const plane = 64 * 64;
    assert.ok(Math.abs(batch.images[0] - 114 / 255) < 1e-6);
    assert.ok(batch.images[Math.round(cy) * 64 + Math.round(cx)] > 0.9);
    assert.equal(batch.images.length, 3 * plane);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
