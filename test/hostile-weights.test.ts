// Hostile weight files, built byte by byte: pickles whose globals would run
// code, zips that climb out of their folder, lie about sizes or are cut
// short, safetensors headers that lie. Each must be refused with a KilnError
// that says why, without running anything: every payload would create a
// marker file, and the marker must not exist afterwards.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KilnError } from "../src/errors.js";
import { crc32 } from "../src/io/crc32.js";
import { readWeights } from "../src/models/weights.js";
import { FIXTURES_DIR } from "./helpers/fixtures.js";
import { runKiln } from "./helpers/kiln-cli.js";
import { ULTRA } from "./helpers/ultralytics.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-hostile-"));
const marker = join(dir, "PWNED");
const payload = `touch ${marker}`;

// ---- byte builders ------------------------------------------------------------

const ascii = (s: string): number[] => [...Buffer.from(s, "utf8")];
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u16 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff];
/** BINUNICODE: 'X' + u32 length + UTF-8. */
const str = (s: string): number[] => [0x58, ...u32(Buffer.byteLength(s)), ...ascii(s)];
/** GLOBAL: 'c' module \n name \n. */
const global = (module: string, name: string): number[] => [0x63, ...ascii(`${module}\n${name}\n`)];
const PROTO2 = [0x80, 0x02];
const STOP = [0x2e];
const TUPLE1 = [0x85];
const REDUCE = [0x52];

/** `module.name(payload)` as a protocol-2 pickle (what __reduce__ produces). */
function callPickle(module: string, name: string): Uint8Array {
  return Uint8Array.from([...PROTO2, ...global(module, name), ...str(payload), ...TUPLE1, ...REDUCE, ...STOP]);
}

/** A zip of stored entries, as PyTorch writes them (local headers, central directory, end record). */
function storedZip(entries: [string, Uint8Array][], lie: { usize?: number } = {}): Uint8Array {
  const locals: number[] = [], central: number[] = [];
  for (const [name, data] of entries) {
    const offset = locals.length;
    const n = ascii(name), crc = crc32(data), size = lie.usize ?? data.length;
    locals.push(...u32(0x04034b50), ...u16(20), ...u16(0), ...u16(0), ...u16(0), ...u16(0), ...u32(crc), ...u32(size), ...u32(size),
      ...u16(n.length), ...u16(0), ...n, ...data);
    central.push(...u32(0x02014b50), ...u16(20), ...u16(20), ...u16(0), ...u16(0), ...u16(0), ...u16(0), ...u32(crc), ...u32(size), ...u32(size),
      ...u16(n.length), ...u16(0), ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(offset), ...n);
  }
  const end = [...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(entries.length), ...u16(entries.length), ...u32(central.length), ...u32(locals.length), ...u16(0)];
  return Uint8Array.from([...locals, ...central, ...end]);
}

const checkpointOf = (pkl: Uint8Array, folder = "archive"): Uint8Array => storedZip([[`${folder}/data.pkl`, pkl], [`${folder}/version`, Uint8Array.from(ascii("3\n"))]]);

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** Loading `path` must throw a KilnError matching `why` (naming the file), and nothing may have run. */
function refused(path: string, why: RegExp): void {
  assert.throws(() => readWeights(path), (err: unknown) => {
    assert.ok(err instanceof KilnError, `expected a KilnError, got ${String(err)}`);
    assert.match(err.message, why);
    assert.ok(err.message.includes(path), `the message names the file: ${err.message}`);
    return true;
  });
  assert.equal(existsSync(marker), false, "the payload ran: the marker file exists");
}

// ---- pickles ------------------------------------------------------------------

for (const [module, name] of [["os", "system"], ["builtins", "eval"], ["subprocess", "Popen"], ["posix", "system"], ["__builtin__", "exec"], ["nt", "system"]]) {
  test(`a pickle whose GLOBAL is ${module}.${name} is refused, naming the global and the file`, () => {
    const path = write(`global-${module}-${name}.pt`, checkpointOf(callPickle(module, name)));
    refused(path, new RegExp(`refusing the global ${module.replace(/_/g, "_")}\\.${name}`));
  });
}

test("STACK_GLOBAL (protocol 4's way to name a global) is checked the same way", () => {
  const pkl = Uint8Array.from([0x80, 0x04, ...str("os"), ...str("system"), 0x93, ...str(payload), ...TUPLE1, ...REDUCE, ...STOP]);
  refused(write("stack-global.pt", checkpointOf(pkl)), /refusing the global os\.system/);
});

test("a __reduce__ hidden inside a state dict (getattr(__import__('os'), 'system')) is refused", () => {
  // OrderedDict() then SETITEMS {"weight": builtins.getattr(builtins.__import__("os"), "system")(payload)}
  const pkl = Uint8Array.from([
    ...PROTO2, ...global("collections", "OrderedDict"), 0x29, ...REDUCE, 0x28, ...str("weight"),
    ...global("builtins", "getattr"), ...global("builtins", "__import__"), ...str("os"), ...TUPLE1, ...REDUCE, ...str("system"), 0x86, ...REDUCE,
    ...str(payload), ...TUPLE1, ...REDUCE, 0x75, ...STOP,
  ]);
  refused(write("nested-reduce.pt", checkpointOf(pkl)), /refusing the global builtins\.getattr/);
});

test("a __reduce__ on an allowed module's function (torch.hub.load) builds an inert record and is never called", () => {
  const pkl = Uint8Array.from([
    ...PROTO2, 0x7d, ...str("model"), ...global("torch.hub", "load"), ...str(payload), ...TUPLE1, ...REDUCE, 0x73, ...STOP,
  ]);
  refused(write("inert-call.pt", checkpointOf(pkl)), /holds no parameters|not a state_dict|without weights/);
});

test("a global outside the fixed table and the inert modules (shutil.rmtree, requests.get) is refused", () => {
  refused(write("shutil.pt", checkpointOf(callPickle("shutil", "rmtree"))), /refusing the global shutil\.rmtree/);
  refused(write("requests.pt", checkpointOf(callPickle("requests", "get"))), /refusing the global requests\.get: it is not one a weights file needs/);
});

test("a truncated pickle and a bad memo reference are refused, not crashed on", () => {
  const full = callPickle("collections", "OrderedDict");
  refused(write("short-pickle.pt", checkpointOf(full.subarray(0, 10))), /truncated pickle/);
  refused(write("bad-memo.pt", checkpointOf(Uint8Array.from([...PROTO2, 0x68, 7, ...STOP]))), /memo key 7/);
});

// ---- zips ---------------------------------------------------------------------

test("a zip whose entry names climb out of the archive (../) is refused", () => {
  const pkl = callPickle("collections", "OrderedDict");
  refused(write("climb.pt", storedZip([["archive/data.pkl", pkl], ["archive/../../evil.sh", Uint8Array.from(ascii(payload))]])), /leaves the archive's folder/);
  refused(write("absolute.pt", storedZip([["/etc/data.pkl", pkl]])), /leaves the archive's folder/);
});

test("a zip declaring absurd entry sizes is refused", () => {
  const pkl = callPickle("collections", "OrderedDict");
  refused(write("absurd.pt", storedZip([["archive/data.pkl", pkl]], { usize: 0xfffffff0 })), /absurd size|past the end/);
});

test("a truncated zip (a real checkpoint cut short) is refused", () => {
  const real = readFileSync(join(FIXTURES_DIR, "weights", "mobilenet_v2.pt"));
  refused(write("truncated.pt", real.subarray(0, Math.floor(real.length / 2))), /truncated|end-of-central-directory/);
  // Cut by a few bytes, the end record is lost too; flip a data byte and the CRC catches it.
  const flipped = Uint8Array.from(real);
  flipped[Math.floor(real.length / 3)] ^= 0xff;
  refused(write("damaged.pt", flipped), /CRC mismatch/);
});

test("PyTorch's old non-zip format and non-checkpoints are refused with what to do", () => {
  const legacy = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
  refused(write("legacy.pt", legacy), /old \(pre-1\.6, non-zip\) format.*re-save/);
  refused(write("text.pth", Uint8Array.from(ascii("hello"))), /not a PyTorch checkpoint/);
});

// ---- safetensors --------------------------------------------------------------

function safetensors(header: unknown, data: Uint8Array, headerSize?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerSize ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

test("a safetensors header that lies about offsets, or claims gigabytes, is refused", () => {
  const data = new Uint8Array(16);
  refused(write("overlap.safetensors", safetensors({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [4], data_offsets: [4, 20] } }, data)), /overlap|past|holds only/);
  refused(write("beyond.safetensors", safetensors({ a: { dtype: "F32", shape: [1024], data_offsets: [0, 4096] } }, data)), /truncated|holds only/);
  refused(write("giga-header.safetensors", safetensors({}, data, 5n * 1024n ** 3n)), /header claims .* bytes/);
  refused(write("giga-tensor.safetensors", safetensors({ a: { dtype: "F32", shape: [1 << 20, 1 << 20], data_offsets: [0, 4 * 2 ** 40] } }, data)), /holds only|truncated|absurd/);
  assert.equal(existsSync(marker), false);
});

test("the CLI prints a hostile file's refusal without a stack trace and exits non-zero", () => {
  const path = write("cli-os-system.pt", checkpointOf(callPickle("os", "system")));
  const r = runKiln(["predict", "--model", path, "--source", join(ULTRA, "images")], dir);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /refusing the global os\.system/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(existsSync(marker), false);
});
