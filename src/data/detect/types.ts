// The data contract of the detection task, shared by the dataset formats
// (YOLO, COCO, VOC, synthetic), the checks, the augmentation and loader, the
// loss, the metrics and the trainer.
import type { DataIssue, ImageSource, SplitName } from "../types.js";

/**
 * One labelled object. `box` is [x1, y1, x2, y2] normalised by the image's
 * width and height (0..1, top-left origin), whatever the file format stored:
 * YOLO's normalised centre/size, COCO's pixel [x, y, w, h], VOC's pixel corners.
 */
export interface DetObject {
  cls: number;
  box: [number, number, number, number];
  /** COCO's iscrowd / VOC's difficult: kept through conversion, ignored by the loss, a crowd region in COCO evaluation. */
  crowd?: boolean;
}

export interface DetSample {
  source: ImageSource;
  /** Image size in pixels when the format records it (COCO, VOC, synthetic); 0 when only decoding tells (YOLO). */
  width: number;
  height: number;
  objects: DetObject[];
  /** The image's file name relative to its split folder (or a generated name): the key across formats. */
  name: string;
}

export interface DetectionDataset {
  /** The data.yaml / annotation file / folder path, or "synthetic". */
  name: string;
  format: "yolo" | "coco" | "voc" | "synthetic";
  /** index = class id */
  classes: string[];
  splits: Partial<Record<SplitName, DetSample[]>>;
  /** Problems found while reading (a label line with 4 numbers, a dangling image id): the entries affected are left out. */
  issues?: DataIssue[];
}

/**
 * A batch as the detection loader yields it: letterboxed, augmented images
 * [size, 3, imgsz, imgsz] normalised to 0..1 (Ultralytics' /255, no mean/std),
 * and every object of the batch as parallel arrays (Ultralytics' `batch_idx`,
 * `cls`, `bboxes`): boxes in normalised [cx, cy, w, h] of the network input.
 */
export interface DetBatch {
  images: Float32Array;
  size: number;
  imgsz: number;
  /** Which image of the batch each object belongs to. */
  batchIndex: Int32Array;
  cls: Int32Array;
  /** 4 per object: cx, cy, w, h in 0..1 of the input image. */
  boxes: Float32Array;
  /** Positions of the batch's images in the loader's samples. */
  indices: Int32Array;
  /** Per image: the original size and the letterbox (scale, pad) that maps input pixels back to it (validation, predict). */
  shapes: { width: number; height: number; scale: number; padX: number; padY: number }[];
}
