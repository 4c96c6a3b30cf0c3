// The COCO JSON shapes kiln reads (instances file and results file) and what
// the evaluation returns.

export interface CocoImage {
  id: number;
  file_name?: string;
  width?: number;
  height?: number;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** [x, y, w, h] in pixels. */
  bbox: [number, number, number, number];
  /** Used for the area ranges (a mask's area in real COCO, not w*h of the box). */
  area: number;
  iscrowd: 0 | 1 | boolean;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
}

export interface CocoGroundTruth {
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

/** One entry of a results file. */
export interface CocoResult {
  image_id: number;
  category_id: number;
  bbox: [number, number, number, number];
  score: number;
}

/** COCOeval.stats: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (-1: nothing to average). */
export type CocoStats = [number, number, number, number, number, number, number, number, number, number, number, number];

export interface CocoEvalResult {
  stats: CocoStats;
  /** AP@[.50:.95] (area all, maxDets 100) per category id (as a string key, like the JSON); -1 without non-crowd GT. */
  perCategoryAp: Record<string, number>;
  /** AP@.50 per category id; -1 without non-crowd GT. */
  perCategoryAp50: Record<string, number>;
  /** eval['precision'] in C order, shape [T, R, K, A, M]; -1 where a category has no non-crowd GT in the area range. */
  precision: Float64Array;
  precisionShape: [number, number, number, number, number];
  /** eval['recall'] in C order, shape [T, K, A, M]. */
  recall: Float64Array;
  /** The evaluated categories in the order of K (ascending id). */
  categories: { id: number; name: string }[];
  /** Detections left out because their category is not listed in the ground truth (pycocotools drops them too). */
  droppedDetections: number;
}
