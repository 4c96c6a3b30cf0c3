// kiln train --detach: a background process in its own session (it survives
// the terminal), train.log written, `kiln runs` showing it running then
// interrupted (kiln runs stop: SIGINT, the Ctrl-C path) and, resumed
// detached, finished.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";
import { epochsDone, runJson, waitUntil } from "./helpers/cluster.js";
import { isPidAlive } from "../src/runs/liveness.js";

const dir = scratchDir("kiln-detach-");
after(() => rmSync(dir, { recursive: true, force: true }));
const TINY = ["imgsz=16", "max_per_class=4", "batch=8", "warmup_epochs=0"];
const run = join(dir, "runs", "classify", "train");

interface Listed { name: string; status: string; detached: { pid: number } | null }
const listed = (): Listed => (JSON.parse(runKiln(["runs", "--json"], dir).stdout) as Listed[])[0];

test("a detached run survives in its own session, is stopped as by Ctrl-C, and resumes detached to the end", async () => {
  const r = runKiln(["train", ...TINY, "epochs=400", "--detach"], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /training in the background: runs\/classify\/train \(pid (\d+)\)/);
  assert.match(r.stdout, /kiln runs stop runs\/classify\/train/);
  const pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
  // The command returned while its child trains: the child leads a session of its own (setsid), so a terminal's hangup does not reach it.
  assert.ok(isPidAlive(pid), "the training process outlives the command");
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const session = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
  assert.equal(session, pid, "the detached process is a session leader");
  assert.notEqual(session, Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[3]));

  await waitUntil("two epochs", () => epochsDone(run) >= 2, 120);
  const running = listed();
  assert.equal(running.status, "running");
  assert.equal(running.detached?.pid, pid);
  assert.equal(runJson(run).pid, pid);
  assert.match(readFileSync(join(run, "train.log"), "utf8"), /kiln train/);

  const stop = runKiln(["runs", "stop", "train"], dir);
  assert.equal(stop.code, 0, stop.stderr + stop.stdout);
  assert.match(stop.stdout, new RegExp(`sent SIGINT to ${pid}`));
  assert.match(stop.stdout, /interrupted\. Resume with: kiln train --resume/);
  assert.equal(runJson(run).status, "interrupted");
  assert.ok(existsSync(join(run, "weights", "last.safetensors")));
  assert.ok(!isPidAlive(pid), "the process ended");
  const stoppedAt = epochsDone(run);
  assert.ok(stoppedAt >= 2 && stoppedAt < 400);
  assert.equal(listed().status, "interrupted");

  // Continue it, detached again, with fewer epochs left to keep the test short.
  const again = runKiln(["train", "--resume", run, `epochs=${stoppedAt + 2}`, "--detach"], dir);
  assert.equal(again.code, 0, again.stderr);
  const pid2 = Number(/pid (\d+)/.exec(again.stdout)?.[1]);
  assert.notEqual(pid2, pid);
  await waitUntil("the resumed run to finish", () => runJson(run).status === "finished", 120);
  assert.equal(epochsDone(run), stoppedAt + 2, "the resumed run continued where it stopped");
  assert.equal(listed().status, "finished");
  assert.equal((runJson(run).resumed_at as string[]).length, 1);
});

test("kiln runs stop refuses a run that is not running", () => {
  const r = runKiln(["runs", "stop", "train"], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not running \(its status is finished\)/);
});
