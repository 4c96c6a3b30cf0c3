// Chooses the kernel backend: native when the addon loads, else reference
// with a loud warning (once). KILN_BACKEND=reference forces the reference one.
import type { Kernels } from "./kernels.js";
import { loadNativeKernels } from "./backends/native.js";
import { referenceKernels } from "./backends/reference.js";

let active: Kernels | null = null;
let native: Kernels | null | undefined;
let nativeError = "";

/** The native kernels, or null when the addon cannot load (the reason in `nativeLoadError`). */
export function nativeKernels(): Kernels | null {
  if (native === undefined) {
    try {
      native = loadNativeKernels();
    } catch (err) {
      native = null;
      nativeError = err instanceof Error ? err.message : String(err);
    }
  }
  return native;
}

export function nativeLoadError(): string {
  nativeKernels();
  return nativeError;
}

/** The kernels every op runs on. */
export function kernels(): Kernels {
  if (active) return active;
  const forced = process.env.KILN_BACKEND;
  if (forced === "reference") return (active = referenceKernels);
  const k = nativeKernels();
  if (k) return (active = k);
  process.emitWarning(
    `kiln: the native kernels did not load (${nativeError}). Running on the pure-TypeScript reference ` +
      "backend, which is 100x slower or more. Rebuild them with `npm rebuild kiln` (needs g++ and make).",
    { code: "KILN_NO_NATIVE" },
  );
  return (active = referenceKernels);
}

/** Switches every later op to the named backend. */
export function setBackend(name: "native" | "reference"): void {
  if (name === "reference") {
    active = referenceKernels;
    return;
  }
  const k = nativeKernels();
  if (!k) throw new Error(`kiln: the native backend is not available: ${nativeError}`);
  active = k;
}
