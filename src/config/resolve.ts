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

export type RawOptions = Record<string, unknown>;

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
  const result = trainConfigSchema.safeParse(merged);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = String(issue.path[0]);
  const value = merged[key];
  const where = Object.hasOwn(overrides, key) ? "on the command line" : `in the config file ${sources.file?.path}`;
  throw new KilnError(`invalid value for '${key}' ${where}: ${show(value)}. Allowed: ${describeAllowed(key)}.`);
}
