// The YOLOv8 detection loss against PyTorch (test/fixtures/detect.safetensors,
// made by generate_detect.py from Ultralytics' published definitions): loss,
// items, gradient of every head map, the assigner's decisions and inference
// decoding; a finite-difference check of the op; NMS and scaleBoxes by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertGradcheck, fromData, Rng, tidy, type Tensor } from "../src/engine/index.js";
import { makeAnchors } from "../src/models/yolo/anchors.js";
import { ciouGrad, xywhToXyxy, xyxyToXywh } from "../src/models/yolo/boxes.js";
import { decodeDetections } from "../src/models/yolo/decode.js";
import { computeDetectionLoss, detectionLoss, type DetectionTargets } from "../src/models/yolo/loss.js";
import { nms, scaleBoxes, type Detection } from "../src/models/yolo/nms.js";
import { FixtureFile } from "./helpers/fixtures.js";
import { assertClose } from "./helpers/compare.js";

// The fixtures are float64 answers rounded once to float32. kiln computes the loss in float64 except
// the class BCE and its sigmoid (float32 kernels, summed in double): ~1e-7 relative. PyTorch's own
// float32 run lands up to 1.3e-6 away (each case's torch_f32_err).
const LOSS_TOL = 1e-5;
const GRAD_TOL = 1e-4;

interface CaseMeta {
  nc: number;
  imgsz: number;
  batch: number;
  strides: number[];
}

const fixtures = new FixtureFile("detect");

function caseInputs(name: string): { meta: CaseMeta; maps: Tensor[]; batch: DetectionTargets } {
  const meta = fixtures.meta<CaseMeta>(name);
  const maps = meta.strides.map((_, i) => {
    const t = fixtures.tensor(`${name}.in.map${i}`);
    const m = fromData(t.data.slice(), t.shape);
    m.requiresGrad = true;
    return m;
  });
  const batch: DetectionTargets = {
    size: meta.batch,
    imgsz: meta.imgsz,
    batchIndex: fixtures.ints(`${name}.in.batch_idx`),
    cls: fixtures.ints(`${name}.in.cls`),
    boxes: fixtures.tensor(`${name}.in.bboxes`).data,
  };
  return { meta, maps, batch };
}

for (const name of fixtures.cases()) {
  test(`detection loss matches PyTorch: ${name}`, () => {
    const { meta, maps, batch } = caseInputs(name);
    const options = { nc: meta.nc, strides: meta.strides };

    // Loss, items and the assigner's outputs.
    const r = computeDetectionLoss(maps, batch, options);
    assertClose(`${name} loss`, { shape: [1], data: Float32Array.of(r.loss) }, fixtures.tensor(`${name}.out.loss`), LOSS_TOL);
    const items = Float32Array.of(r.items.box, r.items.cls, r.items.dfl);
    assertClose(`${name} items`, { shape: [3], data: items }, fixtures.tensor(`${name}.out.items`), LOSS_TOL);

    const A = r.assignment.anchors;
    const fg = fixtures.ints(`${name}.assign.fg_mask`);
    const gtIdx = fixtures.ints(`${name}.assign.target_gt_idx`);
    assert.equal(fg.length, meta.batch * A);
    for (let i = 0; i < fg.length; i++) {
      const where = `image ${Math.floor(i / A)} anchor ${i % A}`;
      assert.equal(r.assignment.fg[i], fg[i], `${name}: fg_mask differs at ${where}`);
      assert.equal(r.assignment.gtIndex[i], gtIdx[i], `${name}: target_gt_idx differs at ${where}`);
    }
    const scores = new Float32Array(meta.batch * A * meta.nc);
    for (let i = 0; i < meta.batch * A; i++) if (r.assignment.fg[i]) scores[i * meta.nc + r.assignment.label[i]] = r.assignment.score[i];
    assertClose(`${name} target_scores`, { shape: [meta.batch, A, meta.nc], data: scores }, fixtures.tensor(`${name}.assign.target_scores`), LOSS_TOL);

    // The op: its value, and backward's gradient of every map.
    tidy(() => {
      const { loss, items: opItems } = detectionLoss(maps, batch, options);
      assert.deepEqual(opItems, r.items);
      assert.equal(loss.item(), Math.fround(r.loss));
      loss.backward();
    });
    maps.forEach((m, i) => {
      assert.ok(m.grad, `${name}: map ${i} got no gradient`);
      assertClose(`${name} grad map${i}`, m.grad, fixtures.tensor(`${name}.grad.map${i}`), GRAD_TOL);
    });

    // Inference decoding of the same maps.
    const decoded = decodeDetections(maps, meta.strides, meta.nc, meta.imgsz);
    const all = new Float32Array(decoded.reduce((n, d) => n + d.length, 0));
    decoded.forEach((d, b) => all.set(d, b * d.length));
    assertClose(`${name} decode`, { shape: [meta.batch, A, 4 + meta.nc], data: all }, fixtures.tensor(`${name}.decode`), LOSS_TOL);
  });
}

test("the loss's gradient passes a finite-difference check (tiny head, regMax 4)", () => {
  // imgsz 32: maps 4×4, 2×2, 1×1; 2 classes; one image with two objects, one empty image.
  const rng = new Rng(11);
  const regMax = 4, nc = 2, strides = [8, 16, 32];
  const maps = strides.map((s) => {
    const hw = 32 / s;
    const data = new Float32Array(2 * (4 * regMax + nc) * hw * hw);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    const t = fromData(data, [2, 4 * regMax + nc, hw, hw]);
    t.requiresGrad = true;
    return t;
  });
  const batch: DetectionTargets = {
    size: 2, imgsz: 32,
    batchIndex: Int32Array.of(0, 0),
    cls: Int32Array.of(1, 0),
    boxes: Float32Array.of(0.41, 0.38, 0.62, 0.57, 0.7, 0.66, 0.45, 0.52),
  };
  // The assignment is not differentiated (PyTorch runs it under no_grad): freeze it, so that the
  // finite differences see the same targets. CIoU's alpha is a constant of the analytic gradient too;
  // its own derivative is a small part of the box term, inside the tolerance.
  const { assignment } = computeDetectionLoss(maps, batch, { nc, strides, regMax });
  assert.ok(assignment.fg.some((v) => v === 1), "the case must have foreground anchors");
  const options = { nc, strides, regMax, frozenAssignment: assignment };
  assertGradcheck("detectionLoss", (m0, m1, m2) => detectionLoss([m0, m1, m2], batch, options).loss, maps, { eps: 1e-2, atol: 1e-3, rtol: 1e-2 });
});

/** CIoU with alpha given (a constant, as under PyTorch's no_grad), straight from bbox_iou's formulas. */
function ciouFixedAlpha(p: number[], alpha: number): number {
  const [ax1, ay1, ax2, ay2, bx1, by1, bx2, by2] = p;
  const eps = 1e-7;
  const w1 = ax2 - ax1, h1 = ay2 - ay1 + eps, w2 = bx2 - bx1, h2 = by2 - by1 + eps;
  const inter = Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0) * Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0);
  const iou = inter / (w1 * h1 + w2 * h2 - inter + eps);
  const c2 = (Math.max(ax2, bx2) - Math.min(ax1, bx1)) ** 2 + (Math.max(ay2, by2) - Math.min(ay1, by1)) ** 2 + eps;
  const rho2 = ((bx1 + bx2 - ax1 - ax2) ** 2 + (by1 + by2 - ay1 - ay2) ** 2) / 4;
  const v = (4 / Math.PI ** 2) * (Math.atan(w2 / h2) - Math.atan(w1 / h1)) ** 2;
  return iou - (rho2 / c2 + v * alpha);
}

test("CIoU's gradient matches central differences (alpha held constant), a disjoint pair included", () => {
  const pairs = [
    [1, 2, 5, 7, 2, 1, 6, 5], // overlapping, different aspect ratios
    [0, 0, 2, 2, 3, 4, 6, 9], // disjoint: the clamp cuts the intersection's gradient
    [1, 1.5, 4, 4, 1.2, 2, 5, 3.5], // box2 partly inside box1
  ];
  for (const p of pairs) {
    const g = new Float64Array(4);
    const value = ciouGrad(p, 0, p, 4, g);
    // alpha = v / (v − iou + 1 + eps), recovered from the value at this point.
    const v0 = ciouFixedAlpha(p, 0) - ciouFixedAlpha(p, 1);
    const iou = ciouFixedAlpha(p, 0) + (((p[4] + p[6] - p[0] - p[2]) ** 2 + (p[5] + p[7] - p[1] - p[3]) ** 2) / 4) /
      ((Math.max(p[2], p[6]) - Math.min(p[0], p[4])) ** 2 + (Math.max(p[3], p[7]) - Math.min(p[1], p[5])) ** 2 + 1e-7);
    const alpha = v0 / (v0 - iou + (1 + 1e-7));
    assert.ok(Math.abs(ciouFixedAlpha(p, alpha) - value) < 1e-12);
    for (let k = 0; k < 4; k++) {
      const up = p.slice(), down = p.slice();
      up[k] += 1e-6;
      down[k] -= 1e-6;
      const numeric = (ciouFixedAlpha(up, alpha) - ciouFixedAlpha(down, alpha)) / 2e-6;
      assert.ok(Math.abs(numeric - g[k]) < 1e-7, `pair ${p}: coordinate ${k}: analytic ${g[k]}, numeric ${numeric}`);
    }
  }
});

test("anchors: make_anchors order and offsets; xywh ↔ xyxy", () => {
  const a = makeAnchors([[2, 3], [1, 2]], [8, 16]);
  assert.equal(a.count, 8);
  assert.deepEqual(Array.from(a.points.subarray(0, 8)), [0.5, 0.5, 1.5, 0.5, 2.5, 0.5, 0.5, 1.5]);
  assert.deepEqual(Array.from(a.points.subarray(12)), [0.5, 0.5, 1.5, 0.5]);
  assert.deepEqual(Array.from(a.strides), [8, 8, 8, 8, 8, 8, 16, 16]);
  const xyxy = xywhToXyxy([10, 20, 4, 6]);
  assert.deepEqual(Array.from(xyxy), [8, 17, 12, 23]);
  assert.deepEqual(Array.from(xyxyToXywh(xyxy)), [10, 20, 4, 6]);
});

/** Rows [x1, y1, x2, y2, p_0 … p_{nc-1}] for nms. */
function rows(nc: number, ...dets: [number[], number, number][]): Float32Array {
  const out = new Float32Array(dets.length * (4 + nc));
  dets.forEach(([box, cls, score], i) => {
    out.set(box, i * (4 + nc));
    out[i * (4 + nc) + 4 + cls] = score;
  });
  return out;
}

const boxesOf = (dets: Detection[]): number[][] => dets.map((d) => d.box);

test("nms: same class suppressed, other classes kept, class-agnostic suppresses across", () => {
  const pred = rows(3, [[10, 10, 50, 50], 0, 0.9], [[12, 12, 52, 52], 0, 0.8], [[11, 11, 51, 51], 2, 0.7]);
  const dets = nms(pred, { nc: 3 });
  assert.deepEqual(dets.map((d) => d.cls), [0, 2]);
  assert.deepEqual(boxesOf(dets), [[10, 10, 50, 50], [11, 11, 51, 51]]);
  assert.ok(Math.abs(dets[0].score - 0.9) < 1e-7);
  assert.deepEqual(nms(pred, { nc: 3, classAware: false }).map((d) => d.cls), [0]);
  // Below the IoU threshold both stay: IoU([0,0,10,10], [5,0,15,10]) = 1/3.
  assert.equal(nms(rows(1, [[0, 0, 10, 10], 0, 0.9], [[5, 0, 15, 10], 0, 0.8]), { nc: 1, iou: 0.5 }).length, 2);
  assert.equal(nms(rows(1, [[0, 0, 10, 10], 0, 0.9], [[5, 0, 15, 10], 0, 0.8]), { nc: 1, iou: 0.3 }).length, 1);
});

test("nms: confidence filter (strictly above), best class per anchor, max_det, sorted by score", () => {
  const pred = rows(2, [[0, 0, 5, 5], 1, 0.25], [[10, 0, 15, 5], 0, 0.26], [[20, 0, 25, 5], 1, 0.6], [[30, 0, 35, 5], 0, 0.9]);
  const dets = nms(pred, { nc: 2 });
  assert.deepEqual(dets.map((d) => d.score.toFixed(2)), ["0.90", "0.60", "0.26"]);
  const first = nms(rows(2, [[0, 0, 5, 5], 0, 0.2]), { nc: 2 });
  assert.equal(first.length, 0);
  const two = rows(2, [[0, 0, 5, 5], 0, 0.25]);
  two[5] = 0.3; // class 1 beats class 0 on this anchor
  assert.deepEqual(nms(two, { nc: 2 }).map((d) => d.cls), [1]);
  assert.deepEqual(nms(pred, { nc: 2, maxDet: 2 }).map((d) => d.score.toFixed(2)), ["0.90", "0.60"]);
  assert.deepEqual(nms(pred, { nc: 2, conf: 0.5 }).length, 2);
});

test("nms reads nc from decodeDetections' rows", () => {
  const maps = [8, 16, 32].map((s) => {
    const hw = 64 / s;
    return { data: new Float32Array((64 + 3) * hw * hw).fill(-4), shape: [1, 64 + 3, hw, hw] };
  });
  maps[0].data[(64 + 1) * 64 + 9] = 4; // class 1 at anchor 9 of level 0 (8×8): x 1, y 1
  const [decoded] = decodeDetections(maps, [8, 16, 32], 3, 64);
  assert.equal(decoded.nc, 3);
  assert.equal(decoded.anchors, 64 + 16 + 4);
  const dets = nms(decoded);
  assert.equal(dets.length, 1);
  assert.equal(dets[0].cls, 1);
  // Uniform bins: each side 7.5 grid units from the centre (12, 12) at stride 8.
  assert.deepEqual(dets[0].box, [12 - 60, 12 - 60, 12 + 60, 12 + 60]);
});

test("decodeDetections: a peaked distribution decodes to its bin; bare data with imgsz", () => {
  const nc = 1, hw = [4, 2, 1];
  const maps = hw.map((n) => new Float32Array((64 + nc) * n * n));
  // Level 1 (stride 16), cell (x 1, y 0): sides l=2, t=1, r=3, b=0 bins.
  const cell = 1;
  [2, 1, 3, 0].forEach((bin, side) => { maps[1][(side * 16 + bin) * 4 + cell] = 40; });
  const [d] = decodeDetections(maps, [8, 16, 32], nc, 32);
  const a = 16 + cell;
  const row = Array.from(d.subarray(a * 5, a * 5 + 5));
  assert.deepEqual(row.slice(0, 4).map((v) => +v.toFixed(4)), [(1.5 - 2) * 16, (0.5 - 1) * 16, (1.5 + 3) * 16, (0.5 + 0) * 16]);
  assert.equal(row[4], 0.5);
});

test("scaleBoxes maps letterboxed boxes back to the original image, clipped", () => {
  // A 200×100 image letterboxed into 64×64: scale 0.32, padding 16 above and below.
  const lb = { scale: 0.32, padX: 0, padY: 16 };
  const original: [number, number, number, number][] = [[20, 10, 120, 90], [150, 5, 199, 99]];
  const input: Detection[] = original.map((b, i) => ({
    box: [b[0] * lb.scale + lb.padX, b[1] * lb.scale + lb.padY, b[2] * lb.scale + lb.padX, b[3] * lb.scale + lb.padY],
    score: 0.5, cls: i,
  }));
  const back = scaleBoxes(input, lb, 200, 100);
  back.forEach((d, i) => d.box.forEach((v, k) => assert.ok(Math.abs(v - original[i][k]) < 1e-9, `box ${i} coordinate ${k}: ${v}`)));
  assert.deepEqual(back.map((d) => d.cls), [0, 1]);
  const clipped = scaleBoxes([{ box: [-5, 10, 70, 60], score: 1, cls: 0 }], lb, 200, 100);
  assert.deepEqual(clipped[0].box, [0, 0, 200, 100]);
  assert.deepEqual(input[0].box, [20 * 0.32, 10 * 0.32 + 16, 120 * 0.32, 90 * 0.32 + 16]); // inputs untouched
});
