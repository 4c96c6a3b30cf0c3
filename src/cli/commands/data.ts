// `kiln data check|convert|classes`: dataset checks (classification and detection), conversion
// between detection formats, and class tools. Parsing and printing only; the work is in src/data.
import { checkClassificationDataset, formatDataReport, type DataReport } from "../../data/check.js";
import { checkDetectionDataset } from "../../data/detect/check.js";
import { classCounts, editClasses, type ClassEdit } from "../../data/detect/classes.js";
import { convertDetectionDataset, DETECTION_FORMATS } from "../../data/detect/convert.js";
import { isDetectionDataset, loadDetectionDataset, readDetectionDataset, type DetectionFormat } from "../../data/detect/load.js";
import { loadClassificationDataset } from "../../data/load.js";
import { KilnError } from "../../errors.js";

const HELP = `kiln data — check, convert and edit datasets

Usage:
  kiln data check PATH [--json]
  kiln data convert SRC --to yolo|coco|voc --out DIR
  kiln data classes list DATA [--json]
  kiln data classes merge DATA --into NAME CLASS1 CLASS2 …
  kiln data classes rename DATA OLD NEW
  kiln data classes filter DATA --keep A,B,…

Run 'kiln data <subcommand> --help' for details.

Examples:
  kiln data check ./flowers
  kiln data check ./coco8/data.yaml --json > report.json
  kiln data convert ./coco8/data.yaml --to coco --out ./coco8-coco
  kiln data classes rename ./coco8/data.yaml motorcycle motorbike`;

const CHECK_HELP = `kiln data check — check a dataset before training on it

Usage: kiln data check PATH [--json]

PATH is a classification dataset: a folder of class folders (train/ val/ [test/]
of <class>/<image>, or <class>/<image> to be split), a CSV index
(path,label[,split]), a folder of IDX files (MNIST, Fashion-MNIST), or
"synthetic" for the built-in dataset;
or a detection dataset: a YOLO data.yaml (or a folder holding one), a COCO
instances JSON (or a folder with annotations/instances_{train,val}.json), or a
Pascal VOC folder (Annotations/, JPEGImages/).

Checks that every image decodes, labels name known classes, no class folder is
empty, and reports duplicate images (same bytes) and the class balance per split
(a warning when the largest class has more than 10× the images of the smallest).
For detection data: every box lies inside its image (1e-3 tolerance) and has a
positive width and height, class ids are in range, the image size matches the
annotations, duplicate boxes (same class, IoU > 0.99), images without label
files and label files without images (YOLO), and per class the objects and the
images containing it. Nothing in the dataset is written.

Options:
  --json     print the report as JSON (dataset, format, classes, counts, duplicates, issues, ok)
  --help     show this help

Exit codes: 0 no errors (warnings allowed), 1 errors found, 2 bad usage.

Examples:
  kiln data check ./flowers
  kiln data check ./labels.csv --json > report.json
  kiln data check /usr/share/datasets/fashion-mnist
  kiln data check ./coco8/data.yaml`;

const CONVERT_HELP = `kiln data convert — convert a detection dataset to another format

Usage: kiln data convert SRC --to yolo|coco|voc --out DIR

SRC is a YOLO data.yaml (or its folder), a COCO instances JSON or folder, a
Pascal VOC folder, or "synthetic". DIR must not exist or be empty; it is written
in a temporary folder beside it and renamed when complete. Images are hard-linked
when the file system allows, else copied; splits, class names and order, images
without objects, and crowd/difficult flags are kept. A source with errors (see
kiln data check) is refused and nothing is written.

Options:
  --to FORMAT   yolo, coco or voc
  --out DIR     the new dataset's folder
  --help        show this help

Examples:
  kiln data convert ./coco8/data.yaml --to coco --out ./coco8-coco
  kiln data convert ./VOC2007 --to yolo --out ./voc-yolo
  kiln data convert synthetic --to voc --out ./shapes-voc`;

const CLASSES_HELP = `kiln data classes — list and edit the classes of a detection dataset

Usage:
  kiln data classes list DATA [--json]
  kiln data classes merge DATA --into NAME CLASS1 CLASS2 …
  kiln data classes rename DATA OLD NEW
  kiln data classes filter DATA --keep A,B,…

DATA is a YOLO data.yaml (or its folder), a COCO instances JSON or folder, or a
Pascal VOC folder. 'list' prints each class with its objects and the images that
contain it. The others rewrite the label files, the COCO JSON or the VOC XML (and
data.yaml's names and nc, class ids renumbered contiguously in the old order);
images are never touched. Every file that changes is first copied to
DATA/.kiln-backup-<time>/ (printed), then replaced atomically. A dataset with
errors (see kiln data check) is refused and nothing is written.

  merge    the objects of CLASS1 CLASS2 … become class NAME (a new name, or one
           of them, or another existing class), at the place of the first of them
  rename   OLD becomes NEW (NEW must not exist: merge instead)
  filter   keeps the objects of the listed classes only, removes the others

Examples:
  kiln data classes list ./coco8/data.yaml
  kiln data classes merge ./data.yaml --into vehicle car truck bus
  kiln data classes rename ./VOC2007 motorbike motorcycle
  kiln data classes filter ./coco --keep person,dog`;

/** The split used only to count val images when the data has none; training may split differently. */
const CHECK_LOAD_OPTIONS = { seed: 0, valRatio: 0.2, fraction: 1 };

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  options: Record<string, string>;
  flags: Set<string>;
}

/** `--key value`, `--key=value` for `valued`, bare `flags`; anything else starting with '-' is a usage error. */
function parseArgs(args: string[], valued: string[], flags: string[], command: string): Parsed {
  const out: Parsed = { positional: [], options: {}, flags: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("-") || arg === "-") { out.positional.push(arg); continue; }
    const [key, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (flags.includes(key) && inline === undefined) out.flags.add(key);
    else if (valued.includes(key)) {
      const value = inline ?? args[++i];
      if (value === undefined || value === "") throw new UsageError(`${command}: ${key} needs a value. Run '${command} --help'.`);
      out.options[key] = value;
    } else throw new UsageError(`${command}: unknown option '${arg}'. Run '${command} --help'.`);
  }
  return out;
}

/** A report for data that could not even be indexed (a missing path, a bad CSV header, a bad data.yaml). */
function failedReport(dataset: string, err: KilnError): DataReport {
  const [message, fix] = err.message.split(/\. Fix: /);
  return { dataset, format: "unknown", classes: [], counts: {}, duplicates: [], issues: [{ severity: "error", file: dataset, message, ...(fix ? { fix: fix.replace(/\.$/, "") } : {}) }], ok: false };
}

async function checkCommand(rest: string[]): Promise<number> {
  const args = parseArgs(rest, [], ["--json"], "kiln data check");
  if (args.positional.length !== 1) throw new UsageError("kiln data check: give exactly one PATH. Run 'kiln data check --help'.");
  const [spec] = args.positional;
  const json = args.flags.has("--json");
  let report: DataReport;
  try {
    report = isDetectionDataset(spec)
      ? await checkDetectionDataset(await loadDetectionDataset(spec, CHECK_LOAD_OPTIONS))
      : await checkClassificationDataset(await loadClassificationDataset(spec, CHECK_LOAD_OPTIONS));
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    if (!json) {
      console.error(`error: ${err.message}`);
      return err.exitCode;
    }
    report = failedReport(spec, err);
  }
  console.log(json ? JSON.stringify(report, null, 2) : formatDataReport(report));
  return report.ok ? 0 : 1;
}

async function convertCommand(rest: string[]): Promise<number> {
  const args = parseArgs(rest, ["--to", "--out"], [], "kiln data convert");
  const to = args.options["--to"];
  const out = args.options["--out"];
  if (args.positional.length !== 1 || !to || !out) throw new UsageError("kiln data convert: give SRC, --to FORMAT and --out DIR. Run 'kiln data convert --help'.");
  if (!DETECTION_FORMATS.includes(to as DetectionFormat)) throw new UsageError(`kiln data convert: unknown format '${to}'; use one of ${DETECTION_FORMATS.join(", ")}.`);
  const ds = await convertDetectionDataset(args.positional[0], to as DetectionFormat, out);
  const splits = Object.entries(ds.splits).map(([split, samples]) => `${split} ${samples?.length ?? 0} images (${(samples ?? []).reduce((n, s) => n + s.objects.length, 0)} objects)`);
  console.log(`Wrote ${out} (${to}) from ${ds.name} (${ds.format}): ${ds.classes.length} classes; ${splits.join(", ")}.`);
  const warnings = (ds.issues ?? []).filter((i) => i.severity === "warning").length;
  if (warnings > 0) console.log(`The source has ${warnings} warning(s): kiln data check ${args.positional[0]} lists them.`);
  return 0;
}

async function listClasses(rest: string[]): Promise<number> {
  const args = parseArgs(rest, [], ["--json"], "kiln data classes list");
  if (args.positional.length !== 1) throw new UsageError("kiln data classes list: give exactly one DATA path. Run 'kiln data classes --help'.");
  const ds = await readDetectionDataset(args.positional[0]);
  const counts = classCounts(ds);
  if (args.flags.has("--json")) {
    console.log(JSON.stringify({ dataset: ds.name, format: ds.format, classes: counts }, null, 2));
  } else {
    const width = Math.max(5, ...counts.map((c) => c.name.length));
    const lines = [`Dataset: ${ds.name} (${ds.format}), ${counts.length} classes`, "", `${"id".padStart(4)}  ${"class".padEnd(width)}  ${"objects".padStart(9)}  ${"images".padStart(8)}`];
    for (const c of counts) lines.push(`${String(c.id).padStart(4)}  ${c.name.padEnd(width)}  ${String(c.instances).padStart(9)}  ${String(c.images).padStart(8)}`);
    console.log(lines.join("\n"));
  }
  const errors = (ds.issues ?? []).filter((i) => i.severity === "error").length;
  if (errors > 0) console.error(`warning: the dataset has ${errors} error(s) and the images affected are not counted; kiln data check ${args.positional[0]} lists them.`);
  return 0;
}

function classEdit(action: string, args: Parsed): { data: string; edit: ClassEdit } {
  const usage = (text: string): UsageError => new UsageError(`kiln data classes ${action}: ${text}. Run 'kiln data classes --help'.`);
  const [data, ...names] = args.positional;
  if (!data) throw usage("give the DATA path");
  if (action === "merge") {
    const into = args.options["--into"];
    if (!into || names.length === 0) throw usage("give --into NAME and the classes to merge");
    return { data, edit: { kind: "merge", into, sources: names } };
  }
  if (action === "rename") {
    if (names.length !== 2) throw usage("give OLD and NEW");
    return { data, edit: { kind: "rename", from: names[0], to: names[1] } };
  }
  const keep = (args.options["--keep"] ?? "").split(",").map((n) => n.trim()).filter((n) => n !== "");
  if (keep.length === 0 || names.length > 0) throw usage("give --keep A,B,… (comma-separated, no other names)");
  return { data, edit: { kind: "filter", keep } };
}

async function classesCommand(rest: string[]): Promise<number> {
  const [action, ...more] = rest;
  if (action === "list") return listClasses(more);
  if (action !== "merge" && action !== "rename" && action !== "filter") {
    throw new UsageError(`kiln data classes: ${action ? `unknown action '${action}'` : "give an action"} (list, merge, rename, filter). Run 'kiln data classes --help'.`);
  }
  const valued = action === "merge" ? ["--into"] : action === "filter" ? ["--keep"] : [];
  const { data, edit } = classEdit(action, parseArgs(more, valued, [], `kiln data classes ${action}`));
  const result = await editClasses(data, edit);
  if (!result.backup) {
    console.log(`Nothing to change in ${data}: the classes stay ${result.after.join(", ")}.`);
    return 0;
  }
  console.log(`Backed up ${result.changed.length} file(s) to ${result.backup}`);
  const shown = result.changed.slice(0, 10).map((f) => `  ${f}`);
  console.log(`Rewrote ${result.changed.length} file(s):\n${shown.join("\n")}${result.changed.length > 10 ? "\n  …" : ""}`);
  console.log(`Classes: ${result.before.join(", ")}\n     now: ${result.after.map((c, i) => `${i} ${c}`).join(", ")}`);
  return 0;
}

const SUBCOMMANDS: Record<string, { run: (rest: string[]) => Promise<number>; help: string }> = {
  check: { run: checkCommand, help: CHECK_HELP },
  convert: { run: convertCommand, help: CONVERT_HELP },
  classes: { run: classesCommand, help: CLASSES_HELP },
};

/** argv: the words after `kiln data`. Returns the exit code. */
export async function dataCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const wantsHelp = argv.includes("--help") || argv.includes("-h");
  const command = sub === undefined ? undefined : SUBCOMMANDS[sub];
  if (!command) {
    if (sub === undefined || sub === "--help" || sub === "-h") {
      console.log(HELP);
      return sub === undefined ? 2 : 0;
    }
    console.error(`kiln data: unknown subcommand '${sub}'. Run 'kiln data --help'.`);
    return 2;
  }
  if (wantsHelp) {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(err.message);
    return 2;
  }
}
