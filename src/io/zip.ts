// A minimal, hardened reader for the zip archives PyTorch writes (.pt/.pth):
// stored (uncompressed) entries, zip64 records when present. It trusts
// nothing: names that climb out of the archive (`../`, absolute paths),
// declared sizes or offsets past the end of the file, entries that overlap
// the central directory, compressed entries and CRC mismatches are refused
// with a ZipError naming the file and the entry. Entries are views of the
// file's bytes (no copies).
import { crc32 } from "./crc32.js";

export class ZipError extends Error {
  override name = "ZipError";
}

export interface ZipEntry {
  readonly name: string;
  /** The entry's bytes (a view into the archive). */
  readonly data: Uint8Array;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
/** More entries than this is not a checkpoint (resnet152 has under 1,000 tensors). */
const MAX_ENTRIES = 200_000;

/** True when the bytes start like a zip archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** A name that stays inside the archive: relative, no `..` segment, no backslash or NUL. */
function safeName(name: string): boolean {
  if (name === "" || name.startsWith("/") || /^[a-zA-Z]:/.test(name) || name.includes("\\") || name.includes("\0")) return false;
  return !name.split("/").some((seg) => seg === "..");
}

/** Reads every entry of a stored-entry zip archive; `source` names the file in errors. */
export function readZip(file: Uint8Array, source: string): ZipEntry[] {
  const fail = (msg: string): never => {
    throw new ZipError(`${source}: ${msg}`);
  };
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const size = file.length;
  if (size < 22) fail(`${size} bytes is too short for a zip archive (truncated?)`);

  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  let eocd = -1;
  for (let at = size - 22; at >= Math.max(0, size - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === SIG_EOCD && at + 22 + view.getUint16(at + 20, true) === size) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail("no zip end-of-central-directory record at the end of the file (truncated, or not a zip archive)");
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === SIG_EOCD64_LOCATOR) {
    const at64 = safeNumber(view.getBigUint64(eocd - 12, true), "the zip64 end-of-directory offset", fail);
    if (at64 + 56 > eocd || view.getUint32(at64, true) !== SIG_EOCD64) fail("the zip64 end-of-central-directory record is missing or misplaced (truncated?)");
    count = safeNumber(view.getBigUint64(at64 + 32, true), "the zip64 entry count", fail);
    cdSize = safeNumber(view.getBigUint64(at64 + 40, true), "the zip64 central directory size", fail);
    cdOffset = safeNumber(view.getBigUint64(at64 + 48, true), "the zip64 central directory offset", fail);
  }
  if (count > MAX_ENTRIES) fail(`the archive declares ${count} entries, more than the ${MAX_ENTRIES} a checkpoint can have`);
  if (cdOffset + cdSize > eocd) fail(`the central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the archive (truncated?)`);
  if (count * 46 > cdSize) fail(`the archive declares ${count} entries but its central directory holds only ${cdSize} bytes`);

  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || view.getUint32(p, true) !== SIG_CENTRAL) fail(`central directory entry ${i} is damaged (truncated?)`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let csize = view.getUint32(p + 20, true);
    let usize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdOffset + cdSize) fail(`central directory entry ${i} runs past the directory (truncated?)`);
    const name = new TextDecoder().decode(file.subarray(p + 46, p + 46 + nameLen));
    const where = `entry "${name}"`;
    if (!safeName(name)) fail(`${where}: the name leaves the archive's folder (absolute, "..", or a backslash); refusing the file`);
    if (names.has(name)) fail(`${where} appears twice`);
    names.add(name);
    // zip64 extra field (id 1): the 64-bit values of those fields that hold 0xFFFFFFFF, in this order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
      const id = view.getUint16(e, true), len = view.getUint16(e + 2, true);
      if (e + 4 + len > p + 46 + nameLen + extraLen) fail(`${where}: a damaged extra field`);
      if (id === 1) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > e + 4 + len) fail(`${where}: a short zip64 extra field`);
          const v = safeNumber(view.getBigUint64(q, true), `${where}'s zip64 size`, fail);
          q += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = next();
        if (csize === 0xffffffff) csize = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + len;
    }
    if (flags & 1) fail(`${where} is encrypted`);
    if (method !== 0) fail(`${where} is compressed (method ${method}); PyTorch checkpoints store their entries uncompressed`);
    if (csize !== usize) fail(`${where}: a stored entry declares ${csize} stored and ${usize} real bytes`);
    if (local + 30 > cdOffset) fail(`${where}: its header offset ${local} lies past the entries (truncated or damaged)`);
    if (view.getUint32(local, true) !== SIG_LOCAL) fail(`${where}: no local header at offset ${local} (damaged archive)`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + usize > cdOffset || start + usize > size) {
      fail(`${where} declares ${usize} bytes at offset ${start}, past the end of the entries at ${cdOffset} (an absurd size, or a truncated file)`);
    }
    const data = file.subarray(start, start + usize);
    if (crc32(data) !== crc) fail(`${where}: CRC mismatch (the file is damaged or truncated)`);
    entries.push({ name, data });
    p = end;
  }
  return entries;
}

function safeNumber(v: bigint, what: string, fail: (msg: string) => never): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} (${v}) is absurd`);
  return Number(v);
}
