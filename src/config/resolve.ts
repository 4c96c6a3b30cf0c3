// Builds the training configuration: defaults < config file < command line,
// then validates it against the schema. Every error is a KilnError that names
// where the value came from, the key, the bad value, what is allowed, and for
// an unknown key the closest known one.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { KilnError } from "../errors.js";
import { closestKey } from "./closest.js";
import { describeAllowed, optionTypes } from "./describe.js";
import { TRAIN_KEYS, trainConfigSchema, type TrainConfig } from "./schema.js";
import { DETECTOR_NAMES, type DetectorName } from "../models/index.js";
import { isWeightsPath, weightsFileTask } from "../models/weights.js";

export type RawOptions = Record<string, unknown>;

/** What differs for task=detect when not set: Ultralytics' detection defaults, at kiln's small scale. */
export const DETECT_DEFAULTS: RawOptions = { model: "yolov8n", imgsz: 256, project: "runs/detect", batch: 16, scale: 0.5 };

function checkTaskModel(c: TrainConfig): TrainConfig {
  // Weights to fine-tune from say their own task (null when unreadable: the setup reports why).
  const weightsTask = isWeightsPath(c.model) ? weightsFileTask(c.model) : null;
  if (isWeightsPath(c.model) && weightsTask === null) return c;
  const detector = DETECTOR_NAMES.includes(c.model as DetectorName) || weightsTask === "detect";
  if (c.task === "detect" && !detector) {
    throw new KilnError(`model=${c.model} is an image classifier; task=detect trains a detector. Fix: model=yolov8n (or yolov8s, yolov8m), or task=classify.`);
  }
  if (c.task === "classify" && detector) {
    throw new KilnError(`model=${c.model} is a detector; task=classify trains an image classifier. Fix: task=detect, or a classifier (cnn, resnet18, …).`);
  }
  if (c.task === "detect" && c.imgsz % 32 !== 0) {
    throw new KilnError(`imgsz=${c.imgsz}: a detector needs a multiple of 32 (its coarsest feature map is imgsz/32). Fix: imgsz=${Math.max(32, Math.round(c.imgsz / 32) * 32)}.`);
  }
  return c;
}

/** A detector model implies task=detect; task=detect fills what the user did not set with the detection defaults. */
function applyTaskDefaults(merged: RawOptions): void {
  if (merged.task === undefined && typeof merged.model === "string" && DETECTOR_NAMES.includes(merged.model as DetectorName)) merged.task = "detect";
  if (merged.task === undefined && typeof merged.model === "string" && isWeightsPath(merged.model) && weightsFileTask(merged.model) === "detect") merged.task = "detect";
  if (merged.task !== "detect") return;
  for (const [k, v] of Object.entries(DETECT_DEFAULTS)) if (merged[k] === undefined) merged[k] = v;
}

/** Reads a YAML (or JSON) config file: a mapping of option names to values. */
export function readConfigFile(path: string): RawOptions {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "it does not exist" : (err as Error).message;
    throw new KilnError(`cannot read the config file ${path}: ${reason}. Fix: pass an existing YAML file to --config.`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new KilnError(`the config file ${path} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new KilnError(`the config file ${path} must be a mapping of options (key: value lines), found a ${Array.isArray(value) ? "list" : typeof value}`);
  }
  return value as RawOptions;
}

/** Types a command-line word for `key` as YAML would (3 → number, true → boolean), text for text-only options. */
export function typeCliValue(key: string, value: string | true): unknown {
  if (value === true) return true;
  const types = TRAIN_KEYS.includes(key as keyof TrainConfig) ? optionTypes(key) : [];
  if (types.length === 1 && types[0] === "string") return value;
  let typed: unknown;
  try {
    typed = parseYaml(value);
  } catch {
    return value;
  }
  // A path that YAML reads as something else (e.g. "1e3" for resume) stays text when text is allowed.
  if (types.includes("string") && typeof typed !== "boolean") return value;
  return typed ?? value;
}

function checkKeys(raw: RawOptions, where: string): void {
  for (const key of Object.keys(raw)) {
    if (TRAIN_KEYS.includes(key as keyof TrainConfig)) continue;
    const guess = closestKey(key, TRAIN_KEYS);
    throw new KilnError(`unknown option '${key}' ${where}.${guess ? ` Did you mean '${guess}'?` : ""} Run 'kiln train --help' for every option.`);
  }
}

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : String(v));

export interface ConfigSources {
  /** Options from `--config FILE` (already read), with the file's path for messages. */
  file?: { path: string; options: RawOptions };
  /** Options from the command line or the library call. */
  overrides?: RawOptions;
}

/** Merges defaults < file < overrides and validates; throws a KilnError naming the first bad key. */
export function resolveTrainConfig(sources: ConfigSources): TrainConfig {
  const fromFile = sources.file?.options ?? {};
  const overrides = sources.overrides ?? {};
  if (sources.file) checkKeys(fromFile, `in the config file ${sources.file.path}`);
  checkKeys(overrides, "on the command line");
  // A YAML number given for a text option (name: 2024) is that text.
  const merged: RawOptions = {};
  for (const [k, v] of Object.entries({ ...fromFile, ...overrides })) {
    const types = optionTypes(k);
    merged[k] = typeof v === "number" && types.length === 1 && types[0] === "string" ? String(v) : v;
  }
  applyTaskDefaults(merged);
  const result = trainConfigSchema.safeParse(merged);
  if (result.success) return checkTaskModel(result.data);
  const issue = result.error.issues[0];
  const key = String(issue.path[0]);
  const value = merged[key];
  const where = Object.hasOwn(overrides, key) ? "on the command line" : `in the config file ${sources.file?.path}`;
  throw new KilnError(`invalid value for '${key}' ${where}: ${show(value)}. Allowed: ${describeAllowed(key)}.`);
}
