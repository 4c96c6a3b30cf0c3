// kiln's own watch of a SLURM job's time limit (src/cluster/time-limit.ts),
// without SLURM: SLURM's duration words, the moment the watch fires (from a
// fake squeue), what it does when squeue cannot answer, and the options that
// would make a job stop as soon as it starts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { graceFromEnv, parseSlurmDuration, watchTimeLimit } from "../src/cluster/time-limit.js";
import { parseSlurmOptions } from "../src/cluster/slurm-options.js";
import { jobScript } from "../src/cluster/batch-script.js";
import { KilnError } from "../src/errors.js";

test("SLURM's durations (squeue %L, --time) in seconds", () => {
  const cases: [string, number | null][] = [
    ["0:55", 55], ["12:03", 723], ["1:00:00", 3600], ["2:03:04", 7384], ["1-00:00:00", 86_400], ["2-03", 2 * 86_400 + 3 * 3600],
    ["1-02:30", 86_400 + 2 * 3600 + 30 * 60], ["30", 1800], [" 0:07\n", 7], ["UNLIMITED", null], ["NOT_SET", null], ["INVALID", null], ["", null],
  ];
  for (const [text, seconds] of cases) assert.equal(parseSlurmDuration(text), seconds, JSON.stringify(text));
});

test("the watch fires once, grace seconds before the end, and re-asks while the end is far", async () => {
  const asked: number[] = [];
  let remaining = 100.3; // seconds left at the first look; each look costs nothing here
  const fired: number[] = [];
  const started = Date.now();
  const watch = watchTimeLimit({
    jobId: "42", graceSeconds: 100, warn: (m) => assert.fail(m), onTimeUp: (left) => fired.push(left),
    lookup: async (id) => {
      assert.equal(id, "42");
      asked.push(Date.now() - started);
      const left = remaining - (Date.now() - started) / 1000;
      return left;
    },
  });
  await sleep(50);
  assert.equal(watch.fired, false, "0.3 s before the grace: not yet");
  await sleep(600);
  assert.equal(watch.fired, true);
  assert.equal(fired.length, 1);
  assert.ok(fired[0] <= 100 && fired[0] > 99, `fired with ${fired[0]} s left`);
  assert.ok(asked.length >= 2, "looked again when the computed moment came");
  remaining = 1000;
  await sleep(50);
  assert.equal(fired.length, 1, "fires once");
  watch.stop();
});

test("an unlimited job is not watched; a silent squeue is said once and asked again later", async () => {
  const unlimited = watchTimeLimit({ jobId: "1", graceSeconds: 10, warn: () => assert.fail("no warning"), onTimeUp: () => assert.fail("no limit"), lookup: async () => null });
  const warnings: string[] = [];
  const silent = watchTimeLimit({ jobId: "2", graceSeconds: 10, warn: (m) => warnings.push(m), onTimeUp: () => assert.fail("never"), lookup: async () => { throw new Error("squeue: connection refused"); } });
  await sleep(50);
  assert.equal(unlimited.fired, false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /could not read the time limit of SLURM job 2 \(squeue: connection refused\); trying again in a minute\. .*SIGTERM/);
  unlimited.stop();
  silent.stop();
});

test("only a job script's environment arms the watch", () => {
  assert.deepEqual(graceFromEnv({ SLURM_JOB_ID: "17", KILN_SLURM_GRACE: "30" }), { jobId: "17", graceSeconds: 30 });
  assert.equal(graceFromEnv({ SLURM_JOB_ID: "17" }), null, "a user's own job script: SLURM's SIGTERM at the limit is the path");
  assert.equal(graceFromEnv({ KILN_SLURM_GRACE: "30" }), null, "not in a job");
});

test("a grace as long as the time limit is refused; the job script passes grace on and uses no SLURM signal", () => {
  assert.throws(() => parseSlurmOptions({ time: "1", grace: "60" }), (e: unknown) => e instanceof KilnError && /grace=60 is not shorter than the job's time limit time=1 \(60 s\)/.test(e.message));
  assert.throws(() => parseSlurmOptions({ time: "0:30" }), /grace=60 is not shorter/, "the default grace against a 30 s limit");
  const options = parseSlurmOptions({ time: "1", grace: "20", requeue: "true" });
  const script = jobScript({ runDir: "/tmp/r", cwd: "/tmp", jobName: "kiln-r", trainWords: ["epochs=3"], options, ranks: 1 });
  assert.match(script, /KILN_SLURM_GRACE=20\n/);
  assert.match(script, /if \[ "\$rc" = 75 \]; then/);
  assert.match(script, /KILN_REQUEUED_FROM="\$\{SLURM_JOB_ID:-\}" "\$NODE" "\$KILN" train --resume "\$RUN" --slurm && rc=0/);
  assert.doesNotMatch(script, /--signal|trap /);
});
