#!/usr/bin/env node
// The `kiln` command: a thin launcher for the compiled CLI.
import("../dist/src/cli/main.js").then((m) => m.main(process.argv.slice(2))).then(
  (code) => { process.exitCode = code ?? 0; },
  (err) => { console.error(err); process.exitCode = 1; },
);
