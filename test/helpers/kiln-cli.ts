// Runs the real `kiln` command in a child process (as a user would), in a given folder.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const KILN_BIN = resolve("bin/kiln.js");

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** A fresh empty folder for a test's runs. */
export function scratchDir(prefix = "kiln-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs `kiln ...args` to completion. */
export function runKiln(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [KILN_BIN, ...args], { cwd, env: { ...process.env, CI: "1", ...env }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `kiln ...args`; `until` is called with the output so far and may act on the child (send a signal). */
export function startKiln(args: string[], cwd: string, env: NodeJS.ProcessEnv, watch: (output: string, child: ReturnType<typeof spawn>) => void): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [KILN_BIN, ...args], { cwd, env: { ...process.env, CI: "1", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    watch(stdout + stderr, child);
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    watch(stdout + stderr, child);
  });
  return new Promise((done) => child.on("close", (code, signal) => done({ code, signal, stdout, stderr })));
}
