// Command-line words to raw option values. Accepts Ultralytics' `key=value`
// and the usual `--key value`, `--key=value`, `--flag`; dashes in names are
// read as underscores (`--exist-ok` is `exist_ok`). Values stay text here:
// the config layer types them against the schema.

export interface ParsedArgs {
  /** Options in the order given; a bare `--flag` has the value `true`. */
  options: Map<string, string | true>;
  /** Words that are neither options nor their values. */
  positionals: string[];
}

/**
 * @param takesValue whether `--key` may take the next word as its value
 *   (false for pure flags such as `--yes` and `--json`, so `--yes epochs=3` works)
 */
export function parseArgs(argv: readonly string[], takesValue: (key: string) => boolean): ParsedArgs {
  const options = new Map<string, string | true>();
  const positionals: string[] = [];
  const norm = (k: string): string => k.replace(/-/g, "_");
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word.startsWith("--") && word.length > 2) {
      const eq = word.indexOf("=");
      if (eq > 0) {
        options.set(norm(word.slice(2, eq)), word.slice(eq + 1));
        continue;
      }
      const key = norm(word.slice(2));
      const next = argv[i + 1];
      const nextIsValue = next !== undefined && !/^--?[A-Za-z]/.test(next) && !/^[A-Za-z_][\w-]*=/.test(next);
      if (nextIsValue && (takesValue(key) || next === "true" || next === "false")) {
        options.set(key, next);
        i++;
      } else {
        options.set(key, true);
      }
    } else if (word === "-h") {
      options.set("help", true);
    } else if (/^[A-Za-z_][\w-]*=/.test(word)) {
      const eq = word.indexOf("=");
      options.set(norm(word.slice(0, eq)), word.slice(eq + 1));
    } else {
      positionals.push(word);
    }
  }
  return { options, positionals };
}
