// `kiln doctor`: is the installation healthy? Each check prints ok or what
// failed and how to fix it; the exit code is 1 when any check failed.
import { statfs } from "node:fs/promises";
import { availableParallelism, freemem, totalmem } from "node:os";
import sharp from "sharp";
import { kernels, nativeLoadError } from "../../engine/backend.js";
import { parseArgs } from "../../config/index.js";

export const DOCTOR_HELP = `kiln doctor — check the installation

Usage: kiln doctor [--project DIR]

Checks the native kernels (loaded, SIMD path), compute threads, sharp decoding, free memory,
and free disk where runs are written (--project, default runs/classify), each with its fix.

Example:
  kiln doctor`;

interface Check { name: string; ok: boolean; detail: string; fix?: string }

const GiB = 2 ** 30;

async function diskFree(dir: string): Promise<number> {
  // The runs folder may not exist yet: ask about the nearest existing parent.
  for (let d = dir; ; d = d.includes("/") ? d.slice(0, d.lastIndexOf("/")) || "/" : ".") {
    try {
      const s = await statfs(d);
      return s.bavail * s.bsize;
    } catch {
      if (d === "." || d === "/") throw new Error(`cannot stat ${dir}`);
    }
  }
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const { options } = parseArgs(argv, () => true);
  if (options.has("help")) {
    console.log(DOCTOR_HELP);
    return 0;
  }
  const project = typeof options.get("project") === "string" ? (options.get("project") as string) : "runs/classify";
  const checks: Check[] = [];
  const info = kernels().info();
  const loadError = nativeLoadError();
  checks.push(loadError
    ? { name: "native kernels", ok: false, detail: `not loaded (${loadError}); the slow reference backend is in use`, fix: "rebuild the addon: npm run build (needs build-essential and python3)" }
    : { name: "native kernels", ok: true, detail: `loaded, ${info.isa} path` });
  if (info.isa === "scalar") checks.push({ name: "SIMD", ok: false, detail: "this CPU has neither AVX2 nor AVX-512: the scalar kernels are several times slower", fix: "train on a machine with AVX2" });
  const cores = availableParallelism();
  checks.push({ name: "threads", ok: info.threads >= 1, detail: `${info.threads} compute threads, ${cores} cores available${process.env.KILN_THREADS ? ` (KILN_THREADS=${process.env.KILN_THREADS})` : ""}`,
    fix: "set KILN_THREADS to the number of cores" });
  try {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toBuffer();
    const { data, info: img } = await sharp(png).resize(4, 4).raw().toBuffer({ resolveWithObject: true });
    const ok = img.width === 4 && data[0] > 150;
    checks.push({ name: "image decoding", ok, detail: ok ? `sharp ${sharp.versions.sharp ?? ""} (libvips ${sharp.versions.vips}) decodes and resizes` : "sharp decoded wrong pixels", fix: "reinstall sharp: npm rebuild sharp" });
  } catch (err) {
    checks.push({ name: "image decoding", ok: false, detail: `sharp failed: ${(err as Error).message}`, fix: "reinstall sharp: npm rebuild sharp" });
  }
  const free = freemem();
  checks.push({ name: "memory", ok: free > 0.5 * GiB, detail: `${(free / GiB).toFixed(1)} GiB free of ${(totalmem() / GiB).toFixed(1)} GiB`,
    fix: "close other programs, or train with a smaller batch/imgsz" });
  try {
    const disk = await diskFree(project);
    checks.push({ name: "disk", ok: disk > 1 * GiB, detail: `${(disk / GiB).toFixed(1)} GiB free where runs are written (${project})`, fix: "free disk space or pass project=DIR on another disk" });
  } catch (err) {
    checks.push({ name: "disk", ok: false, detail: (err as Error).message, fix: "pass project=DIR to a writable folder" });
  }
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    console.log(`${c.ok ? "ok  " : "FAIL"}  ${c.name.padEnd(width)}  ${c.detail}${c.ok || !c.fix ? "" : `\n      fix: ${c.fix}`}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  console.log(failed ? `${failed} check(s) failed.` : "kiln is ready.");
  return failed ? 1 : 0;
}
