/**
 * MariaDB row events decoded in JS, as the BINLOG statements of mariadb-binlog's default output
 * carry them (each event base64-encoded whole: common header, body, checksum). The split-brain
 * merge's fast way of reading a node's diverged rows: a fifth of what `-v` prints, no line per
 * value, and exact values (a double as its 8 bytes, text as its bytes: nothing printed
 * ambiguously). What this does not decode — compressed or encrypted events, rare column types
 * (TIME, TIMESTAMP, BIT, spatial, pre-5.6 temporal), text in a character set other than UTF-8 —
 * is BinlogUnsupported: the merge then reads the tail through `mariadb-binlog -v` instead.
 */

/** Something the decoder does not decode (the merge falls back to `mariadb-binlog -v`). */
export class BinlogUnsupported extends Error {}

/** A column as the node's information_schema describes it (binlog images do not say). */
export interface BinlogColumn {
  name: string;
  unsigned: boolean;
  /** CHARACTER_SET_NAME: null or undefined for binary and non-text columns. */
  charset?: string | null;
}

/** What a TABLE_MAP event says of a table: its columns' types and their metadata bytes. */
export interface TableMap {
  db: string;
  table: string;
  types: number[];
  meta: Array<[number, number]>;
}

/** A rows event of a wanted table, kept encoded until its transaction is taken. */
export interface EncodedRows {
  kind: "insert" | "update" | "delete";
  map: TableMap;
  /** The event's bytes from its column count to its last row (post-header and checksum off). */
  body: Buffer;
}

/** One row change with its images as values (index 0 is the first column; undefined: not logged). */
export interface DecodedChange {
  kind: "insert" | "update" | "delete";
  table: string;
  before?: unknown[];
  after?: unknown[];
}

const T = { TINY: 1, SHORT: 2, LONG: 3, FLOAT: 4, DOUBLE: 5, LONGLONG: 8, INT24: 9, DATE: 10, YEAR: 13, VARCHAR: 15, DATETIME2: 18, NEWDECIMAL: 246, ENUM: 247, SET: 248, BLOB: 252, VAR_STRING: 253, STRING: 254 };
/** Column types whose TABLE_MAP metadata is 1 byte, and 2 bytes (any other: none). */
const META1 = new Set([4, 5, 17, 18, 19, 245, 252, 255]);
const META2 = new Set([15, 16, 246, 247, 248, 253, 254]);
const ROWS_KIND: Record<number, EncodedRows["kind"]> = { 23: "insert", 24: "update", 25: "delete", 30: "insert", 31: "update", 32: "delete" };
const UTF8 = new Set(["utf8mb4", "utf8mb3", "utf8", "ascii"]);
const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

/**
 * Reads the events of BINLOG statements one by one: the format description (checksum, post-header
 * lengths), table maps, and the rows events of `db`'s `tables`.
 */
export class BinlogEvents {
  private checksum = 4;
  private postHeader: number[] = [];
  private readonly maps = new Map<number, TableMap>();

  constructor(
    private readonly db: string,
    private readonly tables: Set<string>,
  ) {}

  /** One event's bytes: a wanted rows event, what makes it undecodable (a string), or undefined. */
  event(b: Buffer): EncodedRows | string | undefined {
    const type = b[4];
    if (type === 15) return this.formatDescription(b);
    if (type === 164) throw new BinlogUnsupported("the binary log is encrypted");
    if (type >= 165 && type <= 171) return "compressed events (log_bin_compress)";
    if (type === 19) return this.tableMap(b);
    const kind = ROWS_KIND[type];
    if (!kind) return undefined;
    const ph = this.postHeader[type - 1] ?? (type >= 30 ? 10 : 8);
    const map = this.maps.get(ph === 6 ? b.readUInt32LE(19) : b.readUIntLE(19, 6));
    if (!map) return undefined;
    let p = 19 + ph;
    if (type >= 30) p += b.readUInt16LE(17 + ph) - 2;
    return { kind, map, body: b.subarray(p, b.length - this.checksum) };
  }

  /** A format description (each file's first event): its events' checksum and post-header lengths. */
  private formatDescription(b: Buffer): undefined {
    const alg = b[b.length - 5];
    if (b[75] !== 19 || alg > 1) throw new BinlogUnsupported(`a format description not understood (header of ${b[75]} bytes, checksum ${alg})`);
    this.checksum = alg === 1 ? 4 : 0;
    this.postHeader = [...b.subarray(76, b.length - 5)];
    return undefined;
  }

  /** A wanted table's map (its columns' types and metadata); what it does not understand in one (a string). */
  private tableMap(b: Buffer): string | undefined {
    const ph = this.postHeader[18] ?? 8;
    const id = ph === 6 ? b.readUInt32LE(19) : b.readUIntLE(19, 6);
    const r = new Reader(b, 19 + ph);
    const db = r.text(b[r.p++], true);
    const table = r.text(b[r.p++], true);
    this.maps.delete(id);
    if (db !== this.db || !this.tables.has(table)) return undefined;
    const types = [...r.bytes(r.lenenc())];
    const end = r.lenenc() + r.p;
    const meta = types.map((t): [number, number] => (META2.has(t) ? [b[r.p++], b[r.p++]] : META1.has(t) ? [b[r.p++], 0] : [0, 0]));
    if (r.p !== end) return `${db}.${table}: a table map whose metadata is not understood (column types ${types.join(", ")})`;
    this.maps.set(id, { db, table, types, meta });
    return undefined;
  }
}

/** A cursor over an event's bytes. */
class Reader {
  constructor(
    readonly b: Buffer,
    public p: number,
  ) {}

  lenenc(): number {
    const c = this.b[this.p++];
    if (c < 251) return c;
    const n = c === 252 ? 2 : c === 253 ? 3 : 8;
    const v = n === 8 ? Number(this.b.readBigUInt64LE(this.p)) : this.b.readUIntLE(this.p, n);
    this.p += n;
    return v;
  }

  bytes(n: number): Buffer {
    const out = this.b.subarray(this.p, this.p + n);
    if (out.length !== n) throw new BinlogUnsupported("an event shorter than its contents");
    this.p += n;
    return out;
  }

  /** n bytes of text (and the NUL after them when `nul`). */
  text(n: number, nul = false): string {
    const s = this.bytes(n).toString("utf8");
    if (nul) this.p++;
    return s;
  }

  /** Skips n bytes, returning where they begin. */
  skip(n: number): number {
    const at = this.p;
    this.p += n;
    if (this.p > this.b.length) throw new BinlogUnsupported("an event shorter than its contents");
    return at;
  }

  /** A length of `n` bytes, then that many bytes: where they begin (the length is `this.p` minus it). */
  sized(n: number): number {
    const len = this.b.readUIntLE(this.p, n);
    this.p += n;
    return this.skip(len);
  }
}

/** The columns a bitmap of `width` columns marks. */
function marked(r: Reader, width: number): number[] {
  const bits = r.bytes((width + 7) >> 3);
  const out: number[] = [];
  for (let i = 0; i < width; i++) if (bits[i >> 3] & (1 << (i & 7))) out.push(i);
  return out;
}

/** The changes of a rows event, their images as values of `cols` (the node's columns, in order). */
export function decodeRows(e: EncodedRows, cols: BinlogColumn[]): DecodedChange[] {
  const { map } = e;
  const r = new Reader(e.body, 0);
  const width = r.lenenc();
  if (width !== cols.length || width !== map.types.length) throw new BinlogUnsupported(`${map.table}: rows of ${width} columns, the table has ${cols.length} (changed since the split?)`);
  const first = marked(r, width);
  const second = e.kind === "update" ? marked(r, width) : first;
  const out: DecodedChange[] = [];
  while (r.p < e.body.length) {
    const a = image(r, map, cols, first);
    if (e.kind === "update") out.push({ kind: e.kind, table: map.table, before: a, after: image(r, map, cols, second) });
    else out.push(e.kind === "insert" ? { kind: e.kind, table: map.table, after: a } : { kind: e.kind, table: map.table, before: a });
  }
  return out;
}

/** One row image: a null bitmap over the logged columns, then their non-null values. */
function image(r: Reader, map: TableMap, cols: BinlogColumn[], logged: number[]): unknown[] {
  const row: unknown[] = new Array(cols.length);
  const nulls = r.skip((logged.length + 7) >> 3);
  for (let j = 0; j < logged.length; j++) {
    const i = logged[j];
    row[i] = r.b[nulls + (j >> 3)] & (1 << (j & 7)) ? null : value(r, map.types[i], map.meta[i][0], map.meta[i][1], cols[i], map.table);
  }
  return row;
}

/** An integer of n bytes (n <= 6). */
function integer(r: Reader, n: number, unsigned: boolean): number {
  const v = unsigned ? r.b.readUIntLE(r.p, n) : r.b.readIntLE(r.p, n);
  r.p += n;
  return v;
}

/** A 64-bit integer: a number when it is exact as one, else its digits. */
function integer64(r: Reader, unsigned: boolean): number | string {
  const lo = r.b.readUInt32LE(r.p);
  const hi = unsigned ? r.b.readUInt32LE(r.p + 4) : r.b.readInt32LE(r.p + 4);
  const p = r.p;
  r.p += 8;
  if (hi < 0x200000 && hi >= -0x200000) return hi * 0x100000000 + lo;
  return String(unsigned ? r.b.readBigUInt64LE(p) : r.b.readBigInt64LE(p));
}

/** One value as inserted again: a number, a string (64-bit integers beyond 2^53, decimals, dates, text) or a Buffer (binary). */
function value(r: Reader, type: number, m0: number, m1: number, col: BinlogColumn, table: string): unknown {
  const b = r.b;
  const p = r.p;
  switch (type) {
    case T.TINY:
      return integer(r, 1, col.unsigned);
    case T.SHORT:
      return integer(r, 2, col.unsigned);
    case T.INT24:
      return integer(r, 3, col.unsigned);
    case T.LONG:
      return integer(r, 4, col.unsigned);
    case T.LONGLONG:
      return integer64(r, col.unsigned);
    case T.FLOAT:
      r.p += 4;
      return b.readFloatLE(p);
    case T.DOUBLE:
      r.p += 8;
      return b.readDoubleLE(p);
    case T.YEAR:
      r.p += 1;
      return b[p] ? 1900 + b[p] : 0;
    case T.DATE: {
      r.p += 3;
      const v = b.readUIntLE(p, 3);
      return `${String(v >> 9).padStart(4, "0")}-${two((v >> 5) & 15)}-${two(v & 31)}`;
    }
    case T.DATETIME2:
      return datetime2(r, m0);
    case T.NEWDECIMAL:
      return decimal(r, m0, m1);
    case T.VARCHAR:
    case T.VAR_STRING:
      return text(r, r.sized((m0 | (m1 << 8)) > 255 ? 2 : 1), col, table);
    case T.STRING:
      // An ENUM's index, a SET's bits (inserted as numbers, they mean the same members).
      if (m0 === T.ENUM || (m0 === T.SET && m1 <= 6)) return integer(r, m1, true);
      if (m0 === T.SET) return integer64(r, true);
      return text(r, r.sized(((((m0 & 0x30) ^ 0x30) << 4) | m1) > 255 ? 2 : 1), col, table);
    case T.BLOB:
      return text(r, r.sized(m0), col, table);
    default:
      throw new BinlogUnsupported(`${table}.${col.name}: column type ${type}`);
  }
}

const two = (n: number) => String(n).padStart(2, "0");

/** The text from `at` to the cursor in the column's character set (UTF-8 and ASCII as strings, binary as bytes). */
function text(r: Reader, at: number, col: BinlogColumn, table: string): string | Buffer {
  if (!col.charset) return Buffer.from(r.b.subarray(at, r.p));
  if (!UTF8.has(col.charset)) throw new BinlogUnsupported(`${table}.${col.name}: text in ${col.charset}`);
  return r.b.toString("utf8", at, r.p);
}

/** DATETIME(fsp) as 'YYYY-MM-DD hh:mm:ss[.f]': 5 bytes big-endian, then the fraction. */
function datetime2(r: Reader, fsp: number): string {
  const v = r.b.readUIntBE(r.p, 5) - 0x8000000000;
  r.p += 5;
  const ymd = Math.floor(v / 2 ** 17);
  const hms = v % 2 ** 17;
  const ym = Math.floor(ymd / 32);
  const s = `${String(Math.floor(ym / 13)).padStart(4, "0")}-${two(ym % 13)}-${two(ymd % 32)} ${two(hms >> 12)}:${two((hms >> 6) % 64)}:${two(hms % 64)}`;
  if (!fsp) return s;
  const n = (fsp + 1) >> 1;
  const frac = r.b.readUIntBE(r.p, n) * 100 ** (3 - n);
  r.p += n;
  return `${s}.${String(frac).padStart(6, "0").slice(0, fsp)}`;
}

/** DECIMAL(precision, scale) as its digits: groups of 9 digits in 4 bytes big-endian, the sign in the first bit. */
function decimal(r: Reader, precision: number, scale: number): string {
  const intg = precision - scale;
  const [intg0, intgx, frac0, fracx] = [Math.floor(intg / 9), intg % 9, Math.floor(scale / 9), scale % 9];
  const d = Buffer.from(r.bytes(intg0 * 4 + DIG2BYTES[intgx] + frac0 * 4 + DIG2BYTES[fracx]));
  const negative = (d[0] & 0x80) === 0;
  d[0] ^= 0x80;
  if (negative) for (let i = 0; i < d.length; i++) d[i] ^= 0xff;
  let q = 0;
  const group = (n: number) => {
    const v = d.readUIntBE(q, n);
    q += n;
    return String(v);
  };
  let ip = intgx ? group(DIG2BYTES[intgx]) : "";
  for (let i = 0; i < intg0; i++) ip += group(4).padStart(9, "0");
  ip = ip.replace(/^0+(?=\d)/, "") || "0";
  let fp = "";
  for (let i = 0; i < frac0; i++) fp += group(4).padStart(9, "0");
  if (fracx) fp += group(DIG2BYTES[fracx]).padStart(fracx, "0");
  return `${negative ? "-" : ""}${ip}${scale ? `.${fp}` : ""}`;
}
