// `kiln train ... --detach`: the same training in a background process of its
// own session (setsid), so that closing the terminal does not end it. Its
// stdout and stderr go to output.log in the run directory (train.log gets
// every line the training prints, as always); run.json records its pid, which
// `kiln runs stop` sends SIGINT (the Ctrl-C path).
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import type { TrainConfig } from "../config/index.js";
import { KilnError } from "../errors.js";
import { createRunDir } from "../train/run-dir.js";
import { KILN_VERSION } from "../train/version.js";
import { KILN_JS } from "./batch-script.js";
import { shellQuote } from "./launch-args.js";
import { readRunJson, updateRunJson } from "./launch-record.js";
import { trainWordsFor } from "./submit.js";

export const DETACHED_OUTPUT = "output.log";

export interface Detached { runDir: string; pid: number; output: string }

export function detachTraining(config: TrainConfig, words: readonly string[], resumeDir: string | null): Detached {
  if (config.quick) throw new KilnError("quick=true is a short check: run it in the terminal, without --detach.", 2);
  const runDir = resumeDir ?? createRunDir(config.project, config.name, config.exist_ok);
  const args = resumeDir
    ? ["train", ...words.filter((w) => !/^(?:--)?resume(=|$)/.test(w) && w !== resumeDir), "--resume", runDir, "yes=true"]
    : ["train", ...trainWordsFor(words, runDir)];
  const output = join(runDir, DETACHED_OUTPUT);
  const fd = openSync(output, "a");
  let pid: number | undefined;
  try {
    // detached: a new session, no controlling terminal: the terminal's hangup and Ctrl-C do not reach it.
    const child = spawn(process.execPath, [KILN_JS, ...args], { detached: true, stdio: ["ignore", fd, fd], env: { ...process.env, CI: "1" } });
    pid = child.pid;
    child.unref();
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new KilnError(`could not start the background training process (node ${KILN_JS}).`);
  const previous = readRunJson(runDir);
  const now = new Date().toISOString();
  // The training process rewrites run.json as it starts (keeping `detached`); this covers the moments before.
  updateRunJson(runDir, {
    status: "running", pid, kiln_version: previous?.kiln_version ?? KILN_VERSION, started_at: previous?.started_at ?? now, ended_at: null,
    heartbeat_at: now, slurm: undefined, message: undefined, detached: { output: DETACHED_OUTPUT, command: ["kiln", ...args].map(shellQuote).join(" ") },
  });
  return { runDir, pid, output };
}
