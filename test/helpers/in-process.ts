// Test helpers that run kiln inside the test's own process.
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { main } from "../../src/cli/main.js";

/** Runs `kiln ...args` in-process from `cwd`, capturing what it prints. */
export async function kilnInProcess(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error, previous] = [console.log, console.error, process.cwd()];
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  process.chdir(cwd);
  try {
    const code = await main(args);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    process.chdir(previous);
    console.log = log;
    console.error = error;
  }
}

/** Every file under `dir` with its bytes (base64): to show that nothing was written. */
export async function snapshotFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true })) {
    const file = path.join(dir, entry);
    if ((await stat(file)).isFile()) out.set(entry, (await readFile(file)).toString("base64"));
  }
  return out;
}
