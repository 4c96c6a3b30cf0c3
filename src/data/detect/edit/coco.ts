// Class edits on COCO data: in every instances file, the categories renamed, merged
// (the merged class keeps the category id of its first member) or removed, and the
// annotations pointed at the kept id or removed. Category ids are not renumbered: COCO
// ids need not be contiguous, and kiln's class order (sorted ids) stays the plan's order.
import { cocoText } from "../write/coco.js";
import { findCocoFiles, parseCocoFile, readCategories } from "../formats/coco.js";
import type { ClassPlan } from "../classes.js";
import type { FileChange } from "./apply.js";

type Obj = Record<string, unknown>;

export async function cocoChanges(spec: string, plan: ClassPlan): Promise<{ root: string; changes: FileChange[] }> {
  const { root, files } = await findCocoFiles(spec);
  const parsed = await Promise.all(files.map(async (f) => ({ file: f.json, ...(await parseCocoFile(f.json)) })));
  const ids = [...readCategories(parsed).keys()].sort((a, b) => a - b);
  // New class j keeps the category id of the first old class mapped to it.
  const keptId = new Map<number, number>();
  plan.map.forEach((j, i) => { if (j >= 0 && !keptId.has(j)) keptId.set(j, ids[i]); });
  const newIdOf = new Map<number, number | undefined>(ids.map((id, i) => [id, plan.map[i] >= 0 ? keptId.get(plan.map[i]) : undefined]));
  const nameOf = new Map([...keptId].map(([j, id]) => [id, plan.classes[j]]));
  const changes: FileChange[] = [];
  for (const { file, text, data } of parsed) {
    const doc = JSON.parse(text) as Obj;
    doc.categories = data.categories.filter((c) => nameOf.has((c as Obj).id as number)).map((c) => ({ ...(c as Obj), name: nameOf.get((c as Obj).id as number) }));
    if (Array.isArray(doc.annotations)) {
      doc.annotations = (doc.annotations as Obj[])
        .filter((a) => newIdOf.get(a.category_id as number) !== undefined)
        .map((a) => ({ ...a, category_id: newIdOf.get(a.category_id as number) }));
    }
    const next = cocoText(doc);
    if (JSON.stringify(doc) !== JSON.stringify(JSON.parse(text))) changes.push({ path: file, content: next });
  }
  return { root, changes };
}
