// Bad input through the real CLI: each gets a message naming the key or file
// and the fix, a non-zero exit and no stack trace. Plus every command's --help.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { syntheticDataset, writeClassFolders } from "../src/data/synthetic.js";
import { join } from "node:path";
import { runKiln, scratchDir } from "./helpers/kiln-cli.js";

const dir = scratchDir();
after(() => rmSync(dir, { recursive: true, force: true }));

function fails(args: string[], message: RegExp): void {
  const r = runKiln(args, dir);
  assert.notEqual(r.code, 0, `kiln ${args.join(" ")} should fail`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

test("unknown key, wrong type, out of range", () => {
  fails(["train", "epoch=3"], /unknown option 'epoch' on the command line\. Did you mean 'epochs'\?/);
  fails(["train", "--batch", "many"], /invalid value for 'batch' on the command line: "many"\. Allowed: an integer ≥ 1 and ≤ 4096\./);
  fails(["train", "imgsz=4"], /invalid value for 'imgsz' .*: 4\. Allowed: an integer ≥ 8/);
  fails(["train", "--optimizer", "sgd"], /'optimizer'.*"sgd".*one of: auto, SGD, Adam, AdamW/);
});

test("an unreadable or malformed config file", () => {
  fails(["train", "--config", "nope.yaml"], /cannot read the config file nope\.yaml: it does not exist/);
  writeFileSync(join(dir, "broken.yaml"), "epochs: {3\n");
  fails(["train", "--config", "broken.yaml"], /the config file broken\.yaml is not valid YAML/);
  writeFileSync(join(dir, "typo.yaml"), "imgsize: 32\n");
  fails(["train", "--config", "typo.yaml"], /unknown option 'imgsize' in the config file typo\.yaml\. Did you mean 'imgsz'\?/);
});

test("bad data is refused before training, with the data check's messages", async () => {
  const data = join(dir, "shapes");
  await writeClassFolders(syntheticDataset({ train: 4, val: 2, size: 16 }), data);
  writeFileSync(join(data, "train", "circle", "broken.jpg"), "not a jpeg");
  fails(["train", "--data", "shapes", "imgsz=16"], /the dataset shapes has errors; training refuses it:[\s\S]*broken\.jpg: cannot decode/);
  assert.ok(!existsSync(join(dir, "runs")), "no run directory for refused data");
  rmSync(data, { recursive: true });
});

test("a missing data path", () => {
  fails(["train", "--data", "no/such/folder", "imgsz=16"], /data path not found: .*no\/such\/folder/);
});

test("a resume file that is not a kiln checkpoint", () => {
  writeFileSync(join(dir, "notes.txt"), "hello");
  fails(["train", "--resume", "notes.txt"], /notes\.txt is not a kiln checkpoint/);
  fails(["train", "--resume", "missing.safetensors"], /missing\.safetensors does not exist/);
  fails(["train", "--resume"], /resume=true: no run under runs\/classify or runs\/detect has weights\/last\.safetensors/);
  fails(["val", "--model", "notes.txt"], /notes\.txt is not a kiln checkpoint/);
  fails(["predict", "--model", "notes.txt", "--source", "."], /notes\.txt is not a kiln checkpoint/);
  assert.deepEqual(readdirSync(dir).sort(), ["broken.yaml", "notes.txt", "typo.yaml"], "nothing written");
});

test("--help on kiln and each command, with examples", () => {
  for (const args of [["--help"], ["train", "--help"], ["val", "--help"], ["predict", "--help"], ["doctor", "--help"]]) {
    const r = runKiln(args, dir);
    assert.equal(r.code, 0, args.join(" "));
    assert.match(r.stdout, /Usage: kiln/);
    assert.match(r.stdout, /Examples?:\n {2}kiln /);
  }
  assert.equal(runKiln(["frobnicate"], dir).code, 2);
});

test("kiln doctor checks the installation", () => {
  const r = runKiln(["doctor"], dir);
  assert.match(r.stdout, /native kernels/);
  assert.match(r.stdout, /image decoding/);
  assert.match(r.stdout, /memory +[\d.]+ GiB free/);
  assert.match(r.stdout, /disk +[\d.]+ GiB free/);
  assert.equal(r.code, /FAIL/.test(r.stdout) ? 1 : 0);
});
