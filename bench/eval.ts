// `npm run bench -- eval`: COCO bbox evaluation, kiln against pycocotools, on
// a seeded scene the size of the README's reference case (5,000 images, 80
// categories with COCO's ids, ~32k GT with 1 % crowd and mask-like `area`
// fields, ~68k detections with misses, duplicates, confusions and false
// positives, scores to 3 decimals so ties occur). Both sides do the same
// work: read the two JSON files, evaluate, accumulate, summarize. kiln: best of
// --runs. pycocotools: measured once when the interpreter can import it (then
// the stats of both are compared), else the README's figure, named as such.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { spawnSync } from "node:child_process";
import { cocoEvaluate, readCocoFiles, summaryLines, type CocoGroundTruth, type CocoResult } from "../src/metrics/coco/index.js";
import { intFlag, PEER_PYTHON, round, runJson } from "./stats.js";

/** The README's reference figure (../shared/coco-cases/README.md, "Speed reference"). */
const README_FIGURE = { seconds: 15.5, images: 5000, categories: 80, gt: 32220, dt: 68383 };

/** COCO's 80 category ids (1..90 with gaps). */
const COCO_IDS = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
  41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79,
  80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
];

/** mulberry32: small, seeded, the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

export function generateCase(images: number, categories: number, seed: number): { gt: CocoGroundTruth; dt: CocoResult[] } {
  const rnd = prng(seed);
  const ids = COCO_IDS.slice(0, Math.min(categories, COCO_IDS.length));
  for (let c = ids.length; c < categories; c++) ids.push(100 + c);
  const gt: CocoGroundTruth = { images: [], annotations: [], categories: ids.map((id) => ({ id, name: `class${id}` })) };
  const dt: CocoResult[] = [];
  const score = (lo: number, hi: number): number => Math.round((lo + rnd() * (hi - lo)) * 1000) / 1000;
  for (let i = 0; i < images; i++) {
    const width = 640;
    const height = rnd() < 0.5 ? 480 : 427;
    const imageId = 100000 + i * 7; // sparse ids, as in real files
    gt.images.push({ id: imageId, file_name: `${imageId}.jpg`, width, height });
    // a few classes per image, objects clustered on them; 5 % of images are empty
    const count = rnd() < 0.05 ? 0 : 1 + Math.floor(rnd() * rnd() * 25);
    const local = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => ids[Math.floor(rnd() * ids.length)]);
    for (let j = 0; j < count; j++) {
      const cat = local[Math.floor(rnd() * local.length)];
      const size = rnd() < 0.4 ? 8 + rnd() * 32 : rnd() < 0.7 ? 32 + rnd() * 64 : 96 + rnd() * 300;
      const w = r2(Math.min(width - 1, size * (0.5 + rnd())));
      const h = r2(Math.min(height - 1, size * (0.5 + rnd())));
      const x = r2(rnd() * (width - w));
      const y = r2(rnd() * (height - h));
      const crowd = rnd() < 0.01;
      gt.annotations.push({ id: gt.annotations.length + 1, image_id: imageId, category_id: cat, bbox: [x, y, w, h], area: r2(w * h * (0.5 + 0.4 * rnd())), iscrowd: crowd ? 1 : 0 });
      // the detector: finds 85 %, sometimes twice, sometimes under the wrong class
      const found = rnd() < 0.85 ? (rnd() < 0.3 ? 2 : 1) : 0;
      for (let k = 0; k < found; k++) {
        const jit = 0.04 + 0.25 * rnd() * rnd();
        const e = (s: number): number => (rnd() - 0.5) * 2 * jit * s;
        const cls = rnd() < 0.06 ? ids[Math.floor(rnd() * ids.length)] : cat;
        dt.push({ image_id: imageId, category_id: cls, bbox: [r2(x + e(w)), r2(y + e(h)), r2(Math.max(1, w + e(w))), r2(Math.max(1, h + e(h)))], score: score(k === 0 ? 0.3 : 0.05, 1) });
      }
    }
    // background false positives, mostly low scores
    for (let k = Math.floor(rnd() * rnd() * 30); k > 0; k--) {
      const w = r2(10 + rnd() * 150);
      const h = r2(10 + rnd() * 150);
      dt.push({ image_id: imageId, category_id: local[Math.floor(rnd() * local.length)], bbox: [r2(rnd() * (width - w)), r2(rnd() * (height - h)), w, h], score: score(0.01, 0.6) });
    }
  }
  return { gt, dt };
}

/** pycocotools on the same files, in a fresh interpreter; its prints go to stderr. */
const PEER = `
import sys, json, time, contextlib
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt_path, dt_path = sys.argv[1], sys.argv[2]
with contextlib.redirect_stdout(sys.stderr):
    t0 = time.perf_counter()
    gt = COCO(gt_path)
    dt = gt.loadRes(dt_path)
    e = COCOeval(gt, dt, "bbox")
    e.evaluate(); e.accumulate(); e.summarize()
    s = time.perf_counter() - t0
try:
    from importlib.metadata import version
    v = version("pycocotools")
except Exception:
    v = "unknown"
print(json.dumps({"seconds": s, "stats": [float(x) for x in e.stats], "version": v}))
`;

function hasPycocotools(python: string): boolean {
  const r = spawnSync(python, ["-c", "import pycocotools.cocoeval"], { stdio: "ignore" });
  return r.status === 0;
}

function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  return fn().then((value) => ({ value, seconds: (performance.now() - start) / 1000 }));
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { images: { type: "string" }, categories: { type: "string" }, seed: { type: "string" }, runs: { type: "string" }, python: { type: "string" }, peer: { type: "string" } },
    strict: true,
  });
  const images = intFlag("--images", values.images, 5000);
  const categories = intFlag("--categories", values.categories, 80);
  const seed = intFlag("--seed", values.seed, 0, 0);
  const runs = intFlag("--runs", values.runs, 3);
  const python = values.python ?? PEER_PYTHON;
  const peer = values.peer ?? "pycocotools";
  const dir = mkdtempSync(join(tmpdir(), "kiln-bench-eval-"));
  try {
    const { gt, dt } = generateCase(images, categories, seed);
    const gtPath = join(dir, "gt.json");
    const dtPath = join(dir, "dt.json");
    writeFileSync(gtPath, JSON.stringify(gt));
    writeFileSync(dtPath, JSON.stringify(dt));
    const crowd = gt.annotations.filter((a) => a.iscrowd).length;
    process.stderr.write(`[eval] case: ${images} images, ${categories} categories, ${gt.annotations.length} GT (${crowd} crowd), ${dt.length} detections\n`);

    const full: number[] = [];
    const evalOnly: number[] = [];
    let stats: number[] = [];
    for (let i = 0; i < runs; i++) {
      // the whole job, as pycocotools is timed: read + parse + validate, evaluate, summarize
      const all = await timed(async () => {
        const files = await readCocoFiles(gtPath, dtPath);
        const result = cocoEvaluate(files.gt, files.dt);
        summaryLines(result.stats);
        return result;
      });
      const inMemory = await timed(async () => cocoEvaluate(gt, dt));
      full.push(all.seconds);
      evalOnly.push(inMemory.seconds);
      stats = all.value.stats;
      process.stderr.write(`[eval] kiln run ${i + 1}/${runs}: ${all.seconds.toFixed(3)} s with reading, ${inMemory.seconds.toFixed(3)} s in memory\n`);
    }
    const kiln = Math.min(...full);

    let peerSeconds: number;
    let peerSource: string;
    let statsDiff: number | null = null;
    let peerVersion: string | null = null;
    if (peer !== "none" && hasPycocotools(python)) {
      process.stderr.write(`[eval] pycocotools (${python}) on the same files...\n`);
      const { result } = runJson<{ seconds: number; stats: number[]; version: string }>("pycocotools", python, ["-c", PEER, gtPath, dtPath], process.env);
      peerSeconds = result.seconds;
      peerVersion = result.version;
      peerSource = `measured here on this case (${python}, pycocotools ${result.version}), one run`;
      statsDiff = Math.max(...result.stats.map((v, i) => Math.abs(v - stats[i])));
    } else {
      const f = README_FIGURE;
      peerSeconds = f.seconds;
      peerSource = `../shared/coco-cases/README.md "Speed reference": ${f.seconds} s for ${f.images} images, ${f.categories} categories, ${f.gt} GT (1 % crowd), ${f.dt} detections on a 2-core machine (pycocotools not importable by ${python})`;
    }
    process.stdout.write(`${JSON.stringify({
      case: "coco_eval",
      kiln_seconds: round(kiln, 4),
      pycocotools_seconds: round(peerSeconds, 3),
      ratio: round(peerSeconds / kiln, 1),
      pycocotools_source: peerSource,
      pycocotools_version: peerVersion,
      stats_max_abs_diff: statsDiff,
      kiln_in_memory_seconds: round(Math.min(...evalOnly), 4),
      kiln_runs: full.map((s) => round(s, 4)),
      images,
      categories,
      gt: gt.annotations.length,
      crowd,
      dt: dt.length,
      seed,
      stats: stats.map((v) => round(v, 6)),
    })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
