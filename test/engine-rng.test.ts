// The generator against published xoshiro128** outputs and a splitmix32
// seeding worked out independently, plus exact resume through getState/setState.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng, defaultRng, manualSeed } from "../src/engine/index.js";

test("xoshiro128** from state [1, 2, 3, 4] gives the reference outputs", () => {
  const r = new Rng(0);
  r.setState([1, 2, 3, 4, 0, 0]);
  const got = Array.from({ length: 6 }, () => r.nextUint32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test("seeding goes through splitmix32", () => {
  // splitmix32 (state += 0x9E3779B9, then the MurmurHash3-style mix) from 42, computed by hand in Python
  assert.deepEqual(new Rng(42).getState().slice(0, 4), [939911724, 3948730756, 321366731, 3317318717]);
});

test("uniform stays in [0, 1) and normal has mean 0 and variance 1", () => {
  const r = new Rng(5);
  let sum = 0, sq = 0, lo = 1, hi = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    lo = Math.min(lo, u);
    hi = Math.max(hi, u);
    const z = r.normal();
    sum += z;
    sq += z * z;
  }
  assert.ok(lo >= 0 && hi < 1);
  assert.ok(Math.abs(sum / n) < 0.05);
  assert.ok(Math.abs(sq / n - 1) < 0.05);
});

test("getState/setState resume exactly, including Box–Muller's cached value", () => {
  const r = new Rng(9);
  r.normal(); // leaves the second value cached
  const state = r.getState();
  assert.equal(state[4], 1);
  const a = [r.normal(), r.normal(), r.uniform(), r.nextUint32()];
  const s = new Rng(0);
  s.setState(JSON.parse(JSON.stringify(state)) as number[]);
  assert.deepEqual([s.normal(), s.normal(), s.uniform(), s.nextUint32()], a);
  assert.throws(() => s.setState([0, 0, 0, 0, 0, 0]), /all-zero/);
  assert.throws(() => s.setState([1, 2]), /6 finite numbers/);
});

test("manualSeed reseeds the default generator in place", () => {
  const g = defaultRng();
  manualSeed(123);
  const a = g.nextUint32();
  manualSeed(123);
  assert.equal(defaultRng(), g);
  assert.equal(g.nextUint32(), a);
});
