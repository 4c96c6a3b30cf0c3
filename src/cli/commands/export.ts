// `kiln export --model W --format onnx|safetensors [--opset N] [--dynamic] [--half] [--nms]`.
import { parseArgs } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { exportWeights } from "../../models/weights-export.js";
import { modelOption, optionalFraction, optionalNumber } from "./common.js";

export const EXPORT_HELP = `kiln export — write a model for another runtime: ONNX, or plain safetensors weights

Usage: kiln export --model WEIGHTS [--format onnx|safetensors] [--opset N] [--dynamic] [--half] [--nms] [--imgsz N] [--output PATH]

  --model    a kiln checkpoint, a PyTorch .pt/.pth (torchvision, Ultralytics) or a .safetensors file
             (default: the latest run's best weights, from kiln.state.yaml)
  --format   onnx (default) or safetensors (weights only, no optimizer state, with the model's metadata)
  --opset    ONNX opset, 13 to 21 (default 17)
  --dynamic  a free batch dimension ("batch")
  --half     weights stored as float16 (ONNX: cast to float32 in the graph; safetensors: F16 tensors)
  --nms      detector: NonMaxSuppression inside the graph and a second output "detections" [K, 7]:
             batch, x1, y1, x2, y2, confidence, class (--conf, --iou, --max_det as for predict; max_det per class)
  --imgsz    input size (default: the model's training size; a multiple of 32 for a detector)
  --output   the file to write (default: next to the weights, .onnx or .safetensors)

The ONNX model takes "images" [N, C, H, W] float32 (RGB; a classifier normalised as in training, a detector
/255) and gives "output0": a classifier's logits [N, classes], a detector's [N, 4 + classes, anchors] rows of
box centre x, y, width, height in input pixels then class probabilities (Ultralytics' layout).

Examples:
  kiln export --model runs/detect/train/weights/best.safetensors
  kiln export --model yolov8n.pt --format onnx --dynamic --nms --output yolov8n.onnx
  kiln export --model runs/classify/train/weights/best.safetensors --format safetensors --half
  kiln predict --model runs/detect/train/weights/best.onnx --source street.jpg`;

export async function exportCommand(argv: string[]): Promise<number> {
  const { options } = parseArgs(argv, (k) => !["dynamic", "half", "nms", "json"].includes(k));
  if (options.has("help")) {
    console.log(EXPORT_HELP);
    return 0;
  }
  const known = ["model", "format", "opset", "dynamic", "half", "nms", "imgsz", "output", "conf", "iou", "max_det", "json"];
  for (const key of options.keys()) if (!known.includes(key)) throw new KilnError(`unknown option '${key}' for kiln export. Run 'kiln export --help'.`);
  const format = options.get("format") ?? "onnx";
  if (format !== "onnx" && format !== "safetensors") throw new KilnError(`invalid value for 'format': ${String(format)}. Allowed: onnx or safetensors.`);
  const output = options.get("output");
  if (output === true) throw new KilnError("kiln export needs --output PATH (a file name).");
  const r = exportWeights({
    model: modelOption(options, "kiln export"), format, output, opset: optionalNumber(options, "opset"),
    dynamic: options.has("dynamic"), half: options.has("half"), nms: options.has("nms"), imgsz: optionalNumber(options, "imgsz"),
    conf: optionalFraction(options, "conf"), iou: optionalFraction(options, "iou"), maxDet: optionalNumber(options, "max_det"),
  });
  if (options.has("json")) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(`exported ${r.meta.architecture} (${r.meta.task}, ${r.meta.classes.length} classes, ${r.meta.imgsz} px) to ${r.path} (${(r.bytes / 1e6).toFixed(1)} MB)`);
    if (r.format === "onnx") console.log(`outputs: ${r.outputs.join(", ")}; run it with: kiln predict --model ${r.path} --source IMAGES`);
  }
  return 0;
}
