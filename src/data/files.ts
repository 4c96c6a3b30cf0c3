// Small file-system helpers shared by the format readers.
import { readdir, stat } from "node:fs/promises";
import path from "node:path";

/** Extensions of the image files kiln indexes (formats sharp decodes). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".gif", ".avif"]);

export const isImageFile = (name: string): boolean => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());

/** Code-unit order: the same on every machine and locale. */
export const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

export async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null)) !== null;
}

/** Entries of a folder, sorted, hidden ones (".DS_Store", ".git") left out. */
export async function listSorted(dir: string): Promise<{ name: string; isDir: boolean }[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => !e.name.startsWith("."))
    .map((e) => ({ name: e.name, isDir: e.isDirectory() }))
    .sort((a, b) => byName(a.name, b.name));
}

/** sharp calls at once: enough to keep libuv's pool busy, few enough to bound memory. */
export const CONCURRENCY = 8;

/** Runs `work` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
