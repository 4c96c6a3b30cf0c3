// Atomic file writes: a reader (or a crash, or kill -9) sees either the old
// file or the new one, never a torn mix. The data goes to a temp file in the
// same folder (rename is only atomic within one file system), is fsynced, then
// renamed over the target; the folder is fsynced so the rename itself survives
// a power cut.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { copyFile, open, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? Buffer.from(data, "utf8") : data;
}

// Some file systems (and Windows) refuse to open or fsync a directory; the
// rename is still atomic there, only its durability is weaker.
function fsyncDirSync(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // see above
  } finally {
    closeSync(fd);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, "r");
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch {
    // see fsyncDirSync
  } finally {
    await handle.close();
  }
}

/**
 * Puts a file at `path` atomically: `fill(handle, temp)` writes it into a temp
 * file beside it (opened for writing), which is fsynced and renamed over
 * `path`, then the folder is fsynced; on failure the temp file is removed.
 */
async function replaceAtomically(path: string, fill: (handle: FileHandle, temp: string) => Promise<void>): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await open(temp, "wx", 0o644);
  try {
    try {
      await fill(handle, temp);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Writes `data` to `path` atomically (temp file, fsync, rename, fsync of the folder). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = toBytes(data);
  await replaceAtomically(path, async (handle) => {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
  });
}

/** Copies `src` to `dest` atomically: the copy appears whole or not at all (a big file need not pass through memory). */
export async function copyFileAtomic(src: string, dest: string): Promise<void> {
  // copyFile truncates and fills the temp file in place, so the open handle syncs the copy.
  await replaceAtomically(dest, (_handle, temp) => copyFile(src, temp));
}

/**
 * The synchronous twin of `writeFileAtomic`, for the moments an event loop
 * turn is not guaranteed (a signal handler saving the last checkpoint).
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const temp = tempPathFor(path);
  const bytes = toBytes(data);
  const fd = openSync(temp, "wx", 0o644);
  try {
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // the temp file may not exist; the original error matters
    }
    throw err;
  }
  fsyncDirSync(dirname(path));
}
