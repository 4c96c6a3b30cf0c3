// Line numbers for JSON, which JSON.parse does not keep: where a syntax error is, and
// where each element of a top-level array starts, so a COCO message can say file:line.

/** The 1-based line and column of a character offset. */
export function lineColAt(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: offset - start + 1 };
}

/** JSON.parse, or the syntax error's line (V8 gives an offset: "at position N", or "(line L column C)"). */
export function parseJsonWithLine(text: string): { value: unknown } | { line: number; reason: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    const message = (err as Error).message;
    const lc = /\(line (\d+) column \d+\)/.exec(message);
    const pos = /at position (\d+)/.exec(message);
    const line = lc ? Number(lc[1]) : pos ? lineColAt(text, Number(pos[1])).line : 1;
    return { line, reason: message.replace(/ in JSON at position \d+.*$/, "").replace(/\s*\(line \d+ column \d+\)$/, "") };
  }
}

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

/**
 * The start line of each element of the array under top-level key `key`, found with one
 * scan that skips strings and nested values; [] when the text has no such array.
 */
export function arrayElementLines(text: string, key: string): number[] {
  let pos = 0;
  let line = 1;
  const advance = (): void => {
    if (text.charCodeAt(pos) === 10) line++;
    pos++;
  };
  const skipSpace = (): void => { while (pos < text.length && isSpace(text.charCodeAt(pos))) advance(); };
  const skipString = (): string => {
    const start = pos;
    advance();
    while (pos < text.length && text[pos] !== '"') {
      if (text[pos] === "\\") advance();
      advance();
    }
    advance();
    return text.slice(start, pos);
  };
  const skipValue = (): void => {
    skipSpace();
    if (text[pos] === '"') { skipString(); return; }
    if (text[pos] !== "{" && text[pos] !== "[") {
      while (pos < text.length && !",}]".includes(text[pos]) && !isSpace(text.charCodeAt(pos))) advance();
      return;
    }
    let depth = 0;
    do {
      const c = text[pos];
      if (c === '"') { skipString(); continue; }
      if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") depth--;
      advance();
    } while (depth > 0 && pos < text.length);
  };
  skipSpace();
  if (text[pos] !== "{") return [];
  advance();
  while (pos < text.length) {
    skipSpace();
    if (text[pos] !== '"') return [];
    let name: unknown;
    try {
      name = JSON.parse(skipString());
    } catch {
      return [];
    }
    skipSpace();
    advance(); // the colon
    skipSpace();
    if (name === key && text[pos] === "[") {
      const lines: number[] = [];
      advance();
      for (;;) {
        skipSpace();
        if (text[pos] === "]" || pos >= text.length) return lines;
        lines.push(line);
        skipValue();
        skipSpace();
        if (text[pos] === ",") advance();
      }
    }
    skipValue();
    skipSpace();
    if (text[pos] !== ",") return [];
    advance();
  }
  return [];
}
