// Loads the C++ addon built by node-gyp at `npm install`.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kernels } from "../kernels.js";

/** The package root: the nearest folder above this file that holds binding.gyp. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "binding.gyp"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("kiln: cannot find the package root (binding.gyp)");
    dir = parent;
  }
}

/** The addon's path: build/Release/kiln.node, or KILN_ADDON when set (tests use it to simulate a broken build). */
export function nativeAddonPath(): string {
  return process.env.KILN_ADDON ?? join(packageRoot(), "build", "Release", "kiln.node");
}

/** Loads the native kernels; throws with the reason when they cannot load. */
export function loadNativeKernels(): Kernels {
  const require = createRequire(import.meta.url);
  // The addon exports one function per Kernels method, with the same signature.
  return require(nativeAddonPath()) as Kernels;
}
