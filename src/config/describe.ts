// Reads the schema back as plain facts (type, range, choices, default) for
// error messages and `--help`, through zod's JSON Schema export.
import { z } from "zod";
import { trainConfigSchema, type TrainConfig } from "./schema.js";

interface JsonSchemaProperty {
  type?: string | string[];
  enum?: unknown[];
  anyOf?: JsonSchemaProperty[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
  description?: string;
}

let properties: Record<string, JsonSchemaProperty> | undefined;

function propertyOf(key: string): JsonSchemaProperty {
  properties ??= (z.toJSONSchema(trainConfigSchema, { io: "input" }) as { properties: Record<string, JsonSchemaProperty> }).properties;
  const p = properties[key];
  if (p === undefined) throw new Error(`kiln: no option named ${key} in the schema`);
  return p;
}

function typesOf(p: JsonSchemaProperty): string[] {
  if (p.anyOf) return p.anyOf.flatMap(typesOf);
  return p.type === undefined ? [] : Array.isArray(p.type) ? p.type : [p.type];
}

/** The JSON types an option accepts ("boolean", "string", "number", "integer"). */
export function optionTypes(key: string): string[] {
  return typesOf(propertyOf(key));
}

/** What an option accepts, in words: "an integer from 1 to 4096", "one of: SGD, Adam". */
export function describeAllowed(key: string): string {
  const p = propertyOf(key);
  if (p.enum) return `one of: ${p.enum.join(", ")}`;
  const types = typesOf(p);
  const numeric = types.find((t) => t === "integer" || t === "number");
  if (numeric) {
    const noun = numeric === "integer" ? "an integer" : "a number";
    const lo = p.minimum !== undefined ? `≥ ${p.minimum}` : p.exclusiveMinimum !== undefined ? `> ${p.exclusiveMinimum}` : "";
    const hi = p.maximum !== undefined ? `≤ ${p.maximum}` : p.exclusiveMaximum !== undefined ? `< ${p.exclusiveMaximum}` : "";
    return [noun, [lo, hi].filter(Boolean).join(" and ")].filter(Boolean).join(" ");
  }
  if (types.includes("boolean") && types.includes("string")) return "true, false or a path";
  if (types.includes("boolean")) return "true or false";
  return "a non-empty text";
}

/** A short type label for `--help`: int, float, bool, text, or the choices. */
export function typeLabel(key: string): string {
  const p = propertyOf(key);
  if (p.enum) return p.enum.join("|");
  const types = typesOf(p);
  if (types.includes("integer")) return "int";
  if (types.includes("number")) return "float";
  if (types.includes("boolean") && types.includes("string")) return "bool|path";
  if (types.includes("boolean")) return "bool";
  return "text";
}

export function descriptionOf(key: keyof TrainConfig): string {
  return propertyOf(key).description ?? "";
}

/** The defaults of every option (optional ones without a default are absent). */
export function trainDefaults(): TrainConfig {
  return trainConfigSchema.parse({});
}
