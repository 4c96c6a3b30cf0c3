import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { Rng } from "../src/engine/rng.js";
import { decodeImage } from "../src/data/decode.js";
import { loadClassificationDataset } from "../src/data/load.js";
import { drawShape, SHAPES } from "../src/data/raster.js";
import { drawSyntheticImage, SYNTHETIC_CLASSES, syntheticDataset, writeClassFolders } from "../src/data/synthetic.js";
import { tempDir } from "./fixtures-data/make.js";

const bytesOf = (ds: ReturnType<typeof syntheticDataset>, i: number): Uint8Array => {
  const s = ds.splits.train![i].source;
  assert.equal(s.kind, "pixels");
  return s.kind === "pixels" ? s.data : new Uint8Array();
};

test("ten distinct classes, balanced labels, 64×64 RGB pixel sources", () => {
  assert.equal(new Set(SYNTHETIC_CLASSES).size, 10);
  const ds = syntheticDataset({ train: 40, val: 20 });
  assert.equal(ds.format, "synthetic");
  assert.equal(ds.channels, 3);
  assert.deepEqual(ds.splits.train!.map((s) => s.label), Array.from({ length: 40 }, (_, i) => i % 10));
  assert.equal(ds.splits.val!.length, 20);
  const s = ds.splits.train![0].source;
  assert.ok(s.kind === "pixels" && s.width === 64 && s.height === 64 && s.channels === 3 && s.data.length === 64 * 64 * 3);
});

test("generated from the seed: same seed same bytes, another seed other bytes, a prefix of a larger set", () => {
  const a = syntheticDataset({ train: 12, val: 2, seed: 5 });
  const b = syntheticDataset({ train: 20, val: 2, seed: 5 });
  const c = syntheticDataset({ train: 12, val: 2, seed: 6 });
  for (let i = 0; i < 12; i++) {
    assert.deepEqual(bytesOf(a, i), bytesOf(b, i));
    assert.notDeepEqual(bytesOf(a, i), bytesOf(c, i));
  }
  assert.notDeepEqual(bytesOf(a, 0), bytesOf(a, 10)); // same class, another image
});

test("the rasteriser: a circle of radius r covers about πr² pixels; a square is axis-aligned", () => {
  const size = 40;
  const count = (shape: string, angle = 0): number => {
    const px = new Uint8Array(size * size * 3);
    drawShape(px, size, SHAPES.find((s) => s.name === shape)!, 20, 20, 15, angle, [255, 255, 255]);
    let covered = 0;
    for (let i = 0; i < px.length; i += 3) covered += px[i] / 255;
    return covered;
  };
  // circle: inside u² + v² < 0.8², so its radius is 0.8 × 15 = 12 pixels.
  assert.ok(Math.abs(count("circle") - Math.PI * 144) < 6, `circle area ${count("circle")}`);
  // square: |u|, |v| < 0.7 → a 21×21 square, whatever the rotation.
  assert.ok(Math.abs(count("square") - 441) < 3);
  assert.ok(Math.abs(count("square", 0.3) - 441) < 6);
});

test("the shape stands out: pixels of the drawn image differ from the same image without it", () => {
  const withShape = drawSyntheticImage(0, 64, new Rng(1));
  const pixelsDiffering = (other: Uint8Array): number => {
    let n = 0;
    for (let i = 0; i < other.length; i += 3) if (Math.abs(other[i] - withShape[i]) + Math.abs(other[i + 1] - withShape[i + 1]) > 60) n++;
    return n;
  };
  // The same stream draws another class's shape over the same background: they differ where the shapes do.
  assert.ok(pixelsDiffering(drawSyntheticImage(5, 64, new Rng(1))) > 100);
});

test("writeClassFolders writes lossless PNG class folders that load back as the same dataset", async (t) => {
  const dir = await tempDir(t);
  const ds = syntheticDataset({ train: 20, val: 10 });
  await writeClassFolders(ds, dir);
  const back = await loadClassificationDataset(dir, { seed: 0, valRatio: 0.2, fraction: 1 });
  assert.deepEqual(back.classes, [...SYNTHETIC_CLASSES].sort());
  assert.equal(back.splits.train!.length, 20);
  assert.equal(back.splits.val!.length, 10);
  const file = path.join(dir, "train", "circle", "00000.png");
  const decoded = await decodeImage({ kind: "file", path: file }, 3);
  assert.deepEqual(decoded.data, Buffer.from(bytesOf(ds, 0)));
});
