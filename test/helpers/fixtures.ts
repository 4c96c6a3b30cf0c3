// Reads the PyTorch fixtures that test/fixtures/generate.py writes: one
// safetensors file per group, each case's tensors named "<case>.<role>.<name>"
// and its description a JSON string in the header's metadata.
import { fileURLToPath } from "node:url";
import { readSafetensorsSync, toFloat32, type SafetensorsContents, type StoredTensor } from "../../src/io/safetensors.js";

/** test/fixtures/ in the source tree (the compiled tests run from dist/test/). */
export const FIXTURES_DIR = fileURLToPath(new URL("../../../test/fixtures/", import.meta.url));

/** A stored tensor's float32 values and shape. */
export interface FixtureTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export class FixtureFile {
  private readonly contents: SafetensorsContents;

  /** `group` is the file's base name: "ops", "blocks" or "training". */
  constructor(readonly group: string) {
    this.contents = readSafetensorsSync(`${FIXTURES_DIR}${group}.safetensors`);
  }

  /** The case names, sorted. */
  cases(): string[] {
    return Object.keys(this.contents.metadata).sort();
  }

  /** A case's description (what generate.py recorded for it). */
  meta<T>(caseName: string): T {
    const text = this.contents.metadata[caseName];
    if (text === undefined) throw new Error(`${this.group}.safetensors has no case "${caseName}"`);
    return JSON.parse(text) as T;
  }

  has(name: string): boolean {
    return this.contents.tensors.has(name);
  }

  /** True for integer tensors (class targets, num_batches_tracked). */
  isInteger(name: string): boolean {
    return /^[IU]/.test(this.stored(name).dtype);
  }

  /** The float32 values of a tensor (integers converted exactly: they are small). */
  tensor(name: string): FixtureTensor {
    const stored = this.stored(name);
    return { shape: stored.shape, data: toFloat32(stored, name) };
  }

  /** An integer tensor (class targets) as Int32Array. */
  ints(name: string): Int32Array {
    return Int32Array.from(this.tensor(name).data);
  }

  private stored(name: string): StoredTensor {
    const stored = this.contents.tensors.get(name);
    if (!stored) throw new Error(`${this.group}.safetensors has no tensor "${name}" (regenerate with \`npm run fixtures\`)`);
    return stored;
  }

  /** Names under a prefix, with the prefix removed: `names("basic_block.state.")` → ["bn1.bias", …]. */
  names(prefix: string): string[] {
    return [...this.contents.tensors.keys()].filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)).sort();
  }
}
