// `kiln predict --model W --source FILE|DIR [--topk K] [--save]`.
import { parseArgs } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { predictImages } from "../../train/predict.js";
import { modelOption, optionalNumber, requireOption } from "./common.js";

export const PREDICT_HELP = `kiln predict — label images with a trained model

Usage: kiln predict --model WEIGHTS --source FILE|DIR [--topk K] [--save] [--json]

  --model   a kiln checkpoint (default: the latest run's best weights, from kiln.state.yaml)
  --source  an image file or a folder of images
  --topk    how many labels to show per image (default 5)
  --save    write predictions.csv and predictions.json to runs/classify/predict (predict2, …)
  --json    print the predictions as JSON

Examples:
  kiln predict --model runs/classify/train/weights/best.safetensors --source photo.jpg
  kiln predict --model runs/classify/train/weights/best.safetensors --source photos/ --topk 3 --save`;

export async function predictCommand(argv: string[]): Promise<number> {
  const { options } = parseArgs(argv, (k) => k !== "save" && k !== "json");
  if (options.has("help")) {
    console.log(PREDICT_HELP);
    return 0;
  }
  for (const key of options.keys()) {
    if (!["model", "source", "topk", "save", "json", "batch"].includes(key)) throw new KilnError(`unknown option '${key}' for kiln predict. Run 'kiln predict --help'.`);
  }
  const r = await predictImages({
    model: modelOption(options, "kiln predict"), source: requireOption(options, "source", "kiln predict"),
    topk: optionalNumber(options, "topk"), batch: optionalNumber(options, "batch"), save: options.has("save"),
  });
  if (options.has("json")) console.log(JSON.stringify(r, null, 2));
  else {
    for (const p of r.predictions) console.log(`${p.file}  ${p.top.map((t) => `${t.label} ${t.probability.toFixed(3)}`).join(", ")}`);
    if (r.savedTo) console.log(`saved ${r.savedTo}/predictions.csv and predictions.json`);
  }
  return 0;
}
