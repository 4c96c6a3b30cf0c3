// Recovery, through the real `kiln train` in child processes: a run
// interrupted by SIGINT mid-epoch and resumed ends bit-identical to an
// uninterrupted one (model, optimizer and EMA tensors), and kill -9 during a
// checkpoint write leaves the previous last.safetensors loadable.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readSafetensorsSync } from "../src/io/safetensors.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { runKiln, scratchDir, startKiln } from "./helpers/kiln-cli.js";

const TINY = ["imgsz=16", "max_per_class=20", "epochs=3", "batch=4", "warmup_epochs=0.5", "project=runs", "yes=true"];

/** The tensors of a safetensors file by name, as raw bytes. */
function tensorBytes(path: string): Map<string, Buffer> {
  const c = readSafetensorsSync(path);
  return new Map([...c.tensors].map(([k, t]) => [k, Buffer.from(t.bytes)]));
}

const withoutTime = (csv: string): string => csv.split("\n").map((l) => l.split(",").filter((_, i) => i !== 1).join(",")).join("\n");

const scratch: string[] = [];
after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

test("SIGINT mid-epoch, then --resume: bit-identical to an uninterrupted run", async () => {
  const dir = scratchDir();
  scratch.push(dir);
  const straight = runKiln(["train", ...TINY, "name=straight"], dir);
  assert.equal(straight.code, 0, straight.stderr);

  // Interrupt once the second epoch is under way (a progress line of epoch 2 is printed).
  let sent = false;
  const interrupted = await startKiln(["train", ...TINY, "name=cut"], dir, {}, (out, child) => {
    if (!sent && /epoch 2\/3 █/.test(out)) {
      sent = true;
      child.kill("SIGINT");
    }
  });
  assert.equal(interrupted.code, 130, interrupted.stdout + interrupted.stderr);
  assert.match(interrupted.stdout, /Resume with:\n {2}kiln train --resume runs\/cut/);
  const runJson = JSON.parse(readFileSync(join(dir, "runs/cut/run.json"), "utf8")) as { status: string };
  assert.equal(runJson.status, "interrupted");
  const position = loadCheckpoint(join(dir, "runs/cut/weights/last.safetensors")).training;
  assert.equal(position.epoch, 1, "stopped in the second epoch");
  assert.ok(position.batch > 0 && position.batch < 50, `mid-epoch (batch ${position.batch})`);

  const resumed = runKiln(["train", "--resume", "runs/cut"], dir);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /resuming/);

  const a = tensorBytes(join(dir, "runs/straight/weights/last.safetensors"));
  const b = tensorBytes(join(dir, "runs/cut/weights/last.safetensors"));
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  const model = [...a.keys()].filter((k) => k.startsWith("model."));
  assert.ok(model.length > 10 && [...a.keys()].some((k) => k.startsWith("ema.")) && [...a.keys()].some((k) => k.startsWith("optimizer.")));
  for (const [k, bytes] of a) assert.ok(bytes.equals(b.get(k)!), `${k} differs`);
  assert.equal(withoutTime(readFileSync(join(dir, "runs/cut/results.csv"), "utf8")), withoutTime(readFileSync(join(dir, "runs/straight/results.csv"), "utf8")));
  assert.equal((JSON.parse(readFileSync(join(dir, "runs/cut/run.json"), "utf8")) as { status: string }).status, "finished");
});

test("kill -9 during a checkpoint write leaves the previous last.safetensors loadable", async () => {
  const dir = scratchDir();
  scratch.push(dir);
  // The hook pauses halfway through writing a checkpoint that already exists: last at the end of epoch 2.
  const killed = await startKiln(["train", ...TINY, "epochs=2", "name=k"], dir, { KILN_TEST_PAUSE_CHECKPOINT_WRITE: "1" }, (out, child) => {
    if (/KILN_TEST: paused writing .*last\.safetensors/.test(out) && child.exitCode === null && !child.killed) child.kill("SIGKILL");
  });
  assert.equal(killed.signal, "SIGKILL");
  const weights = join(dir, "runs/k/weights");
  assert.ok(readdirSync(weights).some((f) => f.endsWith(".tmp")), "the torn write is a temp file");
  const ckpt = loadCheckpoint(join(weights, "last.safetensors"));
  assert.equal(ckpt.training.epoch, 1, "the end-of-epoch-1 checkpoint survives");
  assert.ok(existsSync(join(weights, "best.safetensors")));
});

test("a finished run resumes only to train longer: epochs= extends it, other keys are ignored with a warning", () => {
  const dir = scratchDir();
  scratch.push(dir);
  const first = runKiln(["train", ...TINY, "epochs=1", "name=grow"], dir);
  assert.equal(first.code, 0, first.stderr);
  const again = runKiln(["train", "--resume", "runs/grow"], dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /nothing to resume: the run finished all 1 epochs\. Fix: .*kiln train --resume runs\/grow epochs=11/);
  const longer = runKiln(["train", "--resume", "runs/grow", "epochs=2", "lr0=0.5"], dir);
  assert.equal(longer.code, 0, longer.stderr);
  assert.match(longer.stdout + longer.stderr, /ignoring lr0/);
  assert.equal(loadCheckpoint(join(dir, "runs/grow/weights/last.safetensors")).training.epoch, 2);
  assert.equal(readFileSync(join(dir, "runs/grow/results.csv"), "utf8").trim().split("\n").length, 3, "a header and two epochs");
  const saved = loadCheckpoint(join(dir, "runs/grow/weights/last.safetensors")).training.config as { epochs: number; lr0: number };
  assert.equal(saved.epochs, 2);
  assert.equal(saved.lr0, 0.01);
});
