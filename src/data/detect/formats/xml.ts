// The XML settings Pascal VOC reading and editing share (fast-xml-parser). Values stay
// text (no number guessing, so "007" stays "007"); `object` is always a list.
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";

/** The first well-formedness error, with its line, or undefined for good XML. */
export function xmlError(text: string): { line: number; reason: string } | undefined {
  if (text.trim() === "") return { line: 1, reason: "the file is empty" };
  const result = XMLValidator.validate(text);
  return result === true ? undefined : { line: result.err.line || 1, reason: result.err.msg };
}

/** A parser for reading: plain objects, every `annotation.object` an array. */
export const readParser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (_name, jpath) => jpath === "annotation.object",
});

/** A parser and builder that keep element order and comments, for rewriting a file. */
const ORDERED = { ignoreAttributes: false, preserveOrder: true, commentPropName: "#comment", parseTagValue: false, trimValues: true } as const;
export const orderedParser = new XMLParser(ORDERED);
export const orderedBuilder = new XMLBuilder({ ...ORDERED, format: true, indentBy: "\t", suppressEmptyNode: false });

/** The 1-based line where the `index`-th (0-based) `<tag>` element starts, or 1. */
export function lineOfElement(text: string, tag: string, index: number): number {
  const re = new RegExp(`<${tag}[\\s>/]`, "g");
  let match: RegExpExecArray | null = null;
  for (let i = 0; i <= index; i++) if (!(match = re.exec(text))) return 1;
  let line = 1;
  for (let i = 0; i < (match?.index ?? 0); i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
