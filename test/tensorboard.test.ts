// TensorBoard event files, read back by a reader written here from the format's
// definition (formats.md §4), not from the writer: a bitwise CRC-32C checked on
// RFC 3720's vectors, TFRecord framing parsed with Buffer reads, and the Event
// protobuf decoded by protobufjs from the schema text of TensorBoard's own
// event.proto / summary.proto / tensor.proto (the fields kiln may write).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import protobuf from "protobufjs";
import type { TrackedRun } from "../src/track/tracker.js";
import { crc32c, EventFileWriter, maskCrc, TensorBoardTracker } from "../src/track/tensorboard/index.js";

const SCHEMA = `
syntax = "proto3";
package tensorboard;

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    bytes graph_def = 4;
    Summary summary = 5;
  }
  SourceMetadata source_metadata = 10;
}
message SourceMetadata { string writer = 1; }

message SummaryMetadata {
  message PluginData {
    string plugin_name = 1;
    bytes content = 2;
  }
  PluginData plugin_data = 1;
  string display_name = 2;
  string summary_description = 3;
  DataClass data_class = 4;
}
enum DataClass {
  DATA_CLASS_UNKNOWN = 0;
  DATA_CLASS_SCALAR = 1;
  DATA_CLASS_TENSOR = 2;
  DATA_CLASS_BLOB_SEQUENCE = 3;
}
message Summary {
  message Value {
    string node_name = 7;
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
      bytes obsolete_old_style_histogram = 3;
      TensorProto tensor = 8;
    }
  }
  repeated Value value = 1;
}

enum DataType {
  DT_INVALID = 0; DT_FLOAT = 1; DT_DOUBLE = 2; DT_INT32 = 3;
  DT_UINT8 = 4; DT_INT16 = 5; DT_INT8 = 6; DT_STRING = 7;
}
message TensorShapeProto {
  message Dim {
    int64 size = 1;
    string name = 2;
  }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}
message TensorProto {
  DataType dtype = 1;
  TensorShapeProto tensor_shape = 2;
  int32 version_number = 3;
  bytes tensor_content = 4;
  repeated float float_val = 5 [packed = true];
  repeated double double_val = 6 [packed = true];
  repeated int32 int_val = 7 [packed = true];
  repeated bytes string_val = 8;
}
`;

const EventType = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType("tensorboard.Event");

interface DecodedValue {
  tag: string;
  simple_value?: number;
  metadata?: { plugin_data?: { plugin_name?: string }; data_class?: string };
  tensor?: { dtype?: string; tensor_shape?: { dim?: { size?: number }[] }; string_val?: Uint8Array[] };
}
interface DecodedEvent {
  wall_time: number;
  step?: number;
  file_version?: string;
  source_metadata?: { writer?: string };
  summary?: { value?: DecodedValue[] };
}

// --- CRC-32C, bit by bit (the writer's is table-driven) ---------------------

function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** TFRecord's mask in plain arithmetic: rotate right 15, add 0xA282EAD8, mod 2^32. */
function masked(bytes: Uint8Array): number {
  const crc = crc32cBitwise(bytes);
  const rotated = Math.floor(crc / 2 ** 15) + (crc % 2 ** 15) * 2 ** 17;
  return (rotated + 0xa282ead8) % 2 ** 32;
}

const RFC3720 = [
  { name: "32 zero bytes", bytes: new Uint8Array(32), crc: 0x8a9136aa },
  { name: "32 0xFF bytes", bytes: new Uint8Array(32).fill(0xff), crc: 0x62a8ab43 },
  { name: "ascending 0..31", bytes: Uint8Array.from({ length: 32 }, (_, i) => i), crc: 0x46dd794e },
  { name: "descending 31..0", bytes: Uint8Array.from({ length: 32 }, (_, i) => 31 - i), crc: 0x113fdb5c },
];

// --- TFRecord reader --------------------------------------------------------

/** Every record's payload; throws on a bad CRC or a short file (unlike TensorBoard, which stops silently). */
function readRecords(file: Buffer): Buffer[] {
  const records: Buffer[] = [];
  let pos = 0;
  while (pos < file.length) {
    assert.ok(pos + 12 <= file.length, `truncated record header at ${pos}`);
    const lengthBytes = file.subarray(pos, pos + 8);
    if (file.readUInt32LE(pos + 8) !== masked(lengthBytes)) throw new Error(`length CRC mismatch at ${pos}`);
    const length = Number(file.readBigUInt64LE(pos));
    const start = pos + 12;
    assert.ok(start + length + 4 <= file.length, `truncated record data at ${pos}`);
    const data = file.subarray(start, start + length);
    if (file.readUInt32LE(start + length) !== masked(data)) throw new Error(`data CRC mismatch at ${pos}`);
    records.push(data);
    pos = start + length + 4;
  }
  return records;
}

function decodeEvents(file: Buffer): DecodedEvent[] {
  return readRecords(file).map(
    (r) => EventType.toObject(EventType.decode(r), { longs: Number, enums: String }) as DecodedEvent,
  );
}

const eventFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.includes("tfevents"))
    .sort();

const readAll = (dir: string): DecodedEvent[][] => eventFiles(dir).map((n) => decodeEvents(readFileSync(join(dir, n))));

/** Scalar events as [step, tag, value] rows, in file order. */
function scalarRows(events: DecodedEvent[]): [number, string, number][] {
  return events.flatMap((e) =>
    (e.summary?.value ?? [])
      .filter((v) => v.simple_value !== undefined)
      .map((v): [number, string, number] => [e.step ?? 0, v.tag, v.simple_value ?? NaN]),
  );
}

function withDir(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-tb-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function trackedRun(runDir: string, resumed = false): TrackedRun {
  return {
    runDir,
    name: "train3",
    task: "classify",
    experiment: "classify",
    params: { model: "cnn", epochs: 3, lr0: 0.01, cache: false, note: "a|b", resume: null },
    startedAt: 1_700_000_000_000,
    resumed,
  };
}

// --- tests ------------------------------------------------------------------

test("the test's bitwise CRC-32C matches RFC 3720's vectors", () => {
  for (const v of RFC3720) assert.equal(crc32cBitwise(v.bytes), v.crc, v.name);
});

test("kiln's table CRC-32C matches the vectors and the bitwise CRC; the mask matches its definition", () => {
  for (const v of RFC3720) assert.equal(crc32c(v.bytes), v.crc, v.name);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283); // the CRC catalogue's check value
  let seed = 12345;
  for (let n = 0; n < 300; n += 7) {
    const bytes = Uint8Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    assert.equal(crc32c(bytes), crc32cBitwise(bytes), `random ${n} bytes`);
    assert.equal(maskCrc(crc32c(bytes)), masked(bytes), `mask of random ${n} bytes`);
  }
});

test(
  "a run's event file: version record, the config as text, each scalar at its step with its wall time",
  withDir(async (dir) => {
    const runDir = join(dir, "runs", "classify", "train3");
    const tracker = new TensorBoardTracker();
    tracker.start(trackedRun(runDir));
    const t0 = 1_700_000_001_000;
    tracker.logScalars("step", 1, { "train/batch_loss": 2.5 }, t0);
    tracker.logScalars("step", 2, { "train/batch_loss": 2.25 }, t0 + 250);
    tracker.logScalars("epoch", 1, { "train/loss": 2.31, "val/acc": 0.125, "lr/pg0": 0.001 }, t0 + 1000);
    tracker.logScalars("step", 2 ** 40, { "train/batch_loss": -0.1 }, t0 + 1500); // int64 past 2^32
    tracker.logScalars("epoch", 2, { "train/loss": 1.9, "val/π": Infinity }, t0 + 2000);
    tracker.logArtifact("weights/best.safetensors");
    await tracker.end("finished", t0 + 3000);

    const names = eventFiles(runDir);
    assert.equal(names.length, 1);
    const m = /^events\.out\.tfevents\.(\d{10})\..+\.(\d+)\.(\d+)$/.exec(names[0]);
    assert.ok(m, names[0]);
    assert.equal(Number(m[2]), process.pid);
    assert.equal(tracker.eventFile, null, "closed at end");

    const [events] = readAll(runDir);
    assert.equal(events[0].file_version, "brain.Event:2");
    assert.equal(events[0].source_metadata?.writer, "kiln");
    assert.equal(events[0].summary, undefined);

    const args = events[1];
    assert.equal(args.step ?? 0, 0);
    assert.equal(args.wall_time, 1_700_000_000);
    const v = args.summary?.value?.[0];
    assert.equal(v?.tag, "args");
    assert.equal(v?.metadata?.plugin_data?.plugin_name, "text");
    assert.equal(v?.metadata?.data_class, "DATA_CLASS_TENSOR");
    assert.equal(v?.tensor?.dtype, "DT_STRING");
    assert.deepEqual(v?.tensor?.tensor_shape?.dim?.map((d) => d.size), [1]);
    const markdown = Buffer.from(v?.tensor?.string_val?.[0] ?? []).toString("utf8");
    assert.match(markdown, /^\| key \| value \|\n\| --- \| --- \|\n/);
    assert.match(markdown, /\| model \| cnn \|/);
    assert.match(markdown, /\| lr0 \| 0\.01 \|/);
    assert.match(markdown, /\| note \| a\\\|b \|/);
    assert.match(markdown, /\| resume \| null \|/);

    const scalars = events.slice(2);
    assert.deepEqual(
      scalarRows(scalars),
      [
        [1, "train/batch_loss", 2.5],
        [2, "train/batch_loss", 2.25],
        [1, "train/loss", Math.fround(2.31)],
        [1, "val/acc", 0.125],
        [1, "lr/pg0", Math.fround(0.001)],
        [2 ** 40, "train/batch_loss", Math.fround(-0.1)],
        [2, "train/loss", Math.fround(1.9)],
        [2, "val/π", Infinity],
      ],
    );
    assert.deepEqual(
      scalars.map((e) => e.wall_time),
      [t0, t0 + 250, t0 + 1000, t0 + 1500, t0 + 2000].map((t) => t / 1000),
    );
  }),
);

test(
  "without timeMs the wall time is now, and increases",
  withDir(async (dir) => {
    const tracker = new TensorBoardTracker();
    tracker.start(trackedRun(dir, true));
    const before = Date.now() / 1000;
    for (let epoch = 1; epoch <= 3; epoch++) {
      const t = Date.now();
      while (Date.now() === t); // the next millisecond
      tracker.logScalars("epoch", epoch, { "train/loss": 1 / epoch });
    }
    await tracker.end("finished", Date.now());
    const [events] = readAll(dir);
    const times = events.slice(1).map((e) => e.wall_time);
    assert.equal(times.length, 3);
    assert.ok(times[0] >= before && times[2] <= Date.now() / 1000);
    assert.ok(times[0] < times[1] && times[1] < times[2], `wall times ${times.join(", ")}`);
  }),
);

test(
  "a corrupted byte fails the CRC check",
  withDir(async (dir) => {
    const tracker = new TensorBoardTracker();
    tracker.start(trackedRun(dir));
    tracker.logScalars("epoch", 1, { "train/loss": 0.5 }, 1_700_000_001_000);
    await tracker.end("finished", 1_700_000_002_000);
    const path = join(dir, eventFiles(dir)[0]);
    const good = readFileSync(path);
    assert.equal(readRecords(good).length, 3);

    // Record 0's data starts at byte 12; a byte in its middle, then a byte of record 1's length.
    const dataHit = Buffer.from(good);
    dataHit[20] ^= 0x01;
    assert.throws(() => readRecords(dataHit), /data CRC mismatch at 0/);

    const recordOne = 12 + Number(good.readBigUInt64LE(0)) + 4;
    const lengthHit = Buffer.from(good);
    lengthHit[recordOne] ^= 0x40;
    assert.throws(() => readRecords(lengthHit), new RegExp(`length CRC mismatch at ${recordOne}`));

    // The file on disk, damaged the same way, fails too.
    writeFileSync(path, dataHit);
    assert.throws(() => readAll(dir), /data CRC mismatch/);
  }),
);

test(
  "a resumed run appends a second event file; both read back in order",
  withDir(async (dir) => {
    const first = new TensorBoardTracker();
    first.start(trackedRun(dir));
    first.logScalars("epoch", 1, { "train/loss": 1 }, 1_700_000_001_000);
    first.logScalars("epoch", 2, { "train/loss": 0.5 }, 1_700_000_002_000);
    await first.end("interrupted", 1_700_000_002_500);

    const second = new TensorBoardTracker();
    second.start(trackedRun(dir, true));
    second.logScalars("epoch", 3, { "train/loss": 0.25 }, 1_700_000_003_000);
    await second.end("finished", 1_700_000_004_000);

    const files = readAll(dir);
    assert.equal(files.length, 2);
    for (const events of files) assert.equal(events[0].file_version, "brain.Event:2");
    const texts = files.map((events) => events.filter((e) => e.summary?.value?.[0]?.tag === "args").length);
    assert.deepEqual(texts, [1, 0], "the config is written once, by the first process");
    assert.deepEqual(
      files.flatMap(scalarRows),
      [
        [1, "train/loss", 1],
        [2, "train/loss", 0.5],
        [3, "train/loss", 0.25],
      ],
    );
  }),
);

test(
  "the file is created on the first record; step scalars are buffered until an epoch, the size or the age limit",
  withDir(async (dir) => {
    const idle = new EventFileWriter(join(dir, "idle"));
    idle.close();
    assert.equal(idle.path, null);
    assert.deepEqual(readdirSync(dir), []);

    const quiet = new TensorBoardTracker();
    quiet.start(trackedRun(join(dir, "quiet"), true)); // resumed: no config record to write
    await quiet.end("finished", Date.now());
    assert.deepEqual(readdirSync(dir), []);

    let now = 1_700_000_000_000;
    const tracker = new TensorBoardTracker({ writer: { now: () => now, maxPendingMs: 10_000 } });
    tracker.start(trackedRun(join(dir, "run"), true));
    const size = (): number => readFileSync(tracker.eventFile ?? "").length;
    tracker.logScalars("step", 1, { "train/batch_loss": 1 }, now);
    assert.equal(size(), 0, "buffered");
    now += 10_000;
    tracker.logScalars("step", 2, { "train/batch_loss": 1 }, now);
    assert.equal(decodeEvents(readFileSync(tracker.eventFile ?? "")).length, 3, "flushed by age");
    tracker.logScalars("step", 3, { "train/batch_loss": 1 }, now);
    tracker.logScalars("epoch", 1, { "train/loss": 1 }, now);
    assert.equal(decodeEvents(readFileSync(tracker.eventFile ?? "")).length, 5, "flushed by the epoch");
    await tracker.end("finished", now);

    const small = new EventFileWriter(join(dir, "small"), { maxPendingBytes: 100 });
    small.write(new Uint8Array(10));
    assert.equal(readFileSync(small.path ?? "").length, 0);
    small.write(new Uint8Array(60));
    assert.ok(readFileSync(small.path ?? "").length > 0, "flushed by size");
    small.close();
  }),
);

test(
  "a disk error warns once and never throws into training",
  withDir(async (dir) => {
    const blocker = join(dir, "file");
    writeFileSync(blocker, "not a directory");
    const warnings: string[] = [];
    const tracker = new TensorBoardTracker({ warn: (m) => warnings.push(m) });
    tracker.start(trackedRun(join(blocker, "run")));
    tracker.logScalars("epoch", 1, { "train/loss": 1 });
    tracker.logScalars("epoch", 2, { "train/loss": 1 });
    await tracker.end("finished", Date.now());
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /TensorBoard logging stopped/);
  }),
);
