// A minimal SVG builder. Markup is a branded string that only this module
// makes, and an element's children must be Markup: plain text reaches the
// document only through `textNode` (or `text`), which escapes it, so a class
// named `<a&b>` cannot break the file. Strings rather than a DOM keep a
// 100×100 heatmap fast to build.

/** SVG markup, already escaped. */
export type Markup = string & { readonly __markup: true };

/** Attribute values; strings are escaped, numbers rounded (see `fmt`), undefined left out. */
export type Attrs = Record<string, string | number | undefined>;

export const FONT_FAMILY = "DejaVu Sans, Arial, sans-serif";

const XML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/** Escapes text for element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);
}

/** Coordinates to 2 decimals: finer is invisible and makes the files larger. */
export function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function attrText(attrs: Attrs): string {
  let out = "";
  for (const k in attrs) {
    const v = attrs[k];
    if (v === undefined) continue;
    out += ` ${k}="${typeof v === "number" ? fmt(v) : escapeXml(v)}"`;
  }
  return out;
}

/** An element with nested elements. */
export function el(tag: string, attrs: Attrs = {}, ...children: Markup[]): Markup {
  const open = `<${tag}${attrText(attrs)}`;
  return (children.length === 0 ? `${open}/>` : `${open}>${children.join("")}</${tag}>`) as Markup;
}

/** Text content, escaped. */
export function textNode(content: string): Markup {
  return escapeXml(content) as Markup;
}

/** A text element at (x, y). */
export function text(x: number, y: number, content: string, attrs: Attrs = {}): Markup {
  return el("text", { x, y, ...attrs }, textNode(content));
}

/** Concatenates elements. */
export function group(parts: readonly Markup[]): Markup {
  return parts.join("") as Markup;
}

/** A whole document with a white background and kiln's font. */
export function svgDocument(width: number, height: number, body: Markup): Markup {
  const w = Math.round(width);
  const h = Math.round(height);
  return el(
    "svg",
    { xmlns: "http://www.w3.org/2000/svg", width: w, height: h, viewBox: `0 0 ${w} ${h}`, "font-family": FONT_FAMILY },
    el("rect", { width: w, height: h, fill: "white" }),
    body,
  );
}
