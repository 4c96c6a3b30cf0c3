// The validator's arrays as COCO structures, so that training-time mAP is
// the number `kiln eval` gives on the same boxes written as COCO JSON: image
// ids 1..N, category id = class index, annotation ids from 1 (pycocotools
// reads an id of 0 as "no match"), bbox [x, y, w, h], area = w * h.
import type { CocoGroundTruth, CocoResult } from "../coco/index.js";
import type { DetImageEval } from "./types.js";

export function toCoco(images: readonly DetImageEval[], classes: readonly string[]): { gt: CocoGroundTruth; dt: CocoResult[] } {
  const gt: CocoGroundTruth = {
    images: images.map((im, i) => ({ id: i + 1, width: im.width, height: im.height })),
    annotations: [],
    categories: classes.map((name, id) => ({ id, name })),
  };
  const dt: CocoResult[] = [];
  images.forEach((im, i) => {
    for (const o of im.gt) {
      const [x1, y1, x2, y2] = o.box;
      const w = x2 - x1;
      const h = y2 - y1;
      gt.annotations.push({ id: gt.annotations.length + 1, image_id: i + 1, category_id: o.cls, bbox: [x1, y1, w, h], area: w * h, iscrowd: o.crowd ? 1 : 0 });
    }
    for (const d of im.dt) {
      const [x1, y1, x2, y2] = d.box;
      dt.push({ image_id: i + 1, category_id: d.cls, bbox: [x1, y1, x2 - x1, y2 - y1], score: d.score });
    }
  });
  return { gt, dt };
}
