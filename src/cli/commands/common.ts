// Small helpers the commands share for reading their options.
import { KilnError } from "../../errors.js";
import { defaultModelFromState, PipelineStateError } from "../../state/index.js";

export function requireOption(options: Map<string, string | true>, key: string, command: string): string {
  const v = options.get(key);
  if (typeof v !== "string") throw new KilnError(`${command} needs --${key} VALUE. Run '${command} --help'.`);
  return v;
}

export function optionalNumber(options: Map<string, string | true>, key: string): number | undefined {
  const v = options.get(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isInteger(n) || n < 1) throw new KilnError(`invalid value for '${key}': ${String(v)}. Allowed: an integer ≥ 1.`);
  return n;
}

export function optionalFraction(options: Map<string, string | true>, key: string): number | undefined {
  const v = options.get(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || !(n >= 0 && n <= 1)) throw new KilnError(`invalid value for '${key}': ${String(v)}. Allowed: a number from 0 to 1.`);
  return n;
}

/**
 * --model, or else the latest run's best weights from kiln.state.yaml (said on
 * stderr so --json output stays clean); neither: the usual missing-option error.
 */
export function modelOption(options: Map<string, string | true>, command: string): string {
  if (options.has("model")) return requireOption(options, "model", command);
  try {
    const fromState = defaultModelFromState(process.cwd());
    if (fromState) {
      console.error(fromState.note);
      return fromState.path;
    }
  } catch (err) {
    if (!(err instanceof PipelineStateError)) throw err;
    console.error(`warning: ${err.message}`);
  }
  return requireOption(options, "model", command);
}
