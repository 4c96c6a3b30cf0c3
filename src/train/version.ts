// kiln's version, from package.json (written into checkpoints and run.json).
import { readFileSync } from "node:fs";

const pkgUrl = new URL("../../../package.json", import.meta.url);
export const KILN_VERSION: string = (JSON.parse(readFileSync(pkgUrl, "utf8")) as { version: string }).version;
