// `kiln ui [--logdir runs] [--port 6006] [--host H]`: serves the dashboard until Ctrl-C.
import { existsSync, statSync } from "node:fs";
import { parseArgs } from "../../config/index.js";
import { KilnError } from "../../errors.js";
import { DEFAULT_LOGDIR } from "../../runs/discover.js";
import { isLoopbackHost } from "../../ui/safety.js";
import { DEFAULT_HOST, DEFAULT_PORT, startUiServer } from "../../ui/server.js";

export const UI_HELP = `kiln ui — a local dashboard to watch, inspect and compare runs live

Usage: kiln ui [--logdir DIR] [--port N] [--host H]

Serves a page listing every run under DIR (what 'kiln runs' lists; sortable,
filterable, live), each run's curves gaining points while it trains, its
per-epoch table, config, confusion matrix or PR/F1 curves and per-class AP,
images and files, and a comparison of the selected runs against a baseline
with the verdict 'kiln compare' gives. It only reads the run directories.

  --logdir DIR   where the runs are (default ${DEFAULT_LOGDIR}; a task folder such as runs/classify works too)
  --port N       the port (default ${DEFAULT_PORT}; 0 picks a free one)
  --host H       the address to listen on (default ${DEFAULT_HOST}, this machine only). Another address
                 lets other machines read every run: kiln prints a warning

Examples:
  kiln ui
  kiln ui --logdir /data/experiments/runs --port 6007
  kiln ui --host 0.0.0.0            # reachable from the network: only on a network you trust`;

const OPTIONS = ["logdir", "project", "port", "host", "help"];

export async function uiCommand(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(argv, (k) => ["logdir", "project", "port", "host"].includes(k));
  if (options.has("help")) {
    console.log(UI_HELP);
    return 0;
  }
  for (const key of options.keys()) if (!OPTIONS.includes(key)) throw new KilnError(`unknown option '${key}' for kiln ui. Allowed: --logdir, --port, --host. Run 'kiln ui --help'.`, 2);
  if (positionals.length) throw new KilnError(`kiln ui takes no arguments (got ${positionals.join(" ")}). Fix: kiln ui --logdir ${positionals[0]}.`, 2);
  const logdir = options.get("logdir") ?? options.get("project") ?? DEFAULT_LOGDIR;
  if (typeof logdir !== "string") throw new KilnError("--logdir needs a folder: --logdir DIR.", 2);
  if (!existsSync(logdir) || !statSync(logdir).isDirectory()) {
    throw new KilnError(`the log folder ${logdir} does not exist. Fix: train a run first (kiln train), or give the folder that holds the runs with --logdir.`, 2);
  }
  const portText = options.get("port") ?? String(DEFAULT_PORT);
  const port = Number(portText);
  if (typeof portText !== "string" || !/^\d+$/.test(portText) || port > 65535) throw new KilnError(`invalid value for 'port': ${String(portText)}. Allowed: a whole number from 0 to 65535, e.g. --port ${DEFAULT_PORT}.`, 2);
  const host = options.get("host") ?? DEFAULT_HOST;
  if (typeof host !== "string" || host.trim() === "") throw new KilnError("--host needs an address: --host 127.0.0.1.", 2);
  if (!isLoopbackHost(host)) {
    console.error(`kiln ui: warning: listening on ${host}, not only on this machine: anyone who can reach ${host}:${port} can read every run under ${logdir} (configs, metrics, weights). Use --host 127.0.0.1 unless this network is trusted.`);
  }
  const server = await startUiServer({ logdir, host, port });
  console.log(`kiln ui: serving ${logdir} at ${server.url}  (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await server.close();
  return 0;
}
