// The detection loader as the trainer uses it, on constructed images (a white
// rectangle on black): seeded batches, exact resume, close_mosaic, boxes inside
// the input, and validation's letterbox with shapes that map boxes back. The
// transforms themselves are checked in detect-augment.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { DetectionLoader, type DetAugmentOptions } from "../src/data/detect/loader.js";
import type { DetBatch, DetSample } from "../src/data/detect/types.js";

function rectangleImage(w: number, h: number, box: [number, number, number, number]): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(w * h * 3);
  for (let y = box[1]; y < box[3]; y++) for (let x = box[0]; x < box[2]; x++) data.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
  return { width: w, height: h, data };
}

const near = (a: number[], b: number[], tol: number, what: string): void => {
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol, `${what}: [${a.map((x) => x.toFixed(2))}] vs [${b.map((x) => x.toFixed(2))}]`));
};

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
