/**
 * The agent's XML, as the stand-in data server reads it: a small strict XML reader (elements,
 * attributes in either quote, text, CDATA, comments, processing instructions, the five named
 * entities and numeric character references) and the agent data it carries:
 *
 *   <agent_data agent_name=… timestamp=… interval=… version=… os_name=… os_version=… …>
 *     <module><name/><type/><data/>…</module>…
 *   </agent_data>
 *
 * Anything malformed (an unclosed or mismatched tag, a bad attribute, text outside the root, an
 * empty file) throws: the consumer then retries once and renames the file `<file>_BADXML`. A
 * well-formed file whose root is not `agent_data` or has no `agent_name` is not an error here
 * (the consumer logs it and stores nothing). Pure functions.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (CDATA included), children's excluded. */
  text: string;
}

export interface AgentModule {
  name: string;
  type: string | undefined;
  /** The module's `<data>`, undefined when it has none. */
  data: string | undefined;
  description: string | undefined;
}

export interface AgentData {
  agentName: string | undefined;
  /** Every attribute of <agent_data> (timestamp, interval, version, os_name, os_version, address, …). */
  attrs: Record<string, string>;
  modules: AgentModule[];
}

const NAMED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;

function decodeEntities(s: string, at: number): string {
  return s.replace(/&([^;&\s]*);?/g, (whole, ent: string) => {
    if (!whole.endsWith(";")) throw new Error(`bad XML near offset ${at}: '&' not starting an entity`);
    if (ent in NAMED) return NAMED[ent];
    const m = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(ent);
    if (!m) throw new Error(`bad XML near offset ${at}: unknown entity &${ent};`);
    const code = m[1].startsWith("x") ? parseInt(m[1].slice(1), 16) : parseInt(m[1], 10);
    if (code > 0x10ffff) throw new Error(`bad XML near offset ${at}: character reference out of range`);
    return String.fromCodePoint(code);
  });
}

function readName(s: string, i: number): string {
  NAME.lastIndex = i;
  const m = NAME.exec(s);
  if (!m) throw new Error(`bad XML at offset ${i}: a name was expected`);
  return m[0];
}

/** Parses a start tag from `i` (just after '<'); returns the element and where it ends. */
function startTag(s: string, i: number): { el: XmlElement; end: number; selfClosing: boolean } {
  const name = readName(s, i);
  let p = i + name.length;
  const attrs: Record<string, string> = {};
  for (;;) {
    const ws = /\s*/y;
    ws.lastIndex = p;
    const blanks = ws.exec(s)![0].length;
    p += blanks;
    if (s.startsWith("/>", p)) return { el: { name, attrs, children: [], text: "" }, end: p + 2, selfClosing: true };
    if (s[p] === ">") return { el: { name, attrs, children: [], text: "" }, end: p + 1, selfClosing: false };
    if (p >= s.length) throw new Error(`bad XML: <${name}> is not closed`);
    if (!blanks) throw new Error(`bad XML at offset ${p}: blank expected before an attribute`);
    const attr = readName(s, p);
    p += attr.length;
    const eq = /\s*=\s*(["'])/y;
    eq.lastIndex = p;
    const m = eq.exec(s);
    if (!m) throw new Error(`bad XML at offset ${p}: attribute ${attr} has no quoted value`);
    const close = s.indexOf(m[1], eq.lastIndex);
    if (close < 0) throw new Error(`bad XML at offset ${p}: attribute ${attr} is not closed`);
    const raw = s.slice(eq.lastIndex, close);
    if (raw.includes("<")) throw new Error(`bad XML at offset ${p}: '<' in attribute ${attr}`);
    if (attr in attrs) throw new Error(`bad XML at offset ${p}: attribute ${attr} given twice`);
    attrs[attr] = decodeEntities(raw, p);
    p = close + 1;
  }
}

/** Skips a markup that is not an element (`<?…?>`, `<!--…-->`, `<!DOCTYPE …>`); returns its end, or -1. */
function skipMarkup(s: string, i: number): number {
  for (const [open, close] of [["<?", "?>"], ["<!--", "-->"], ["<!DOCTYPE", ">"]]) {
    if (!s.startsWith(open, i)) continue;
    const e = s.indexOf(close, i + open.length);
    if (e < 0) throw new Error(`bad XML at offset ${i}: ${open} is not closed`);
    return e + close.length;
  }
  return -1;
}

/** Parses a whole document; returns its root element. */
export function parseXml(s: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = s.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < s.length) {
    const lt = s.indexOf("<", i);
    const text = s.slice(i, lt < 0 ? s.length : lt);
    if (text) {
      if (stack.length) stack[stack.length - 1].text += decodeEntities(text, i);
      else if (text.trim()) throw new Error(`bad XML at offset ${i}: text outside the root element`);
    }
    if (lt < 0) break;
    i = lt;
    const skipped = skipMarkup(s, i);
    if (skipped >= 0) {
      i = skipped;
      continue;
    }
    if (s.startsWith("<![CDATA[", i)) {
      const e = s.indexOf("]]>", i);
      if (e < 0 || !stack.length) throw new Error(`bad XML at offset ${i}: CDATA not closed or outside the root`);
      stack[stack.length - 1].text += s.slice(i + 9, e);
      i = e + 3;
      continue;
    }
    if (s.startsWith("</", i)) {
      const name = readName(s, i + 2);
      const gt = /\s*>/y;
      gt.lastIndex = i + 2 + name.length;
      if (!gt.exec(s)) throw new Error(`bad XML at offset ${i}: </${name} is not closed`);
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`bad XML at offset ${i}: </${name}> closes ${open ? `<${open.name}>` : "nothing"}`);
      i = gt.lastIndex;
      continue;
    }
    if (root && !stack.length) throw new Error(`bad XML at offset ${i}: a second root element`);
    const { el, end, selfClosing } = startTag(s, i + 1);
    if (stack.length) stack[stack.length - 1].children.push(el);
    else root = el;
    if (!selfClosing) stack.push(el);
    i = end;
  }
  if (stack.length) throw new Error(`bad XML: <${stack[stack.length - 1].name}> is not closed`);
  if (!root) throw new Error("bad XML: no element (an empty or truncated file)");
  return root;
}

/** The text of the first child named `name` (trimmed), or undefined. */
function childText(el: XmlElement, name: string): string | undefined {
  const c = el.children.find((x) => x.name === name);
  return c === undefined ? undefined : c.text.trim();
}

/** The agent data of a file's text; throws when the XML is malformed. */
export function parseAgentData(text: string): AgentData {
  const root = parseXml(text);
  if (root.name !== "agent_data") return { agentName: undefined, attrs: root.attrs, modules: [] };
  const agentName = root.attrs.agent_name?.trim() || undefined;
  const modules = root.children
    .filter((c) => c.name === "module")
    .map((m) => ({ name: childText(m, "name") ?? "", type: childText(m, "type"), data: childText(m, "data"), description: childText(m, "description") }));
  return { agentName, attrs: root.attrs, modules };
}
