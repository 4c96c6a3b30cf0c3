// The page's files, all served from the package itself (nothing from a CDN):
// src/ui/page/ (kept as is in the package; tsc does not touch it) and uPlot's
// browser build from node_modules. Read once at start-up.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Asset { body: Buffer; type: string }

/** The package root: the nearest folder above this module with kiln's package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "kiln") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("kiln ui: cannot find kiln's package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/** URL path → asset. */
export function loadAssets(): Map<string, Asset> {
  const page = join(packageRoot(), "src", "ui", "page");
  const require = createRequire(import.meta.url);
  const uplotDir = dirname(require.resolve("uplot/dist/uPlot.iife.min.js"));
  const files: [string, string][] = [
    ["/", join(page, "index.html")],
    ["/static/app.js", join(page, "app.js")],
    ["/static/app.css", join(page, "app.css")],
    ["/static/uPlot.iife.min.js", join(uplotDir, "uPlot.iife.min.js")],
    ["/static/uPlot.min.css", join(uplotDir, "uPlot.min.css")],
  ];
  return new Map(files.map(([url, path]) => [url, { body: readFileSync(path), type: TYPES[path.split(".").at(-1) ?? ""] ?? "application/octet-stream" }]));
}
