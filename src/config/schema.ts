// The one place every `kiln train` option is declared: its type, range,
// default and a one-line description. Validation, the static type, `--help`
// and `args.yaml` all come from this schema (zod). Names follow Ultralytics'
// where it has the option, so recipes carry over.
import { z } from "zod";
import { CLASSIFIER_NAMES, DETECTOR_NAMES, type ModelName } from "../models/index.js";

const modelNames = [...CLASSIFIER_NAMES, ...DETECTOR_NAMES] as [ModelName, ...ModelName[]];

/** Groups for `--help`, in the order they are printed. */
export const OPTION_GROUPS = {
  run: "Run and data",
  budget: "Budget and stopping",
  optim: "Optimizer and schedule",
  augment: "Augmentation and regularisation",
  detect: "Detection (task=detect)",
  track: "Evaluation and tracking",
  kiln: "Checks, confirmation and machine",
} as const;

export type OptionGroup = keyof typeof OPTION_GROUPS;

/** Which help group each option belongs to (every key of the schema appears once). */
export const OPTION_GROUP_OF: Record<keyof z.infer<typeof trainConfigSchema>, OptionGroup> = {
  task: "run", model: "run", data: "run", project: "run", name: "run", exist_ok: "run", val_ratio: "run", fraction: "run",
  max_per_class: "run", imgsz: "run", batch: "run", cache: "run", prefetch: "run", workers: "run", normalize: "run", seed: "run",
  deterministic: "run", save_period: "run", resume: "run",
  epochs: "budget", time: "budget", patience: "budget", nonfinite_max_fraction: "budget",
  optimizer: "optim", lr0: "optim", lrf: "optim", momentum: "optim", weight_decay: "optim", warmup_epochs: "optim",
  warmup_momentum: "optim", warmup_bias_lr: "optim", nbs: "optim", cos_lr: "optim", scheduler: "optim", accumulate: "optim",
  clip_grad: "optim", ema: "optim",
  label_smoothing: "augment", dropout: "augment", fliplr: "augment", scale: "augment", hsv_h: "augment", hsv_s: "augment", hsv_v: "augment",
  plots: "track", tensorboard: "track", mlflow: "track",
  mosaic: "detect", close_mosaic: "detect", translate: "detect", box: "detect", cls: "detect", dfl: "detect", conf: "detect", iou: "detect",
  max_det: "detect",
  quick: "kiln", confirm_over: "kiln", price_per_hour: "kiln", yes: "kiln", threads: "kiln",
  ranks: "kiln", freeze_bn: "optim", freeze: "optim",
};

const fraction01 = () => z.number().min(0).max(1);

export const trainConfigSchema = z.object({
  // ---- run and data
  task: z.enum(["classify", "detect"]).default("classify").describe("classify images, or detect objects (a detector model implies detect)"),
  model: z.union([z.enum(modelNames), z.string().regex(/\.(pt|pth|safetensors)$/i)]).default("cnn")
    .describe(`architecture to train (${modelNames.join(", ")}; task=detect: yolov8n by default), or weights to fine-tune from: a .pt/.pth (torchvision, Ultralytics) or .safetensors file`),
  data: z.string().min(1).default("synthetic").describe("dataset: a folder, a CSV file, IDX files, a YOLO data.yaml, COCO or VOC, or 'synthetic' (built in)"),
  project: z.string().min(1).default("runs/classify").describe("folder that holds the run directories (task=detect: runs/detect)"),
  name: z.string().min(1).optional().describe("run directory name (default: train, train2, …)"),
  exist_ok: z.boolean().default(false).describe("reuse an existing run directory of the same name"),
  val_ratio: z.number().gt(0).lt(1).default(0.2).describe("share of the images held out for validation when the data has no val split"),
  fraction: z.number().gt(0).max(1).default(1).describe("share of the training images to use"),
  max_per_class: z.number().int().min(1).optional().describe("at most this many training images per class"),
  imgsz: z.number().int().min(8).max(2048).default(64).describe("image size (pixels, square; task=detect: 256, a multiple of 32)"),
  batch: z.number().int().min(1).max(4096).default(32).describe("images per batch"),
  cache: z.boolean().default(false).describe("keep decoded images in RAM"),
  prefetch: z.number().int().min(0).max(64).default(2).describe("batches decoded ahead while the kernels run"),
  workers: z.number().int().min(0).max(256).default(0).describe("images decoded at once (0: as many as the batch; sharp decodes in libuv's pool, UV_THREADPOOL_SIZE)"),
  normalize: z.enum(["imagenet", "data"]).default("imagenet").describe("input normalisation: ImageNet's mean/std or measured from the training data"),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(0).describe("seed of the weights, the split, the shuffling and the augmentation"),
  deterministic: z.boolean().default(true).describe("kiln's kernels always reduce in a fixed order, so a seeded run repeats bit for bit; kept for Ultralytics' recipes"),
  save_period: z.number().int().min(-1).default(-1).describe("also save weights/epoch{N}.safetensors every N epochs (-1: never)"),
  resume: z.union([z.boolean(), z.string().min(1)]).default(false).describe("continue an interrupted run: true (the latest run), a run directory or a checkpoint file"),
  // ---- budget and stopping
  epochs: z.number().int().min(1).max(100000).default(10).describe("number of epochs"),
  time: z.number().gt(0).optional().describe("time budget in hours: stop at the end of the last epoch that fits (the schedule still plans for `epochs`)"),
  patience: z.number().int().min(0).default(50).describe("stop after this many epochs without a better val accuracy (0: never)"),
  nonfinite_max_fraction: fraction01().default(0.2).describe("stop when more than this share of an epoch's batches had a non-finite loss or gradient"),
  // ---- optimizer and schedule
  optimizer: z.enum(["auto", "SGD", "Adam", "AdamW"]).default("auto").describe("optimizer; auto picks SGD (lr 0.01) for long runs (>10 000 steps), else AdamW (lr 0.002)"),
  lr0: z.number().gt(0).max(10).default(0.01).describe("initial learning rate"),
  lrf: z.number().gt(0).max(1).default(0.01).describe("final learning rate as a fraction of lr0"),
  momentum: z.number().min(0).lt(1).default(0.937).describe("SGD momentum / Adam beta1"),
  weight_decay: z.number().min(0).max(1).default(0.0005).describe("weight decay (not applied to biases and norm weights)"),
  warmup_epochs: z.number().min(0).default(3).describe("epochs of linear learning-rate warmup (fractions allowed; at least 100 steps when > 0)"),
  warmup_momentum: z.number().min(0).lt(1).default(0.8).describe("momentum at the start of warmup"),
  warmup_bias_lr: z.number().min(0).max(10).default(0.1).describe("learning rate of the biases at the start of warmup"),
  nbs: z.number().int().min(1).max(65536).default(64).describe("nominal batch size: weight decay is scaled by batch × accumulate / nbs, as Ultralytics does"),
  cos_lr: z.boolean().default(false).describe("cosine decay (the same as scheduler=cosine)"),
  scheduler: z.enum(["linear", "cosine", "plateau"]).default("linear").describe("learning-rate decay to lr0*lrf after warmup, or ReduceLROnPlateau on val loss"),
  accumulate: z.number().int().min(1).max(1024).default(1).describe("batches whose gradients are summed before each optimizer step"),
  clip_grad: z.number().min(0).default(10).describe("clip the gradient norm to this value (0: no clipping)"),
  ema: z.boolean().default(true).describe("validate and save an exponential moving average of the weights"),
  // ---- augmentation and regularisation
  label_smoothing: fraction01().default(0).describe("label smoothing of the cross-entropy loss"),
  dropout: z.number().min(0).lt(1).optional().describe("dropout before the classifier's last layer (default: the model's own, 0.2 for mobilenet_v2, else 0)"),
  fliplr: fraction01().default(0.5).describe("probability of a horizontal flip"),
  scale: z.number().min(0).lt(1).default(0.5).describe("random resized crop keeping 1-scale to all of the image area (0: no crop)"),
  hsv_h: fraction01().default(0.015).describe("hue jitter (fraction of the colour wheel)"),
  hsv_s: fraction01().default(0.7).describe("saturation jitter (fraction)"),
  hsv_v: fraction01().default(0.4).describe("brightness jitter (fraction)"),
  // ---- detection
  mosaic: fraction01().default(1).describe("probability of a 4-image mosaic per training image"),
  close_mosaic: z.number().int().min(0).default(10).describe("turn mosaic off for the last N epochs"),
  translate: fraction01().default(0.1).describe("random translation (fraction of the image size)"),
  box: z.number().min(0).default(7.5).describe("box (CIoU) loss gain"),
  cls: z.number().min(0).default(0.5).describe("classification (BCE) loss gain"),
  dfl: z.number().min(0).default(1.5).describe("distribution focal loss gain"),
  conf: fraction01().default(0.001).describe("confidence threshold of validation's detections (kiln predict: 0.25)"),
  iou: fraction01().default(0.7).describe("IoU threshold of non-maximum suppression"),
  max_det: z.number().int().min(1).default(300).describe("most detections per image"),
  // ---- evaluation and tracking
  plots: z.boolean().default(true).describe("draw results.png and confusion_matrix.png in the run directory each epoch"),
  tensorboard: z.boolean().default(true).describe("write TensorBoard event files in the run directory (tensorboard --logdir runs)"),
  mlflow: z.boolean().default(true).describe("log the run to MLflow: ./mlruns, or MLFLOW_TRACKING_URI (a file store or an http(s) server)"),
  // ---- checks, confirmation, machine
  quick: z.boolean().default(false).describe("run a couple of train and val batches through the whole pipeline (checkpoint included) and report"),
  confirm_over: z.number().min(0).default(10).describe("ask before starting when the estimate exceeds this many minutes (on a terminal only)"),
  price_per_hour: z.number().min(0).optional().describe("machine price per hour, to print an estimated cost"),
  yes: z.boolean().default(false).describe("never ask for confirmation"),
  threads: z.number().int().min(0).max(1024).default(0).describe("compute threads (0: all cores, or KILN_THREADS)"),
  ranks: z.number().int().min(1).max(4096).default(1).describe("data-parallel processes: N > 1 launches mpirun -np N on this machine (under srun/mpirun the job's size is used); each rank trains on batch/N images of every batch and gradients are averaged with MPI all-reduce"),
  freeze: z.number().int().min(0).default(0).describe("fine-tuning: freeze the first N layers (YOLO: model.0 … model.N-1; a classifier: its first N top-level modules)"),
  freeze_bn: z.boolean().default(false).describe("keep batch-norm layers in eval mode while training (fixed running statistics): fine-tuning with small batches; makes ranks=N equal one process exactly"),
});

/** A complete, validated training configuration. */
export type TrainConfig = z.infer<typeof trainConfigSchema>;
/** What a caller may pass: any subset, the rest takes its default. */
export type TrainOptions = z.input<typeof trainConfigSchema>;

export const TRAIN_KEYS = Object.keys(trainConfigSchema.shape) as (keyof TrainConfig)[];
