// Runs one finite-difference gradient check on the reference backend and then
// on native, so every op's gradient rule is checked over both kernel sets.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import * as E from "../../src/engine/index.js";
import { nativeKernels, nativeLoadError } from "../../src/engine/backend.js";
import type { Kernels } from "../../src/engine/kernels.js";
import type { Tensor } from "../../src/engine/index.js";

export function checkBothBackends(_t: TestContext, name: string, needs: (keyof Kernels)[], fn: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[], opts: E.GradcheckOptions = {}): void {
  E.setBackend("reference");
  E.assertGradcheck(`${name} (reference)`, fn, inputs, opts);
  const native = nativeKernels();
  assert.ok(native, `${name}: the native addon did not load: ${nativeLoadError()}`);
  const missing = needs.filter((k) => typeof native[k] !== "function");
  assert.deepEqual(missing, [], `${name}: the native addon lacks ${missing.join(", ")}`);
  E.setBackend("native");
  try {
    E.assertGradcheck(`${name} (native)`, fn, inputs, opts);
  } finally {
    E.setBackend("reference");
  }
}
