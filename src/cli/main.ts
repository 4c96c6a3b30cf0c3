// The kiln command line. Each command parses, validates and calls the library.
import { kernels, nativeLoadError } from "../engine/backend.js";

const HELP = `kiln — train, evaluate and export vision models on the CPU

Usage: kiln <command> [options]

Commands:
  info        show the compute backend kiln will use (native kernels, ISA, threads)

Run 'kiln <command> --help' for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(HELP);
    return 0;
  }
  if (command === "info") {
    const info = kernels().info();
    console.log(`backend: ${info.name}\nisa: ${info.isa}\nthreads: ${info.threads}`);
    const err = nativeLoadError();
    if (err) console.log(`native addon: not loaded (${err})`);
    return 0;
  }
  console.error(`kiln: unknown command '${command}'. Run 'kiln --help' for the list.`);
  return 2;
}
