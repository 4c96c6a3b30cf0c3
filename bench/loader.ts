// `npm run bench -- loader`: the data loader alone — images/s that kiln's
// DataLoader decodes (sharp, libuv pool) and augments (the training
// augmentations: random resized crop, flip, HSV jitter, normalisation) from
// JPEG files into 224×224 batches, prefetch on — against the images/s of a
// resnet18 training step at 224 (batch 16), kiln only. A ratio above 1 means
// the loader keeps ahead of training, so decoding is not the bottleneck.
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { crossEntropy, kernels, randn, Rng, tidy } from "../src/engine/index.js";
import { DataLoader } from "../src/data/loader.js";
import { IMAGENET_NORMALIZE } from "../src/data/stats.js";
import type { Sample } from "../src/data/types.js";
import { resnet18 } from "../src/models/index.js";
import { SGD } from "../src/optim/index.js";
import { trainDefaults } from "../src/config/index.js";
import { intFlag, median, round } from "./stats.js";

const IMGSZ = 224;
const BATCH = 16;
const WIDTH = 500;
const HEIGHT = 375;
const CLASSES = 4;

/** A photo-like RGB image: smooth gradients, a few soft blobs, fine noise (JPEG cost depends on content). */
function photo(rng: Rng): Buffer {
  const px = Buffer.alloc(WIDTH * HEIGHT * 3);
  const base = [rng.uniform() * 255, rng.uniform() * 255, rng.uniform() * 255];
  const grad = [rng.uniform() * 2 - 1, rng.uniform() * 2 - 1, rng.uniform() * 2 - 1];
  const blobs = Array.from({ length: 6 }, () => ({
    x: rng.uniform() * WIDTH, y: rng.uniform() * HEIGHT, r: 20 + rng.uniform() * 100, c: [rng.uniform() * 255, rng.uniform() * 255, rng.uniform() * 255],
  }));
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const o = (y * WIDTH + x) * 3;
      for (let c = 0; c < 3; c++) {
        let v = base[c] + grad[c] * (x - WIDTH / 2) * 0.3 + 40 * Math.sin((x * (c + 1)) / 37 + y / 23);
        for (const b of blobs) {
          const d2 = ((x - b.x) ** 2 + (y - b.y) ** 2) / (b.r * b.r);
          if (d2 < 4) v += (b.c[c] - v) * Math.exp(-d2);
        }
        v += (rng.uniform() - 0.5) * 24;
        px[o + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return px;
}

async function writeImages(dir: string, count: number): Promise<Sample[]> {
  const rng = new Rng(0);
  const samples: Sample[] = [];
  for (let c = 0; c < CLASSES; c++) mkdirSync(join(dir, `class${c}`), { recursive: true });
  for (let i = 0; i < count; i++) {
    const label = i % CLASSES;
    const path = join(dir, `class${label}`, `img${String(i).padStart(5, "0")}.jpg`);
    await sharp(photo(rng), { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
    samples.push({ source: { kind: "file", path }, label });
  }
  return samples;
}

/** Images/s of full loader epochs (each batch handed out and dropped at once, as if training were instant). */
async function loaderRate(samples: Sample[], epochs: number, prefetch: number): Promise<number[]> {
  const d = trainDefaults();
  const loader = new DataLoader(samples, {
    batch: BATCH, imgsz: IMGSZ, channels: 3, shuffle: true, seed: 0, dropLast: false, normalize: IMAGENET_NORMALIZE, cache: false, prefetch,
    augment: { randomResizedCrop: { scale: [1 - d.scale, 1], ratio: [3 / 4, 4 / 3] }, fliplr: d.fliplr, hsv_h: d.hsv_h, hsv_s: d.hsv_s, hsv_v: d.hsv_v },
  });
  const rates: number[] = [];
  for (let e = 0; e <= epochs; e++) { // epoch 0: warm-up (file cache, sharp's first calls)
    const start = performance.now();
    let n = 0;
    for await (const b of loader.epoch(e)) n += b.size;
    const s = (performance.now() - start) / 1000;
    if (e > 0) rates.push(n / s);
    process.stderr.write(`[loader] ${e === 0 ? "warm-up epoch" : `epoch ${e}/${epochs}`}: ${n} images in ${s.toFixed(2)} s (${(n / s).toFixed(1)} img/s)\n`);
  }
  return rates;
}

/** Images/s of resnet18's training step at 224 (forward, loss, backward, SGD-momentum update). */
function stepRate(steps: number, warmup: number): { rate: number; stepMs: number; params: number } {
  const rng = new Rng(0);
  const model = resnet18({ nc: CLASSES });
  const x = randn([BATCH, 3, IMGSZ, IMGSZ], rng);
  const targets = Int32Array.from({ length: BATCH }, () => rng.nextUint32() % CLASSES);
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  model.train();
  const step = (): number => tidy(() => {
    const loss = crossEntropy(model.forward(x), targets);
    loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
    return loss.item();
  });
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    step();
    times.push(performance.now() - start);
    process.stderr.write(`[loader] resnet18 step ${i + 1}/${steps}: ${times[i].toFixed(0)} ms\n`);
  }
  return { rate: (BATCH * steps * 1000) / times.reduce((a, b) => a + b, 0), stepMs: median(times), params: model.numParameters() };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { images: { type: "string" }, epochs: { type: "string" }, steps: { type: "string" }, warmup: { type: "string" }, prefetch: { type: "string" } },
    strict: true,
  });
  const count = intFlag("--images", values.images, 320);
  const epochs = intFlag("--epochs", values.epochs, 3);
  const steps = intFlag("--steps", values.steps, 5);
  const warmup = intFlag("--warmup", values.warmup, 2, 0);
  const prefetch = intFlag("--prefetch", values.prefetch, trainDefaults().prefetch, 0);
  const dir = mkdtempSync(join(tmpdir(), "kiln-loader-"));
  try {
    process.stderr.write(`[loader] writing ${count} JPEGs of ${WIDTH}×${HEIGHT} to ${dir}\n`);
    const samples = await writeImages(dir, count);
    const rates = await loaderRate(samples, epochs, prefetch);
    const loaderImagesPerS = median(rates);
    const train = stepRate(steps, warmup);
    const info = kernels().info();
    process.stdout.write(`${JSON.stringify({
      case: "loader_224",
      loader_images_per_s: round(loaderImagesPerS, 1),
      resnet18_224_train_images_per_s: round(train.rate, 2),
      ratio: round(loaderImagesPerS / train.rate, 2),
      images: count,
      source_size: `${WIDTH}x${HEIGHT}`,
      jpeg_kb_mean: round(samples.reduce((a, s) => a + (s.source.kind === "file" ? statSync(s.source.path).size : 0), 0) / samples.length / 1024, 1),
      imgsz: IMGSZ,
      batch: BATCH,
      epochs,
      prefetch,
      loader_runs: rates.map((r) => round(r, 1)),
      resnet18_step_ms: round(train.stepMs, 1),
      steps,
      warmup,
      resnet18_params: train.params,
      threads: info.threads,
      isa: info.isa,
      uv_threadpool_size: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
      sharp_concurrency: sharp.concurrency(),
      augment: "random resized crop (scale 0.5-1), fliplr 0.5, hsv 0.015/0.7/0.4, ImageNet normalisation",
    })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
