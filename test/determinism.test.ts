// A seeded training run must repeat bit for bit, whatever the thread count:
// kernels split reductions by a fixed partition, never by thread.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const worker = fileURLToPath(new URL("./workers/train-hash.js", import.meta.url));

function hashes(threads: number): string {
  return execFileSync(process.execPath, [worker], {
    env: { ...process.env, KILN_WORKER: "train-hash", KILN_THREADS: String(threads) },
    encoding: "utf8",
  }).trim();
}

test("seeded ResNet-18 and MobileNetV2 training steps give identical bits run after run and for 1, 2 or 3 threads", () => {
  const base = hashes(2);
  assert.match(base, /"resnet":"[0-9a-f]{64}"/);
  assert.equal(hashes(2), base, "two runs with the same seed differ");
  assert.equal(hashes(1), base, "1 thread differs from 2");
  assert.equal(hashes(3), base, "3 threads differ from 2");
});
