// `kiln predict --model W --source FILE|DIR [--topk K] [--save]`.
import { parseArgs } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { predictImages } from "../../train/predict.js";
import { modelOption, optionalFraction, optionalNumber, requireOption } from "./common.js";

export const PREDICT_HELP = `kiln predict — label images (classifier) or find objects (detector) with a trained model

Usage: kiln predict --model WEIGHTS --source FILE|DIR [--topk K] [--conf C] [--iou I] [--max_det N] [--save] [--json]

  --model    a kiln checkpoint, PyTorch .pt/.pth (torchvision, Ultralytics) or .safetensors weights, or an .onnx file from kiln export (run by onnxruntime-node)
             (default: the latest run's best weights, from kiln.state.yaml)
  --source   an image file or a folder of images
  --topk     classifier: how many labels to show per image (default 5)
  --conf     detector: lowest confidence kept (default 0.25)
  --iou      detector: IoU above which non-maximum suppression drops a box (default 0.7)
  --max_det  detector: most boxes per image (default 300)
  --save     classifier: predictions.csv and .json in runs/classify/predict (predict2, …);
             detector: the images with boxes, labels and confidences drawn, and predictions.json
             (COCO results format) in runs/detect/predict
  --json     print the predictions as JSON

Examples:
  kiln predict --model runs/classify/train/weights/best.safetensors --source photo.jpg
  kiln predict --model runs/classify/train/weights/best.safetensors --source photos/ --topk 3 --save
  kiln predict --model runs/detect/train/weights/best.safetensors --source street.jpg --conf 0.4 --save`;

export async function predictCommand(argv: string[]): Promise<number> {
  const { options } = parseArgs(argv, (k) => k !== "save" && k !== "json");
  if (options.has("help")) {
    console.log(PREDICT_HELP);
    return 0;
  }
  for (const key of options.keys()) {
    if (!["model", "source", "topk", "save", "json", "batch", "conf", "iou", "max_det"].includes(key)) throw new KilnError(`unknown option '${key}' for kiln predict. Run 'kiln predict --help'.`);
  }
  const r = await predictImages({
    model: modelOption(options, "kiln predict"), source: requireOption(options, "source", "kiln predict"),
    topk: optionalNumber(options, "topk"), batch: optionalNumber(options, "batch"), save: options.has("save"),
    conf: optionalFraction(options, "conf"), iou: optionalFraction(options, "iou"), maxDet: optionalNumber(options, "max_det"),
  });
  if (options.has("json")) console.log(JSON.stringify(r, null, 2));
  else {
    for (const p of r.predictions) console.log(`${p.file}  ${p.top.map((t) => `${t.label} ${t.probability.toFixed(3)}`).join(", ")}`);
    for (const im of r.detections ?? []) {
      const counts = new Map<string, number>();
      for (const d of im.detections) counts.set(d.label, (counts.get(d.label) ?? 0) + 1);
      console.log(`${im.file} (${im.width}×${im.height}): ${im.detections.length ? [...counts].map(([l, n]) => `${n} ${l}`).join(", ") : "no detections"}`);
      for (const d of im.detections) console.log(`  ${d.label.padEnd(12)} ${d.score.toFixed(3)}  [${d.box.map((v) => v.toFixed(1)).join(", ")}]`);
    }
    if (r.savedTo) console.log(r.detections ? `saved ${r.savedTo}: the images with their boxes and predictions.json (COCO results)` : `saved ${r.savedTo}/predictions.csv and predictions.json`);
  }
  return 0;
}
