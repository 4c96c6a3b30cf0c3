// Small helpers the commands share for reading their options.
import { KilnError } from "../../errors.js";

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
