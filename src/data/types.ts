// The data contract between src/data and the trainer (docs/data-api.md).

export type SplitName = "train" | "val" | "test";

export const SPLIT_NAMES: readonly SplitName[] = ["train", "val", "test"];

/** Where one image comes from: a file on disk, or pixels made in memory (synthetic, IDX). */
export type ImageSource =
  | { kind: "file"; path: string }
  | { kind: "pixels"; width: number; height: number; channels: 1 | 3; data: Uint8Array }; // HWC, row-major

export interface Sample {
  source: ImageSource;
  label: number;
}

/** A problem found in a dataset: by the index reader (load) or by the checks (check.ts). */
export interface DataIssue {
  severity: "error" | "warning";
  file?: string;
  message: string;
  fix?: string;
}

export interface ClassificationDataset {
  /** A name for messages and args.yaml: the folder/file path, or "synthetic". */
  name: string;
  format: "folders" | "csv" | "idx" | "synthetic";
  classes: string[]; // index = label
  splits: Partial<Record<SplitName, Sample[]>>; // "train" always; "val" always after splitting
  /** Channel count of the images (1 for IDX/grayscale, 3 otherwise); the loader outputs `channels`. */
  channels: 1 | 3;
  /** Problems the index reader found without decoding (an empty class folder, an unknown CSV label);
   *  the affected entries are left out of `splits`. checkClassificationDataset reports them. */
  issues?: DataIssue[];
}

/** An image decoded to 8-bit pixels, HWC row-major. */
export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}
