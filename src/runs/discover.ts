// Finding run directories and resolving what a user calls a run: a path, or a
// name looked up under the log folder's task folders (runs/<task>/<name>).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, sep } from "node:path";
import { KilnError } from "../errors.js";

export const DEFAULT_LOGDIR = "runs";

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** A run directory holds run.json or args.yaml (written before the first epoch). */
export function isRunDir(dir: string): boolean {
  return isDir(dir) && (existsSync(join(dir, "run.json")) || existsSync(join(dir, "args.yaml")));
}

function subdirs(dir: string): string[] {
  return readdirSync(dir).filter((n) => !n.startsWith(".")).map((n) => join(dir, n)).filter(isDir).sort();
}

/** Every run under `logdir`: logdir/<task>/<name>, or logdir/<name> when pointed at a task folder. */
export function findRunDirs(logdir: string): string[] {
  if (!isDir(logdir)) return [];
  const runs: string[] = [];
  for (const child of subdirs(logdir)) {
    if (isRunDir(child)) runs.push(child);
    else runs.push(...subdirs(child).filter(isRunDir));
  }
  return runs;
}

/**
 * A run given as a path (returned as is when it exists) or as a name
 * (train3) found under logdir; errors (exit code 2) list the candidates.
 */
export function resolveRun(ref: string, logdir = DEFAULT_LOGDIR): string {
  if (existsSync(ref)) return ref;
  if (ref.includes("/") || ref.includes(sep)) throw new KilnError(`${ref} does not exist. Fix: give an existing run directory, or a run name such as train3.`, 2);
  const candidates = findRunDirs(logdir).filter((d) => d.endsWith(`${sep}${ref}`));
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) throw new KilnError(`the run name '${ref}' is ambiguous: ${candidates.join(", ")}. Fix: give the path of the one you mean.`, 2);
  const known = findRunDirs(logdir).map((d) => d.split(sep).at(-1));
  const hint = known.length > 0 ? ` Runs there: ${[...new Set(known)].slice(0, 12).join(", ")}${known.length > 12 ? ", …" : ""}.` : "";
  throw new KilnError(`no run named '${ref}' under ${logdir}/.${hint} Fix: give the run directory's path, or list the runs with 'kiln runs'.`, 2);
}
