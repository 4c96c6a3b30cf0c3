// The kiln command line. Each command parses, validates and calls the library;
// a KilnError (a user-caused problem) is printed without a stack trace.
import { KilnError } from "../errors.js";

const HELP = `kiln — train, evaluate and export vision models on the CPU

Usage: kiln <command> [options]

Commands:
  train       train an image classifier or (task=detect) an object detector; no options: the built-in synthetic demo
  val         evaluate a trained model on a dataset split
  predict     label images (classifier) or find objects (detector) with a trained model
  export      write a model as ONNX (onnxruntime) or plain safetensors weights; reads .pt/.pth too
  eval        COCO bbox evaluation of a detections file (pycocotools' numbers)
  compare     compare a run's metrics with a baseline's (exit code 1 when it degraded)
  runs        list, show, compare and annotate training runs
  sweep       trials over config keys (grid or random), here or as a SLURM job array, compared at the end
  ui          a local dashboard in the browser: live curves, confusion matrix, images, compare runs
  data        check, convert and edit datasets (kiln data check|convert|classes)
  doctor      check the installation: native kernels, threads, image decoding, memory, disk
  info        the same as doctor

Examples:
  kiln train                                   # the demo: synthetic shapes, the small cnn
  kiln train --data ./my-dataset --model resnet18 --epochs 30
  kiln train task=detect                       # the detection demo: synthetic shapes, yolov8n
  kiln train --data ./coco128/data.yaml --model yolov8n --epochs 50
  kiln val --model runs/classify/train/weights/best.safetensors
  kiln predict --model runs/classify/train/weights/best.safetensors --source photos/ --save
  kiln export --model runs/detect/train/weights/best.safetensors --format onnx
  kiln eval --gt instances_val.json --dt detections.json
  kiln compare runs/classify/train2 runs/classify/train   # exit code 1 when val accuracy fell > 1 point
  kiln runs --status finished --sort best
  kiln ui                                      # the dashboard at http://127.0.0.1:6006/

Run 'kiln <command> --help' for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

// Loaded on demand: `kiln eval` or `kiln runs` need not load the engine and
// its native addon, and a command's start-up cost is its own.
const COMMANDS: Record<string, () => Promise<Command>> = {
  train: async () => (await import("./commands/train.js")).trainCommand,
  val: async () => (await import("./commands/val.js")).valCommand,
  predict: async () => (await import("./commands/predict.js")).predictCommand,
  export: async () => (await import("./commands/export.js")).exportCommand,
  eval: async () => (await import("./commands/eval.js")).evalCommand,
  compare: async () => (await import("./commands/compare.js")).compareCommand,
  runs: async () => (await import("./commands/runs.js")).runsCommand,
  sweep: async () => (await import("./commands/sweep.js")).sweepCommand,
  ui: async () => (await import("./commands/ui.js")).uiCommand,
  data: async () => (await import("./commands/data.js")).dataCommand,
  doctor: async () => (await import("./commands/doctor.js")).doctorCommand,
  info: async () => (await import("./commands/doctor.js")).doctorCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(HELP);
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!load) {
    console.error(`kiln: unknown command '${command}'. Run 'kiln --help' for the list.`);
    return 2;
  }
  try {
    const run = await load();
    return await run(rest);
  } catch (err) {
    if (err instanceof KilnError) {
      console.error(`kiln ${command}: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
}
