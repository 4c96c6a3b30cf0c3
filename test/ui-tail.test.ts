// What the dashboard reads from growing files: only the bytes added since the
// last look, whole lines only, and the scalars of whole TFRecord events
// (written by kiln's TensorBoard writer, the files TensorBoard itself reads).
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EventFileWriter } from "../src/track/tensorboard/event-writer.js";
import { scalarsEvent, textEvent } from "../src/track/tensorboard/event.js";
import { ByteTail, LineTail } from "../src/ui/tail.js";
import { EventFileTail } from "../src/ui/tfevents.js";
import { scratchDir } from "./helpers/kiln-cli.js";

describe("ui tails", () => {
  it("reads only the new bytes, and from the start again after a rewrite", () => {
    const path = join(scratchDir("kiln-ui-tail-"), "f.txt");
    const tail = new ByteTail(path);
    assert.equal(tail.read(), null);
    writeFileSync(path, "0123456789");
    assert.equal(tail.read()?.bytes.toString(), "0123456789");
    appendFileSync(path, "abc");
    const chunk = tail.read();
    assert.deepEqual([chunk?.bytes.toString(), chunk?.reset, tail.position], ["abc", false, 13]);
    assert.equal(tail.read()?.bytes.length, 0);
    writeFileSync(path, "xy");
    const again = tail.read();
    assert.deepEqual([again?.bytes.toString(), again?.reset], ["xy", true]);
  });

  it("gives whole lines only, a UTF-8 character split between reads included", () => {
    const path = join(scratchDir("kiln-ui-tail-"), "r.csv");
    const tail = new LineTail(path);
    writeFileSync(path, "a,b\n1,2\n3,");
    assert.deepEqual(tail.read()?.lines, ["a,b", "1,2"]);
    const euro = Buffer.from("€"); // 3 bytes
    appendFileSync(path, Buffer.concat([Buffer.from("4"), euro.subarray(0, 1)]));
    assert.deepEqual(tail.read()?.lines, []);
    appendFileSync(path, Buffer.concat([euro.subarray(1), Buffer.from("\r\n5,6\n")]));
    assert.deepEqual(tail.read()?.lines, ["3,4€", "5,6"]);
  });

  it("decodes the step losses of an event file record by record, a half-written record waiting", () => {
    const dir = scratchDir("kiln-ui-events-");
    const writer = new EventFileWriter(dir);
    writer.write(textEvent(100, 0, "args", "| key | value |"));
    writer.write(scalarsEvent(101.5, 1, { "train/batch_loss": 2.5, "val/acc": 0.25 }));
    writer.write(scalarsEvent(102.5, 70_000_000_000, { "train/batch_loss": 0.1 }));
    writer.close();
    const whole = readFileSync(writer.path as string);
    // The same bytes arriving in two pieces, cut inside the last record.
    const path = join(dir, "copy.tfevents");
    const cut = whole.length - 7;
    writeFileSync(path, whole.subarray(0, cut));
    const tail = new EventFileTail(path);
    const first = tail.read().scalars;
    assert.deepEqual(first.map((s) => [s.tag, s.step, s.value, s.wallTime]), [["train/batch_loss", 1, 2.5, 101.5], ["val/acc", 1, 0.25, 101.5]]);
    appendFileSync(path, whole.subarray(cut));
    const second = tail.read().scalars;
    assert.deepEqual(second.map((s) => [s.tag, s.step, s.value]), [["train/batch_loss", 70_000_000_000, Math.fround(0.1)]]);
    assert.deepEqual(tail.read().scalars, []);
  });

  it("stops at a damaged record, as TensorBoard does", () => {
    const dir = scratchDir("kiln-ui-events-");
    const writer = new EventFileWriter(dir);
    writer.write(scalarsEvent(1, 1, { "train/batch_loss": 1 }));
    writer.write(scalarsEvent(2, 2, { "train/batch_loss": 2 }));
    writer.close();
    const bytes = Buffer.from(readFileSync(writer.path as string));
    bytes[bytes.length - 6] ^= 0xff; // inside the last record's data
    const path = join(dir, "bad.tfevents");
    writeFileSync(path, bytes);
    assert.deepEqual(new EventFileTail(path).read().scalars.map((s) => s.step), [1]);
  });
});
