// Reading only what a growing file gained since the last look: the dashboard
// follows results.csv and the TensorBoard event files without reading them
// whole on every change. A file that shrank (rewritten) is read again from 0.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface TailChunk {
  /** The bytes added since the last read. */
  bytes: Buffer;
  /** True when the file shrank, so the caller must drop what it built from earlier reads. */
  reset: boolean;
}

export class ByteTail {
  private offset = 0;

  constructor(readonly path: string) {}

  /** The bytes read so far (the file's length when last read). */
  get position(): number {
    return this.offset;
  }

  /** New bytes since the last call; null when the file does not exist (yet). */
  read(): TailChunk | null {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return null;
    }
    try {
      const size = fstatSync(fd).size;
      let reset = false;
      if (size < this.offset) {
        this.offset = 0;
        reset = true;
      }
      const bytes = Buffer.alloc(size - this.offset);
      let done = 0;
      while (done < bytes.length) {
        const n = readSync(fd, bytes, done, bytes.length - done, this.offset + done);
        if (n === 0) break;
        done += n;
      }
      this.offset += done;
      return { bytes: bytes.subarray(0, done), reset };
    } finally {
      closeSync(fd);
    }
  }
}

/** Complete lines of a growing text file; a line without its newline yet waits for the next read. */
export class LineTail {
  private readonly tail: ByteTail;
  // Kept as bytes: a UTF-8 character may be split between two reads.
  private partial: Buffer = Buffer.alloc(0);

  constructor(path: string) {
    this.tail = new ByteTail(path);
  }

  read(): { lines: string[]; reset: boolean } | null {
    const chunk = this.tail.read();
    if (chunk === null) return null;
    const bytes = chunk.reset ? chunk.bytes : Buffer.concat([this.partial, chunk.bytes]);
    const end = bytes.lastIndexOf(0x0a);
    this.partial = Buffer.from(bytes.subarray(end + 1));
    const text = end < 0 ? "" : bytes.subarray(0, end).toString("utf8");
    return { lines: text.split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l.trim() !== ""), reset: chunk.reset };
  }
}
