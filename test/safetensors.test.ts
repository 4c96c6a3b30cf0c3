// safetensors: the byte layout is checked against files assembled by hand in
// this test from the format's definition (formats.md §5.1), not by the writer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  decodeSafetensors, encodeSafetensors, floatToBfloat16, floatToHalf, halfToFloat, readSafetensors,
  SafetensorsError, toFloat32, toFloat32Tensors, writeSafetensors, writeSafetensorsSync, type TensorToWrite,
} from "../src/io/safetensors.js";

/** Assembles a file: u64 LE header length, the header text as given, the data. */
function assemble(header: string | object, data: Uint8Array = new Uint8Array(0), claimedLength?: bigint): Uint8Array {
  const text = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, claimedLength ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const f32Bytes = (...v: number[]): Uint8Array => new Uint8Array(Float32Array.from(v).buffer);

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeSafetensors(bytes, "bad.safetensors"), (err: unknown) => {
    assert.ok(err instanceof SafetensorsError, `expected a SafetensorsError, got ${String(err)}`);
    assert.match(err.message, /^bad\.safetensors: /);
    assert.match(err.message, pattern);
    return true;
  });
}

test("reads a hand-assembled file with several dtypes and metadata", () => {
  const data = new Uint8Array([
    ...f32Bytes(1.5, -2), // a: F32 [2]
    0x00, 0x3c, 0x00, 0xc0, // b: F16 [2] = 1, -2
    0x80, 0x3f, // c: BF16 [] = 1
    7, 0, 0, 0, 0, 0, 0, 0, // d: I64 [1] = 7
    1, 0, // e: BOOL [2]
  ]);
  const file = assemble({
    __metadata__: { format: "pt" },
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F16", shape: [2], data_offsets: [8, 12] },
    c: { dtype: "BF16", shape: [], data_offsets: [12, 14] },
    d: { dtype: "I64", shape: [1], data_offsets: [14, 22] },
    e: { dtype: "BOOL", shape: [2], data_offsets: [22, 24] },
  }, data);
  const { tensors, metadata } = decodeSafetensors(file);
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual([...tensors.keys()], ["a", "b", "c", "d", "e"]);
  assert.deepEqual([...toFloat32(tensors.get("a")!)], [1.5, -2]);
  assert.deepEqual([...toFloat32(tensors.get("b")!)], [1, -2]);
  assert.deepEqual(tensors.get("c")!.shape, []);
  assert.deepEqual([...toFloat32(tensors.get("c")!)], [1]);
  assert.deepEqual([...toFloat32(tensors.get("d")!)], [7]);
  assert.deepEqual([...toFloat32(tensors.get("e")!)], [1, 0]);
});

test("writes the reference layout: sorted by dtype then name, header space-padded to 8", () => {
  const tensors = new Map<string, TensorToWrite>([
    ["z", { shape: [1], data: Float32Array.of(3) }],
    ["count", { shape: [], data: Float32Array.of(5), dtype: "I64" }],
    ["a", { shape: [2], data: Float32Array.of(1, 2) }],
  ]);
  const bytes = encodeSafetensors(tensors, { epoch: "3" });
  // Expected, by hand: I64 sorts before F32 (larger alignment); then a before z.
  const header = JSON.stringify({
    __metadata__: { epoch: "3" },
    count: { dtype: "I64", shape: [], data_offsets: [0, 8] },
    a: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
    z: { dtype: "F32", shape: [1], data_offsets: [16, 20] },
  });
  const padded = header + " ".repeat((8 - (header.length % 8)) % 8);
  const expected = assemble(padded, new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0, ...f32Bytes(1, 2, 3)]));
  assert.deepEqual(Buffer.from(bytes), Buffer.from(expected));
  assert.equal((8 + padded.length) % 8, 0);
});

test("round trip through a file, written atomically", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-st-"));
  try {
    const path = join(dir, "w.safetensors");
    const weight = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 10);
    await writeSafetensors(path, new Map<string, TensorToWrite>([
      ["layer.weight", { shape: [2, 3, 4], data: weight }],
      ["empty", { shape: [0, 3], data: new Float32Array(0) }],
      ["ids", { shape: [3], data: Int32Array.of(-1, 0, 2147483647) }],
      ["half", { shape: [3], data: Float32Array.of(1, 0.1, 65504), dtype: "F16" }],
      ["wide", { shape: [2], data: Float64Array.of(1 / 3, 1e300) }],
    ]), { config: JSON.stringify({ lr: 0.01 }) });
    assert.deepEqual(readdirSync(dir), ["w.safetensors"], "no temp file is left behind");
    const back = await readSafetensors(path);
    assert.deepEqual(JSON.parse(back.metadata.config!), { lr: 0.01 });
    const f = toFloat32Tensors(back);
    assert.deepEqual(f.get("layer.weight")!.shape, [2, 3, 4]);
    assert.deepEqual(f.get("layer.weight")!.data, weight);
    assert.deepEqual(f.get("empty")!.shape, [0, 3]);
    assert.deepEqual([...f.get("ids")!.data], [-1, 0, 2147483648]); // float32 rounding of 2^31-1
    assert.deepEqual([...f.get("half")!.data], [1, halfToFloat(floatToHalf(0.1)), 65504]);
    assert.deepEqual([...f.get("wide")!.data], [Math.fround(1 / 3), Infinity]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an atomic write that fails leaves the old file and no temp file behind", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-st-"));
  try {
    const path = join(dir, "last.safetensors");
    const tensors = (v: number): Map<string, TensorToWrite> => new Map([["w", { shape: [1], data: Float32Array.of(v) }]]);
    writeSafetensorsSync(path, tensors(1));
    mkdirSync(join(dir, "blocked.safetensors"));
    // Renaming a file over a directory fails: the write must clean up after itself.
    await assert.rejects(writeSafetensors(join(dir, "blocked.safetensors"), tensors(2)));
    assert.throws(() => writeSafetensorsSync(join(dir, "blocked.safetensors"), tensors(2)));
    assert.deepEqual(readdirSync(dir).sort(), ["blocked.safetensors", "last.safetensors"]);
    assert.deepEqual([...toFloat32(decodeSafetensors(readFileSync(path)).tensors.get("w")!)], [1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("half and bfloat16 conversions match IEEE 754 bit patterns", () => {
  // Bit patterns from the binary16 definition: 1 = 0x3c00, max 65504 = 0x7bff,
  // smallest subnormal 2^-24 = 0x0001, smallest normal 2^-14 = 0x0400.
  assert.equal(floatToHalf(1), 0x3c00);
  assert.equal(floatToHalf(-2), 0xc000);
  assert.equal(floatToHalf(65504), 0x7bff);
  assert.equal(floatToHalf(65520), 0x7c00); // rounds up to infinity
  assert.equal(floatToHalf(2 ** -24), 0x0001);
  assert.equal(floatToHalf(2 ** -25), 0x0000); // a tie rounds to even (0)
  assert.equal(floatToHalf(1.5 * 2 ** -25), 0x0001);
  assert.equal(floatToHalf(2 ** -14), 0x0400);
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // tie between 1 and 1+2^-10: even
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02); // tie: rounds to even (up)
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0xfc00), -Infinity);
  assert.equal(floatToBfloat16(1), 0x3f80);
  assert.equal(floatToBfloat16(-2), 0xc000);
  assert.equal(floatToBfloat16(1 + 2 ** -8), 0x3f80); // tie: even
  assert.equal(floatToBfloat16(1 + 3 * 2 ** -8), 0x3f82);
});

test("hostile headers are refused with an error naming the file and the tensor", () => {
  const two = f32Bytes(1, 2);
  rejects(new Uint8Array(5), /too short/);
  rejects(assemble("{}", new Uint8Array(0), 5n * 2n ** 30n), /claims 5368709120 bytes, more than/);
  rejects(assemble('{"a":1}', new Uint8Array(0), 500n), /truncated/);
  rejects(assemble("[1,2]"), /does not start with '\{'/);
  rejects(assemble("{not json"), /not valid JSON/);
  rejects(assemble({ __metadata__: { epoch: 3 } }), /__metadata__ "epoch" is a number; the format allows only string values/);
  rejects(assemble({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, two),
    /tensor "b": data_offsets \[4, 8\] overlap/);
  rejects(assemble({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, two), /tensor "a": .*leave a gap/);
  rejects(assemble({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, two), /tensor "a": .*span 8 bytes but F32 \[3\] needs 12/);
  // A tensor that claims gigabytes in a small file.
  rejects(assemble({ big: { dtype: "F32", shape: [1 << 30], data_offsets: [0, 4 * 2 ** 30] } }, two),
    /tensor "big": data_offsets end at 4294967296 but the file holds only 8 data bytes/);
  rejects(assemble({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, two), /cover 4 data bytes but the file holds 8/);
  rejects(assemble({ a: { dtype: "Q4", shape: [1], data_offsets: [0, 4] } }, two), /tensor "a": unknown dtype "Q4"/);
  rejects(assemble({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, two), /tensor "a": shape \[-1\]/);
  rejects(assemble({ a: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, two), /tensor "a": .*end before they begin/);
  rejects(assemble('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}, "a" :{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', two),
    /names "a" twice/);
  // Truncated: a valid file missing its last bytes.
  const good = encodeSafetensors(new Map([["w", { shape: [4], data: Float32Array.of(1, 2, 3, 4) }]]));
  rejects(good.subarray(0, good.length - 3), /tensor "w": .*truncated/);
});

test("the writer refuses what the format cannot hold", () => {
  assert.throws(() => encodeSafetensors(new Map(), { n: 3 as unknown as string }), /must be a string/);
  assert.throws(() => encodeSafetensors(new Map([["w", { shape: [3], data: Float32Array.of(1, 2) }]])), /2 values for shape \[3\]/);
  assert.throws(() => encodeSafetensors(new Map([["n", { shape: [1], data: Float32Array.of(1.5), dtype: "I64" as const }]])), /not an integer/);
});
