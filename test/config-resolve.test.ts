// The training config: defaults < config file < command line, each validation
// error's message, and --help listing every option with its default.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, readConfigFile, resolveTrainConfig, trainHelp, TRAIN_KEYS, typeCliValue } from "../src/config/index.js";
import { KilnError } from "../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

function cli(words: string[]): Record<string, unknown> {
  const { options } = parseArgs(words, (k) => !["yes", "cos_lr", "exist_ok", "ema", "quick", "cache"].includes(k));
  return Object.fromEntries([...options].map(([k, v]) => [k, typeCliValue(k, v)]));
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof KilnError, `expected a KilnError, got ${String(err)}`);
    return err.message;
  }
  assert.fail("expected an error");
}

test("defaults < config file < command line", () => {
  const path = file("exp.yaml", "epochs: 7\nbatch: 16\nlr0: 0.005\nname: 2024\n");
  const config = resolveTrainConfig({ file: { path, options: readConfigFile(path) }, overrides: cli(["epochs=3", "--imgsz", "32", "--cos-lr"]) });
  assert.equal(config.epochs, 3); // CLI beats the file
  assert.equal(config.batch, 16); // file beats the default
  assert.equal(config.lr0, 0.005);
  assert.equal(config.imgsz, 32);
  assert.equal(config.cos_lr, true);
  assert.equal(config.name, "2024"); // a number in YAML for a text option is text
  assert.equal(config.momentum, 0.937); // untouched default (Ultralytics')
  assert.equal(config.nonfinite_max_fraction, 0.2);
  assert.equal(config.confirm_over, 10);
});

test("command-line forms: key=value, --key value, --key=value, --flag, negative numbers", () => {
  const o = cli(["epochs=2", "--batch", "4", "--lrf=0.1", "--yes", "save_period=-1", "--resume", "runs/x"]);
  assert.deepEqual(o, { epochs: 2, batch: 4, lrf: 0.1, yes: true, save_period: -1, resume: "runs/x" });
  assert.deepEqual(cli(["--save-period", "-1"]), { save_period: -1 });
});

test("an unknown key names the closest known one", () => {
  assert.match(errorOf(() => resolveTrainConfig({ overrides: { epoch: 3 } })), /unknown option 'epoch' on the command line\. Did you mean 'epochs'\?/);
  assert.match(errorOf(() => resolveTrainConfig({ overrides: { lr_0: 1 } })), /Did you mean 'lr0'\?/);
  const path = file("typo.yaml", "bacth: 8\n");
  assert.match(errorOf(() => resolveTrainConfig({ file: { path, options: readConfigFile(path) } })), new RegExp(`unknown option 'bacth' in the config file ${path}\\. Did you mean 'batch'\\?`));
  assert.doesNotMatch(errorOf(() => resolveTrainConfig({ overrides: { zzzzzzzz: 1 } })), /Did you mean/);
});

test("a value of the wrong type names the key, the value and the type", () => {
  assert.equal(errorOf(() => resolveTrainConfig({ overrides: cli(["epochs=ten"]) })), "invalid value for 'epochs' on the command line: \"ten\". Allowed: an integer ≥ 1 and ≤ 100000.");
  assert.match(errorOf(() => resolveTrainConfig({ overrides: cli(["batch=2.5"]) })), /'batch'.*2\.5.*an integer/);
  assert.match(errorOf(() => resolveTrainConfig({ overrides: cli(["cos_lr=maybe"]) })), /'cos_lr'.*"maybe".*true or false/);
  assert.match(errorOf(() => resolveTrainConfig({ overrides: cli(["optimizer=RMSProp"]) })), /'optimizer'.*"RMSProp".*one of: auto, SGD, Adam, AdamW/);
});

test("a value out of range names the range", () => {
  assert.match(errorOf(() => resolveTrainConfig({ overrides: cli(["lr0=-1"]) })), /'lr0' on the command line: -1\. Allowed: a number > 0 and ≤ 10\./);
  assert.match(errorOf(() => resolveTrainConfig({ overrides: cli(["fliplr=1.5"]) })), /'fliplr'.*1\.5.*≥ 0 and ≤ 1/);
  const path = file("range.yaml", "val_ratio: 1\n");
  assert.match(errorOf(() => resolveTrainConfig({ file: { path, options: readConfigFile(path) } })), new RegExp(`'val_ratio' in the config file ${path}: 1\\. Allowed: a number > 0 and < 1`));
});

test("an unreadable or malformed config file is named", () => {
  assert.match(errorOf(() => readConfigFile(join(dir, "missing.yaml"))), /cannot read the config file .*missing\.yaml: it does not exist/);
  const bad = file("bad.yaml", "epochs: [1, 2\n");
  assert.match(errorOf(() => readConfigFile(bad)), new RegExp(`the config file ${bad} is not valid YAML`));
  const list = file("list.yaml", "- 1\n- 2\n");
  assert.match(errorOf(() => readConfigFile(list)), /must be a mapping of options.*found a list/);
});

test("--help lists every option with its default and description", () => {
  const help = trainHelp();
  for (const key of TRAIN_KEYS) assert.match(help, new RegExp(`^  ${key} +\\S.*\\[.*default: `, "m"), `help lacks ${key}`);
  assert.match(help, /^ {2}epochs +number of epochs \[int, default: 10\]$/m);
  assert.match(help, /^ {2}optimizer .*\[auto\|SGD\|Adam\|AdamW, default: auto\]$/m);
  assert.match(help, /Examples:\n {2}kiln train /);
});
