// Class edits on Pascal VOC data: each annotation file's <object> names changed, or the
// objects of removed classes deleted (parts, attributes and comments kept; the file is
// re-indented), and classes.txt rewritten when there is one.
import { readFile } from "node:fs/promises";
import { findVocFiles } from "../formats/voc.js";
import { orderedBuilder, orderedParser } from "../formats/xml.js";
import type { ClassPlan } from "../classes.js";
import type { FileChange } from "./apply.js";

/** A node of fast-xml-parser's ordered tree: { tag: children[], ":@"?: attributes } or { "#text": value }. */
type XmlNode = Record<string, unknown>;

const tagOf = (node: XmlNode): string | undefined => Object.keys(node).find((k) => k !== ":@");
const children = (node: XmlNode): XmlNode[] => {
  const tag = tagOf(node);
  const value = tag ? node[tag] : undefined;
  return Array.isArray(value) ? (value as XmlNode[]) : [];
};
const textOf = (node: XmlNode): string => children(node).map((c) => String(c["#text"] ?? "")).join("").trim();

/** The file's new text, or undefined when no object changes. */
export function relabelVoc(xml: string, rename: (name: string) => string | null): string | undefined {
  const tree = orderedParser.parse(xml) as XmlNode[];
  let changed = false;
  for (const top of tree) {
    if (tagOf(top) !== "annotation") continue;
    const kids = children(top);
    for (let i = kids.length - 1; i >= 0; i--) {
      if (tagOf(kids[i]) !== "object") continue;
      const nameNode = children(kids[i]).find((c) => tagOf(c) === "name");
      if (!nameNode) continue;
      const next = rename(textOf(nameNode));
      if (next === null) {
        kids.splice(i, 1);
        changed = true;
      } else if (next !== textOf(nameNode)) {
        nameNode.name = [{ "#text": next }];
        changed = true;
      }
    }
  }
  return changed ? `${(orderedBuilder.build(tree) as string).trim()}\n` : undefined;
}

export async function vocChanges(root: string, oldClasses: string[], plan: ClassPlan): Promise<FileChange[]> {
  const layout = await findVocFiles(root);
  const newName = new Map(oldClasses.map((c, i) => [c, plan.map[i] >= 0 ? plan.classes[plan.map[i]] : null]));
  const changes: FileChange[] = [];
  for (const file of layout.xmls) {
    const next = relabelVoc(await readFile(file, "utf8"), (name) => (newName.has(name) ? (newName.get(name) as string | null) : name));
    if (next !== undefined) changes.push({ path: file, content: next });
  }
  if (layout.classesFile) {
    const content = plan.classes.map((c) => `${c}\n`).join("");
    if (content !== (await readFile(layout.classesFile, "utf8"))) changes.push({ path: layout.classesFile, content });
  }
  return changes;
}
