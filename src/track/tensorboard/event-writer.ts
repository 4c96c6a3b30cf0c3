// Appends TFRecord-framed events to one `events.out.tfevents.*` file.
// Records are buffered and written whole, so a crash leaves at most the
// unflushed tail missing, never a half record (TensorBoard silently stops
// reading a file at the first damaged record: formats.md §4).

import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { maskedCrc32c } from "./crc32c.js";
import { fileVersionEvent } from "./event.js";

export interface EventFileWriterOptions {
  /** Flush by itself once this much is buffered (bytes); default 64 KiB. */
  maxPendingBytes?: number;
  /** Flush by itself when the oldest buffered record is this old (ms); default 10 s. */
  maxPendingMs?: number;
  /** Clock in ms since the epoch (tests); default Date.now. */
  now?: () => number;
}

// Per-process counter in the file name, as TensorBoard's own writer keeps, so
// two writers opened in the same second by one process get distinct files.
let fileCounter = 0;

/** One TFRecord: u64 length, masked CRC of the length, data, masked CRC of the data. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 16);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

export class EventFileWriter {
  private fd: number | null = null;
  private filePath: string | null = null;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private pendingSince = 0;
  private closed = false;
  private readonly now: () => number;
  private readonly maxPendingBytes: number;
  private readonly maxPendingMs: number;

  constructor(
    readonly logdir: string,
    options: EventFileWriterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024;
    this.maxPendingMs = options.maxPendingMs ?? 10_000;
  }

  /** The event file, or null until the first record opens it. */
  get path(): string | null {
    return this.filePath;
  }

  /** Queues one serialized Event; the file is created on the first call. */
  write(event: Uint8Array): void {
    if (this.closed) throw new Error("EventFileWriter: write after close");
    if (this.fd === null) this.open();
    if (this.pending.length === 0) this.pendingSince = this.now();
    const record = frameRecord(event);
    this.pending.push(record);
    this.pendingBytes += record.length;
    if (this.pendingBytes >= this.maxPendingBytes || this.now() - this.pendingSince >= this.maxPendingMs) this.flush();
  }

  /** Writes the buffered records to the file. */
  flush(): void {
    if (this.fd === null || this.pending.length === 0) return;
    const all = new Uint8Array(this.pendingBytes);
    let at = 0;
    for (const r of this.pending) {
      all.set(r, at);
      at += r.length;
    }
    // Cleared first: if the disk fails, retrying the same bytes later could
    // only duplicate whatever part did land.
    this.pending = [];
    this.pendingBytes = 0;
    let done = 0;
    while (done < all.length) done += writeSync(this.fd, all, done, all.length - done);
  }

  /** Flushes, syncs and closes; later calls do nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const fd = this.fd;
    if (fd === null) return;
    try {
      this.flush();
      fsyncSync(fd);
    } finally {
      this.fd = null;
      closeSync(fd);
    }
  }

  private open(): void {
    mkdirSync(this.logdir, { recursive: true });
    const seconds = Math.floor(this.now() / 1000);
    const host = hostname().replace(/[^\w.-]/g, "_") || "localhost";
    // "wx": never append to another writer's file; a taken name takes the next counter.
    for (;;) {
      const name = `events.out.tfevents.${String(seconds).padStart(10, "0")}.${host}.${process.pid}.${fileCounter++}`;
      const path = join(this.logdir, name);
      try {
        this.fd = openSync(path, "wx");
        this.filePath = path;
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    }
    this.pending.push(frameRecord(fileVersionEvent(this.now() / 1000)));
    this.pendingBytes += this.pending[0].length;
    this.pendingSince = this.now();
  }
}
