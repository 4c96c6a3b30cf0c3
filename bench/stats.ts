// Small helpers the benchmarks share.
import { spawnSync } from "node:child_process";

/** Debian's python3-torch lives under the system interpreter, not the `python3` on PATH. */
export const PEER_PYTHON = "/usr/bin/python3";

/** Runs a benchmark process (kiln worker or PyTorch peer); its last stdout line is its JSON result. */
export function runJson<T>(what: string, command: string, args: string[], env: NodeJS.ProcessEnv, input?: string): { result: T; seconds: number } {
  const started = performance.now();
  const child = spawnSync(command, args, { env, input, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "inherit"], encoding: "utf8", maxBuffer: 64 * 2 ** 20 });
  const seconds = (performance.now() - started) / 1000;
  if (child.error) throw new Error(`${what}: ${child.error.message}`);
  if (child.status !== 0) throw new Error(`${what} exited with ${child.status ?? child.signal}`);
  const lines = child.stdout.trim().split("\n");
  return { result: JSON.parse(lines[lines.length - 1]) as T, seconds };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A flag's integer value (at least `min`), or the fallback when the flag is absent. */
export function intFlag(flag: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** Rounds for JSON output. */
export const round = (v: number, digits: number): number => Number(v.toFixed(digits));
