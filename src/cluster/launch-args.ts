// `kiln train ... --detach` and `kiln train ... --slurm [key=value…]`: the
// launch flags taken out of the training's own words. The SLURM options are
// the key=value words after --slurm whose key is a SLURM option (time= after
// --slurm is the job's time limit; before it, the training's budget).
import { KilnError } from "../errors.js";
import { SLURM_KEYS } from "./slurm-options.js";

export interface LaunchArgs {
  /** The training's words, without the launch flags. */
  words: string[];
  detach: boolean;
  /** The raw --slurm options; null without --slurm. */
  slurm: Record<string, string> | null;
}

export function splitLaunchArgs(argv: readonly string[]): LaunchArgs {
  const words: string[] = [];
  let detach = false;
  let slurm: Record<string, string> | null = null;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i];
    if (w === "--detach" || w === "--detach=true") {
      detach = true;
      continue;
    }
    if (w === "--slurm" || w === "--slurm=true") {
      slurm ??= {};
      continue;
    }
    if (slurm !== null) {
      const kv = /^(?:--)?([A-Za-z_][\w-]*)=(.*)$/s.exec(w);
      const flag = /^--([A-Za-z_][\w-]*)$/.exec(w);
      const key = (kv?.[1] ?? flag?.[1] ?? "").replace(/-/g, "_");
      if ((SLURM_KEYS as string[]).includes(key)) {
        if (kv) slurm[key] = kv[2];
        else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith("-")) slurm[key] = argv[++i];
        else throw new KilnError(`--slurm option --${key} needs a value: ${key}=VALUE.`, 2);
        continue;
      }
    }
    words.push(w);
  }
  if (detach && slurm) throw new KilnError("--detach and --slurm do not go together: a SLURM job already runs in the background. Fix: drop --detach.", 2);
  return { words, detach, slurm };
}

/** A word for bash, quoted only when it needs to be. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
