// Applying class edits to a user's dataset: every file to change is first copied into a
// timestamped backup folder inside the dataset (DATA/.kiln-backup-<time>/<same path>), then
// each is replaced atomically. Nothing is written until all new contents are computed.
import { copyFile, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../../../io/atomic.js";

export interface FileChange {
  path: string;
  content: string;
}

const two = (n: number): string => String(n).padStart(2, "0");

/** A new backup folder name under `root`: .kiln-backup-YYYYMMDD-HHMMSS (local time), -2… if taken. */
async function backupDir(root: string, now: Date): Promise<string> {
  const stamp = `${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}-${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`;
  for (let n = 1; ; n++) {
    const dir = path.join(root, `.kiln-backup-${stamp}${n > 1 ? `-${n}` : ""}`);
    if (!(await stat(dir).catch(() => null))) return dir;
  }
}

/** Where a file's copy goes: its path under the dataset root, or under _outside/ for files elsewhere. */
function backupPath(dir: string, root: string, file: string): string {
  const rel = path.relative(root, file);
  if (!rel.startsWith("..") && !path.isAbsolute(rel)) return path.join(dir, rel);
  return path.join(dir, "_outside", path.resolve(file).replace(/^([A-Za-z]:)?[\\/]+/, ""));
}

/** Backs up then rewrites each file; returns the backup folder. */
export async function applyChanges(root: string, changes: FileChange[], now = new Date()): Promise<string> {
  const dir = await backupDir(root, now);
  for (const change of changes) {
    const copy = backupPath(dir, root, change.path);
    await mkdir(path.dirname(copy), { recursive: true });
    await copyFile(change.path, copy);
  }
  for (const change of changes) await writeFileAtomic(change.path, change.content);
  return dir;
}
