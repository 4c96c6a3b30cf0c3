// Where a JSON text first goes wrong, for error messages: V8's own message
// gives no position for some errors ("Unexpected token ']'") and quotes the
// text around it instead. Only run after JSON.parse has failed.

export interface JsonSyntaxError {
  line: number;
  column: number;
  /** What the text should have held there. */
  expected: string;
}

class Fail extends Error {
  constructor(readonly pos: number, readonly expected: string) {
    super(expected);
  }
}

/** The first syntax error of `text`, or null when it is valid JSON. */
export function findJsonError(text: string): JsonSyntaxError | null {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else throw new Fail(i, "a value");
  };
  const string = (): void => {
    i++; // the opening quote
    for (;;) {
      if (i >= text.length) throw new Fail(i, "the end of a string (\")");
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c < 32) throw new Fail(i, "no control character inside a string");
      i += c === 92 ? 2 : 1;
    }
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) throw new Fail(i, "a value");
    i += m[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new Fail(i, "a property name in double quotes");
        string();
        ws();
        if (text[i] !== ":") throw new Fail(i, "':'");
        i++;
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return;
        } else throw new Fail(i, "',' or '}'");
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return;
        } else throw new Fail(i, "',' or ']'");
      }
    } else if (c === '"') string();
    else if (c === "t") literal("true");
    else if (c === "f") literal("false");
    else if (c === "n") literal("null");
    else number();
  };
  try {
    value();
    ws();
    if (i < text.length) throw new Fail(i, "the end of the file");
    return null;
  } catch (err) {
    if (!(err instanceof Fail)) return null; // too deeply nested to check: no position
    let line = 1;
    let lineStart = 0;
    for (let j = 0; j < err.pos && j < text.length; j++) {
      if (text.charCodeAt(j) === 10) {
        line++;
        lineStart = j + 1;
      }
    }
    return { line, column: err.pos - lineStart + 1, expected: err.pos >= text.length ? `${err.expected}, but the file ends` : err.expected };
  }
}
