// `kiln data check PATH [--json]`: the same checks training runs first, as a report.
import { checkClassificationDataset, formatDataReport, type DataReport } from "../../data/check.js";
import { loadClassificationDataset } from "../../data/load.js";
import { KilnError } from "../../errors.js";

const HELP = `kiln data check — check a dataset before training on it

Usage: kiln data check PATH [--json]

PATH is a folder of class folders (train/ val/ [test/] of <class>/<image>, or
<class>/<image> to be split), a CSV index (path,label[,split]), a folder of IDX
files (MNIST, Fashion-MNIST), or "synthetic" for the built-in dataset.

Checks that every image decodes, labels name known classes, no class folder is
empty, and reports duplicate images (same bytes) and the class balance per split
(a warning when the largest class has more than 10× the images of the smallest).
Nothing in the dataset is written.

Options:
  --json     print the report as JSON (dataset, format, classes, counts, duplicates, issues, ok)
  --help     show this help

Exit codes: 0 no errors (warnings allowed), 1 errors found, 2 bad usage.

Examples:
  kiln data check ./flowers
  kiln data check ./labels.csv --json > report.json
  kiln data check /usr/share/datasets/fashion-mnist`;

/** The split used only to count val images when the data has none; training may split differently. */
const CHECK_LOAD_OPTIONS = { seed: 0, valRatio: 0.2, fraction: 1 };

/** A report for data that could not even be indexed (a missing path, a bad CSV header). */
function failedReport(dataset: string, err: KilnError): DataReport {
  const [message, fix] = err.message.split(/\. Fix: /);
  return { dataset, format: "unknown", classes: [], counts: {}, duplicates: [], issues: [{ severity: "error", file: dataset, message, ...(fix ? { fix: fix.replace(/\.$/, "") } : {}) }], ok: false };
}

/** argv: the words after `kiln data`. Returns the exit code. */
export async function dataCommand(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h") || argv.length === 0) {
    console.log(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  const [sub, ...rest] = argv;
  if (sub !== "check") {
    console.error(`kiln data: unknown subcommand '${sub}'. Run 'kiln data --help'.`);
    return 2;
  }
  const unknown = rest.filter((a) => a.startsWith("-") && a !== "--json");
  const paths = rest.filter((a) => !a.startsWith("-"));
  if (unknown.length > 0 || paths.length !== 1) {
    console.error(unknown.length > 0 ? `kiln data check: unknown option '${unknown[0]}'. Run 'kiln data check --help'.` : "kiln data check: give exactly one PATH. Run 'kiln data check --help'.");
    return 2;
  }
  const json = rest.includes("--json");
  let report: DataReport;
  try {
    report = await checkClassificationDataset(await loadClassificationDataset(paths[0], CHECK_LOAD_OPTIONS));
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    if (!json) {
      console.error(`error: ${err.message}`);
      return err.exitCode;
    }
    report = failedReport(paths[0], err);
  }
  console.log(json ? JSON.stringify(report, null, 2) : formatDataReport(report));
  return report.ok ? 0 : 1;
}
