import { test } from "node:test";
import assert from "node:assert/strict";
import { nativeKernels, nativeLoadError } from "../src/engine/backend.js";

test("the native addon loads and reports its ISA and threads", () => {
  const k = nativeKernels();
  assert.ok(k, `native addon failed to load: ${nativeLoadError()}`);
  const info = k.info();
  assert.equal(info.name, "native");
  assert.match(info.isa, /^(avx512|avx2|scalar)$/);
  assert.ok(info.threads >= 1);
});
