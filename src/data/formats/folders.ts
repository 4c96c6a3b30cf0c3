// Class folders: ROOT/{train,val,test}/<class>/<image>, or ROOT/<class>/<image> to be split.
// Classes are the sorted folder names under train (or ROOT); files are taken in sorted order.
import path from "node:path";
import { KilnError } from "../../errors.js";
import { isDirectory, isImageFile, listSorted } from "../files.js";
import type { ClassificationDataset, DataIssue, Sample, SplitName } from "../types.js";

/** Folder names accepted for each split. */
const SPLIT_FOLDERS: Record<SplitName, readonly string[]> = {
  train: ["train"],
  val: ["val", "valid", "validation"],
  test: ["test"],
};

interface ClassFolder { name: string; files: string[] }

async function readClassFolders(dir: string, issues: DataIssue[]): Promise<ClassFolder[]> {
  const folders: ClassFolder[] = [];
  for (const entry of await listSorted(dir)) {
    if (!entry.isDir) continue;
    const classDir = path.join(dir, entry.name);
    const files: string[] = [];
    for (const file of await listSorted(classDir)) {
      const full = path.join(classDir, file.name);
      if (file.isDir) continue;
      if (isImageFile(file.name)) files.push(full);
      else issues.push({ severity: "warning", file: full, message: "skipped: not an image file extension", fix: "move files that are not images out of the class folders" });
    }
    if (files.length === 0) {
      issues.push({ severity: "error", file: classDir, message: `class folder '${entry.name}' has no images`, fix: "add images to it or delete the folder" });
    }
    folders.push({ name: entry.name, files });
  }
  return folders;
}

function samplesOf(folders: ClassFolder[], classes: string[], split: string, dir: string, issues: DataIssue[]): Sample[] {
  const samples: Sample[] = [];
  for (const folder of folders) {
    const label = classes.indexOf(folder.name);
    if (label < 0) {
      issues.push({
        severity: "error", file: path.join(dir, folder.name),
        message: `class '${folder.name}' in ${split} has no folder in train`, fix: `add ${path.join("train", folder.name)} or rename the folder to a train class`,
      });
      continue;
    }
    for (const file of folder.files) samples.push({ source: { kind: "file", path: file }, label });
  }
  return samples;
}

async function findSplitFolder(root: string, split: SplitName): Promise<string | null> {
  for (const name of SPLIT_FOLDERS[split]) {
    if (await isDirectory(path.join(root, name))) return path.join(root, name);
  }
  return null;
}

export async function readFolders(root: string): Promise<ClassificationDataset> {
  const issues: DataIssue[] = [];
  const trainDir = (await findSplitFolder(root, "train")) ?? root;
  const trainFolders = await readClassFolders(trainDir, issues);
  if (trainFolders.length === 0) {
    throw new KilnError(`no class folders in ${trainDir}. Fix: put each class's images in a folder named after the class (${path.join(trainDir, "<class>", "<image>")}).`);
  }
  const classes = trainFolders.map((f) => f.name);
  const splits: ClassificationDataset["splits"] = { train: samplesOf(trainFolders, classes, "train", trainDir, issues) };
  if (trainDir !== root) {
    for (const split of ["val", "test"] as const) {
      const dir = await findSplitFolder(root, split);
      if (dir) splits[split] = samplesOf(await readClassFolders(dir, issues), classes, split, dir, issues);
    }
  }
  return { name: root, format: "folders", classes, splits, channels: 3, issues };
}
