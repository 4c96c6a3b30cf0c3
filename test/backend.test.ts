import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { nativeKernels, nativeLoadError } from "../src/engine/backend.js";

const backendModule = fileURLToPath(new URL("../src/engine/backend.js", import.meta.url));

test("the native addon loads and reports its ISA and threads", () => {
  const k = nativeKernels();
  assert.ok(k, `native addon failed to load: ${nativeLoadError()}`);
  const info = k.info();
  assert.equal(info.name, "native");
  assert.match(info.isa, /^(avx512|avx2|scalar)$/);
  assert.ok(info.threads >= 1);
});

test("KILN_THREADS sets the native thread count", () => {
  const script = `import(${JSON.stringify(backendModule)}).then(b => console.log(b.kernels().info().threads))`;
  const out = execFileSync(process.execPath, ["-e", script], { env: { ...process.env, KILN_THREADS: "3" } });
  assert.equal(out.toString().trim(), "3");
});

test("when the addon cannot load, kiln warns loudly once and runs on the reference backend", () => {
  const script = `import(${JSON.stringify(backendModule)}).then(b => {
    const k1 = b.kernels(), k2 = b.kernels();
    console.log(k1.info().name, k1 === k2);
  })`;
  const r = spawnSync(process.execPath, ["-e", script], {
    env: { ...process.env, KILN_ADDON: "/nonexistent/kiln.node" },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "reference true");
  const warnings = r.stderr.match(/native kernels did not load/g) ?? [];
  assert.equal(warnings.length, 1, `expected one warning, got stderr:\n${r.stderr}`);
  assert.match(r.stderr, /\/nonexistent\/kiln\.node/);
  assert.match(r.stderr, /npm rebuild/);
});
