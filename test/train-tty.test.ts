/* eslint-disable no-control-regex -- the terminal escape codes are what these tests look for */
// kiln train on a real terminal: a pseudo-terminal from util-linux's `script`
// (Debian's bsdutils, an essential package), so the TTY paths run as a user
// sees them: the confirmation prompt (answered no, then yes), the redrawn
// progress bar, colour and NO_COLOR. The memory pre-flight refuses a step that
// would not fit (KILN_MEMORY_LIMIT stands in for a small machine).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { KILN_BIN, runKiln, scratchDir } from "./helpers/kiln-cli.js";

const dir = scratchDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const TINY = ["imgsz=16", "max_per_class=2", "epochs=1", "batch=8", "warmup_epochs=0"];

function onTerminal(args: string[], input: string, env: Record<string, string> = {}): { code: number | null; output: string } {
  const quoted = [process.execPath, KILN_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const base = { ...process.env, ...env };
  delete base.CI; // CI never asks: this is the interactive path
  const r = spawnSync("script", ["-qec", quoted, "/dev/null"], { cwd: dir, env: base, input, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, output: r.stdout + r.stderr };
}

test("on a terminal, a long estimate asks; 'n' cancels and marks the run interrupted", () => {
  const r = onTerminal(["train", ...TINY, "confirm_over=0", "name=declined"], "n\n");
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /Start training\? \[Y\/n\]/);
  assert.match(r.output, /cancelled: training did not start/);
  const record = JSON.parse(readFileSync(join(dir, "runs/classify/declined/run.json"), "utf8")) as { status: string };
  assert.equal(record.status, "interrupted");
});

test("on a terminal, Enter starts; the progress bar redraws one line and warnings are coloured unless NO_COLOR", () => {
  const r = onTerminal(["train", ...TINY, "confirm_over=0", "name=accepted"], "\n");
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /\r\x1b\[2Kepoch 1\/1 [█░]+ \d+\/\d+ [\d.]+ it\/s ETA/);
  const log = readFileSync(join(dir, "runs/classify/accepted/train.log"), "utf8");
  assert.ok(!log.includes("\x1b["), "train.log stays plain");
  assert.doesNotMatch(log, /it\/s ETA/, "the redrawn bar is not logged");

  // A warning (an ignored key on resume) is yellow on a terminal, plain with NO_COLOR.
  const coloured = onTerminal(["train", "--resume", "runs/classify/accepted", "epochs=2", "lr0=0.1", "yes=true"], "");
  assert.match(coloured.output, /\x1b\[33mwarning: --resume continues/);
  const plain = onTerminal(["train", "--resume", "runs/classify/accepted", "epochs=3", "lr0=0.1", "yes=true"], "", { NO_COLOR: "1" });
  assert.match(plain.output, /warning: --resume continues/);
  assert.doesNotMatch(plain.output, /\x1b\[33m/);
});

test("the memory pre-flight stops a step that would not fit, with the command to retry", () => {
  const r = runKiln(["train", ...TINY, "name=toobig"], dir, { KILN_MEMORY_LIMIT: "20M" });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /a training step needs about \d+ MiB, and 20 MiB are free: it would not fit\. Fix: .*kiln train .*imgsz=8 .*batch=4/);
  const record = JSON.parse(readFileSync(join(dir, "runs/classify/toobig/run.json"), "utf8")) as { status: string };
  assert.equal(record.status, "failed");
  // The advised command runs as printed (here with the limit lifted).
  const retry = /(kiln train .*)$/m.exec(r.stderr)![1].split(" ").slice(2);
  assert.ok(retry.includes("exist_ok=true"), retry.join(" "));
  assert.equal(runKiln(["train", ...retry], dir).code, 0);
  const bad = runKiln(["train", ...TINY, "name=badlimit"], dir, { KILN_MEMORY_LIMIT: "lots" });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /KILN_MEMORY_LIMIT=lots is not a size/);
});
