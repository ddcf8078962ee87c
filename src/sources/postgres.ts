// A PostgreSQL query or table as a source (docs/design.md "Database sources"). The rows come
// through `COPY (query) TO STDOUT` in text format: NEXT-STACK.md §3 measured it fastest and
// flat in memory (0.86 s per 1 M rows, 80 MB), and text keeps every value exact. The column
// types come first, from the same query wrapped in `LIMIT 0` (the planner stops at once), so
// each value is written as exact JSON by its type, straight from COPY's text into NDJSON.
import type { Client, QueryResult } from 'pg';
import { DataError, NoPermError, UsageError, type BxError } from '../lib/errors.js';
import { parseTableName, qualified, quoteIdent, quoteLiteral } from '../lib/ident.js';
import type { Io } from '../lib/io.js';
import { redact } from '../lib/redact.js';
import type { Batch, Checkpoint, Source, StageContext } from '../lib/stream.js';
import { connect, resolveTarget, targetLabel, type Target } from '../pg/connect.js';
import { pgError, serverText, type PgServerError } from '../pg/errors.js';
import { readStartPosition } from '../run/state.js';
import { anyByteIs, anyControl, putWords, repeated, ViewCache, wordsOf } from '../lib/swar.js';
import { CopyOut } from './pg-copy-out.js';
import type { SourceOpener, SourceRequest } from './index.js';
import {
  BATCH_ROWS,
  bareQuery,
  bytesJson,
  checkpointKey,
  compactJson,
  decimalJson,
  floatJson,
  incrementalWhere,
  intJson,
  LineBatcher,
  refuseDuplicateColumns,
  unsealedWarning,
  rowCompare,
  sourceId,
  timestampText,
  watermarkOf,
  type Incremental,
  type Watermark,
} from './sql.js';

/** COPY text of one value (already unescaped) → its JSON text. */
type Conv = (s: string) => string;

const str: Conv = (s) => JSON.stringify(s);
const SCALARS: Record<number, Conv> = {
  16: (s) => (s === 't' ? 'true' : 'false'), // bool
  17: (s) => bytesJson(Buffer.from(s.slice(2), 'hex')), // bytea, hex output: \x0a0b
  20: intJson, // int8
  21: (s) => s, // int2
  23: (s) => s, // int4
  26: (s) => s, // oid
  700: floatJson, // float4
  701: floatJson, // float8
  1700: decimalJson, // numeric
  114: compactJson, // json (may hold newlines: one line here)
  3802: compactJson, // jsonb
  // ISO text needs no JSON escaping.
  1114: (s) => '"' + timestampText(s, false) + '"', // timestamp
  1184: (s) => '"' + timestampText(s, true) + '"', // timestamptz (session TimeZone UTC)
  1082: (s) => '"' + s + '"', // date
};

interface TypeRow {
  oid: number;
  typcategory: string;
  typelem: number;
  typbasetype: number;
  typdelim: string;
}

/** Converters for the result's column types: domains by their base type, arrays element by element. */
async function converters(client: Client, oids: number[]): Promise<{ convs: Conv[]; kinds: K[] }> {
  const unknown = [...new Set(oids.filter((o) => !(o in SCALARS)))];
  const info = new Map<number, TypeRow>();
  if (unknown.length) {
    const r = await client.query<TypeRow>(
      `WITH RECURSIVE t AS (
         SELECT oid::int, typcategory::text, typelem::int, typbasetype::int, typdelim::text FROM pg_type WHERE oid = ANY($1::oid[])
         UNION
         SELECT p.oid::int, p.typcategory::text, p.typelem::int, p.typbasetype::int, p.typdelim::text FROM pg_type p JOIN t ON p.oid IN (t.typelem, t.typbasetype)
       ) SELECT * FROM t`,
      [unknown],
    );
    for (const row of r.rows) info.set(row.oid, row);
  }
  const of = (oid: number, depth = 0): Conv => {
    const known = SCALARS[oid];
    if (known) return known;
    const t = info.get(oid);
    if (!t || depth > 8) return str;
    if (t.typbasetype) return of(t.typbasetype, depth + 1);
    if (t.typcategory === 'A' && t.typelem) {
      const elem = of(t.typelem, depth + 1);
      return (s) => arrayJson(s, elem, t.typdelim || ',');
    }
    return str;
  };
  const base = (oid: number, depth = 0): number => {
    const t = info.get(oid);
    return t && t.typbasetype && depth < 8 ? base(t.typbasetype, depth + 1) : oid;
  };
  return {
    convs: oids.map((o) => of(o)),
    kinds: oids.map((o) => KIND_OF[base(o)] ?? (of(o) === str ? K.Str : K.Slow)),
  };
}

/**
 * An array literal (`{1,2,NULL}`, `{{"a b","c\"d"}}`) as a JSON array, each element through
 * its type's converter. Non-default lower bounds (`[0:1]={…}`) are dropped: JSON arrays start at 0.
 */
export function arrayJson(s: string, elem: Conv, delim: string): string {
  let i = 0;
  if (s.charCodeAt(0) === 91 /* [ */) i = s.indexOf('=') + 1;
  let out = '';
  const d = delim.charCodeAt(0);
  let needComma = false;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 123 /* { */) {
      out += needComma ? ',[' : '[';
      needComma = false;
      i++;
    } else if (c === 125 /* } */) {
      out += ']';
      needComma = true;
      i++;
    } else if (c === d) {
      i++;
    } else if (c === 34 /* " */) {
      let v = '';
      let j = i + 1;
      for (; j < s.length; j++) {
        const e = s.charCodeAt(j);
        if (e === 92) v += s[++j];
        else if (e === 34) break;
        else v += s[j];
      }
      out += (needComma ? ',' : '') + elem(v);
      needComma = true;
      i = j + 1;
    } else {
      let j = i;
      while (j < s.length && s.charCodeAt(j) !== d && s.charCodeAt(j) !== 125) j++;
      const v = s.slice(i, j).trim();
      out += (needComma ? ',' : '') + (v === 'NULL' ? 'null' : elem(v));
      needComma = true;
      i = j;
    }
  }
  return out;
}

/** COPY text escapes (\\ \b \f \n \r \t \v, octal, \x) back to the value. */
export function unescapeCopy(s: string): string {
  let out = '';
  let from = 0;
  for (let i = s.indexOf('\\'); i >= 0 && i < s.length; i = s.indexOf('\\', i)) {
    out += s.slice(from, i);
    const c = s[i + 1];
    let n = 2;
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x': {
        const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 2, i + 4));
        if (m) {
          out += String.fromCharCode(parseInt(m[0], 16));
          n = 2 + m[0].length;
        } else out += 'x';
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          const m = /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4))!;
          out += String.fromCharCode(parseInt(m[0], 8));
          n = 1 + m[0].length;
        } else out += c ?? '';
    }
    i += n;
    from = i;
  }
  return out + s.slice(from);
}

/** How a column's COPY bytes become JSON bytes: most types without a JS string (see CopyTranscoder). */
const enum K {
  Raw, // int2, int4, oid: the digits are the JSON number
  Int8,
  Num,
  Float,
  Bool,
  Str, // text-like: COPY's escapes are JSON's, bar \v and raw control bytes
  Ts,
  Tstz,
  Date,
  Slow, // through the string converter
}
const KIND_OF: Record<number, K> = {
  21: K.Raw,
  23: K.Raw,
  26: K.Raw,
  20: K.Int8,
  1700: K.Num,
  700: K.Float,
  701: K.Float,
  16: K.Bool,
  25: K.Str,
  1043: K.Str,
  1042: K.Str,
  19: K.Str,
  2950: K.Str,
  1114: K.Ts,
  1184: K.Tstz,
  1082: K.Date,
};

const HEX = '0123456789abcdef';
const QUOTES = repeated(0x22);
const BACKSLASHES = repeated(0x5c);
/** ".000" and "000\"": a timestamp's fraction before its digits go in, and what follows it. */
const DOT_ZEROS = 0x3030302e;
const ZEROS = 0x30303030;

/**
 * Where the field a fused writer below just wrote ended (the offset of its tab or newline): a
 * module slot, not a second return value, so the writers return one number and stay small.
 */
let fieldEnd = 0;

/**
 * COPY text lines → NDJSON bytes, field by field on the bytes: numbers, booleans, text and
 * timestamps are copied or lightly rewritten without decoding to a JS string and encoding it
 * back (the string path cost 3.3 s of CPU per 1 M rows). Each field is found and written in
 * one pass (the writers stop at its tab or newline), four bytes at a time where they can: room
 * for the whole row is made once per row, bounded by the bytes left in the chunk. Anything
 * unusual (NaN, BC dates, long numbers, json, arrays) takes the string converter of its type,
 * the reference path, so both give the same text (test/sources/db.test.ts).
 */
export class CopyTranscoder {
  private out: Buffer = Buffer.allocUnsafe(1 << 18);
  private view = new DataView(this.out.buffer, this.out.byteOffset, this.out.byteLength);
  private readonly inViews = new ViewCache();
  private o = 0;
  count = 0;
  private total = 0;
  private readonly keys: Buffer[];
  private readonly keyWords: Int32Array[];
  private readonly lineage?: Buffer;
  private readonly lineageWords?: Int32Array;
  /** Bytes a row may write beyond 6x its COPY bytes (every byte as \u00XX). */
  private readonly rowSlack: number;

  constructor(
    names: string[],
    private readonly kinds: K[],
    private readonly convs: Conv[],
    lineage: string,
  ) {
    this.keys = names.map((n, i) => Buffer.from((i === 0 ? '{' : ',') + JSON.stringify(n) + ':'));
    this.keyWords = this.keys.map(wordsOf);
    if (lineage) {
      this.lineage = Buffer.from(lineage);
      this.lineageWords = wordsOf(this.lineage);
    }
    // Per field: its key, and 16 for "null" from \N, quotes, T, the padding to µs, an offset
    // (a field is at least its tab); per row the lineage, its line number and }\n.
    let keyBytes = 0;
    for (const k of this.keys) keyBytes += k.length;
    this.rowSlack = keyBytes + 16 * names.length + (this.lineage?.length ?? 0) + 32;
  }

  /** Room for n more bytes past this.o; the output buffer may be a new one after. */
  private room(n: number): void {
    if (this.o + n > this.out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.o + n, this.out.length * 2));
      this.out.copy(bigger, 0, 0, this.o);
      this.out = bigger;
      this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
    }
  }

  /** The whole lines in buf[from, end): end is just past a newline. */
  lines(buf: Buffer, from: number, end: number): void {
    if (this.kinds.length === 0) return this.empty(buf, from, end);
    this.run(buf, from, end, false);
  }

  /**
   * The CopyData messages from buf[from] on (CopyFrames's fast path, pg-copy-out.ts), each
   * whole in buf[from, n) and ending in a newline, transcoded where they lie: the server sends
   * one row per message, and one call here for the chunk's messages instead of one per row
   * took the sink's call and lines()' set-up off every row. Returns where the first message it
   * did not take starts (cut by the chunk's end, not ending in a newline, or not CopyData):
   * the caller reads on from there.
   */
  messages(buf: Buffer, from: number, n: number): number {
    if (this.kinds.length === 0) return from;
    return this.run(buf, from, n, true);
  }

  private run(buf: Buffer, from: number, n: number, framed: boolean): number {
    const ncol = this.kinds.length;
    const kinds = this.kinds;
    const keys = this.keys;
    const keyWords = this.keyWords;
    const slack = this.rowSlack;
    const bv = this.inViews.view(buf);
    let out = this.out;
    let ov = this.view;
    let o = this.o;
    let p = from;
    let end = framed ? from : n;
    let rows = 0;
    for (;;) {
      if (p >= end) {
        if (!framed) break;
        // The next message: 'd', then the length of what follows the code byte (big-endian).
        if (p + 5 > n || buf[p] !== 100) break;
        const z = p + 1 + bv.getUint32(p + 1);
        if (z > n || z <= p + 5 || buf[z - 1] !== 10) break;
        p += 5;
        end = z;
      }
      // The row is at most the rest of the chunk (or message); COPY escapes tabs and newlines
      // inside values, so the first one ends a field.
      if (o + (end - p) * 6 + slack > out.length) {
        this.o = o;
        this.room((end - p) * 6 + slack);
        out = this.out;
        ov = this.view;
      }
      for (let c = 0; c < ncol; c++) {
        o = putWords(ov, out, o, keys[c], keyWords[c]);
        let w = -1;
        const f = buf[p];
        if (f === 92 && buf[p + 1] === 78 && (buf[p + 2] === 9 || buf[p + 2] === 10)) {
          // \N
          ov.setInt32(o, 0x6c6c756e, true);
          w = o + 4;
          fieldEnd = p + 2;
        } else {
          switch (kinds[c]) {
            case K.Raw:
              w = digits(buf, p, out, o, 1 << 30);
              break;
            case K.Int8:
              w = digits(buf, p, out, o, 15);
              break;
            case K.Float:
              if ((f >= 48 && f <= 57) || (f === 45 && buf[p + 1] >= 48 && buf[p + 1] <= 57))
                w = digits(buf, p, out, o, 1 << 30);
              break;
            case K.Bool:
              if (f !== 9 && f !== 10 && (buf[p + 1] === 9 || buf[p + 1] === 10)) {
                w = boolJson(f === 116, out, o);
                fieldEnd = p + 1;
              }
              break;
            case K.Num:
              w = decimal(buf, p, out, o);
              break;
            case K.Str:
              w = text(buf, bv, p, end, out, ov, o);
              break;
            case K.Date:
              if (p + 10 < end && (buf[p + 10] === 9 || buf[p + 10] === 10) && plain(bv, buf, p, 10)) {
                out[o] = 34;
                ov.setInt32(o + 1, bv.getInt32(p, true), true);
                ov.setInt32(o + 5, bv.getInt32(p + 4, true), true);
                out[o + 9] = buf[p + 8];
                out[o + 10] = buf[p + 9];
                out[o + 11] = 34;
                w = o + 12;
                fieldEnd = p + 10;
              }
              break;
            case K.Ts:
              w = timestamp(buf, bv, p, end, false, out, ov, o);
              break;
            case K.Tstz:
              w = timestamp(buf, bv, p, end, true, out, ov, o);
              break;
          }
        }
        if (w < 0) {
          // The reference path: the field's text through its type's converter.
          let z = p;
          while (buf[z] !== 9 && buf[z] !== 10) z++;
          this.o = o;
          this.slow(buf, p, z, c);
          if (this.o + (end - z) * 6 + slack > this.out.length) this.room((end - z) * 6 + slack);
          out = this.out;
          ov = this.view;
          w = this.o;
          fieldEnd = z;
        }
        o = w;
        p = fieldEnd + 1;
      }
      rows++;
      if (this.lineage) o = this.putLineage(out, ov, o, this.total + rows);
      out[o] = 125;
      out[o + 1] = 10;
      o += 2;
    }
    this.total += rows;
    this.count += rows;
    this.o = o;
    return p;
  }

  /** A query of no columns: a {} per line. */
  private empty(buf: Buffer, from: number, end: number): void {
    for (let p = from; p < end; p++) {
      if (buf[p] !== 10) continue;
      this.total++;
      this.count++;
      this.room(this.rowSlack);
      this.out[this.o++] = 123;
      if (this.lineage) this.o = this.putLineage(this.out, this.view, this.o, this.total);
      this.out[this.o++] = 125;
      this.out[this.o++] = 10;
    }
  }

  /** ,"_file":"…","_line":N (the lineage fields) for row n. */
  private putLineage(out: Buffer, ov: DataView, o: number, n: number): number {
    o = putWords(ov, out, o, this.lineage!, this.lineageWords!);
    let len = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
    for (let k = len - 1, x = n; k >= 0; k--, x = Math.floor(x / 10)) out[o + k] = 48 + (x % 10);
    return o + len;
  }

  /** Anything unusual: through the type's string converter. */
  private slow(b: Buffer, a: number, z: number, c: number): void {
    let s = b.toString('utf8', a, z);
    if (s.indexOf('\\') >= 0) s = unescapeCopy(s);
    const v = this.convs[c](s);
    this.room(v.length * 3 + this.rowSlack);
    this.o += this.out.write(v, this.o, 'utf8');
  }

  /** The NDJSON bytes so far; the next rows go to a new buffer. */
  take(): { bytes: Buffer; rows: number } {
    // The buffer itself goes with the batch and a new one takes its place: Buffer.from's copy
    // (fromArrayLike) was 4 % of an extract's CPU.
    const r = { bytes: this.out.subarray(0, this.o), rows: this.count };
    this.out = Buffer.allocUnsafeSlow(this.out.length > 1 << 22 ? 1 << 18 : this.out.length);
    this.view = new DataView(this.out.buffer, this.out.byteOffset, this.out.byteLength);
    this.o = 0;
    this.count = 0;
    return r;
  }
}

/** Whether b[a, a + n) (n ≥ 8) has no control byte (so no tab or newline). */
function plain(bv: DataView, b: Buffer, a: number, n: number): boolean {
  if (anyControl(bv.getInt32(a, true)) || anyControl(bv.getInt32(a + 4, true))) return false;
  for (let k = a + 8; k < a + n; k++) if (b[k] < 32) return false;
  return true;
}

/** A number's text copied as it is, up to its tab or newline; -1 (the slow path) if longer than max. */
function digits(b: Buffer, a: number, out: Buffer, o: number, max: number): number {
  let i = a;
  let d = b[i];
  while (d !== 9 && d !== 10) {
    out[o++] = d;
    d = b[++i];
  }
  if (i - a > max) return -1;
  fieldEnd = i;
  return o;
}

function boolJson(t: boolean, out: Buffer, o: number): number {
  if (t) {
    out[o] = 116;
    out[o + 1] = 114;
    out[o + 2] = 117;
    out[o + 3] = 101;
    return o + 4;
  }
  out[o] = 102;
  out[o + 1] = 97;
  out[o + 2] = 108;
  out[o + 3] = 115;
  out[o + 4] = 101;
  return o + 5;
}

/**
 * plainDecimalBytes's rule (src/sources/sql.ts) in the same pass as the copy: ≤ 15 digits, not
 * below 1e-6, trailing fractional zeros dropped. The copy is checked where it was written.
 */
function decimal(b: Buffer, a: number, out: Buffer, o: number): number {
  const neg = b[a] === 45;
  let i = neg ? a + 1 : a;
  const first = o + (i - a);
  let n = 0;
  let dot = -1;
  let e = neg ? o + 1 : o;
  if (neg) out[o] = 45;
  for (;;) {
    const d = b[i];
    if (d >= 48 && d <= 57) n++;
    else if (d === 46 && dot < 0) dot = e;
    else if (d === 9 || d === 10) break;
    else return -1;
    out[e++] = d;
    i++;
  }
  if (i - a > 17 || n === 0 || n > 15) return -1;
  fieldEnd = i;
  if (dot < 0) return e - first > 1 && out[first] === 48 ? -1 : e;
  while (e > dot + 1 && out[e - 1] === 48) e--;
  if (e === dot + 1) e = dot;
  const intZero = dot === first + 1 && out[first] === 48;
  if (e === dot) {
    if (intZero) {
      out[o] = 48; // 0.00 and -0.0 are 0
      return o + 1;
    }
    return e;
  }
  if (!intZero && out[first] === 48) return -1;
  if (
    intZero &&
    e - dot > 6 &&
    out[dot + 1] === 48 &&
    out[dot + 2] === 48 &&
    out[dot + 3] === 48 &&
    out[dot + 4] === 48 &&
    out[dot + 5] === 48 &&
    out[dot + 6] === 48
  )
    return -1;
  return e;
}

/**
 * COPY text → a JSON string, up to the field's tab or newline: \\ \n \r \t \b \f are the same
 * escapes in both; " and control bytes get escaped. Four bytes at a time while none of them
 * needs a look.
 */
function text(b: Buffer, bv: DataView, a: number, end: number, out: Buffer, ov: DataView, o: number): number {
  out[o++] = 34;
  let i = a;
  for (;;) {
    while (i + 4 <= end) {
      const x = bv.getInt32(i, true);
      if (anyControl(x) || anyByteIs(x, QUOTES) || anyByteIs(x, BACKSLASHES)) break;
      ov.setInt32(o, x, true);
      i += 4;
      o += 4;
    }
    const d = b[i];
    if (d >= 32 && d !== 34 && d !== 92) {
      out[o++] = d;
      i++;
    } else if (d === 9 || d === 10) {
      break;
    } else if (d === 34) {
      out[o] = 92;
      out[o + 1] = 34;
      o += 2;
      i++;
    } else if (d === 92) {
      const e = b[i + 1];
      if (e === 92 || e === 110 || e === 114 || e === 116 || e === 98 || e === 102) {
        out[o] = 92;
        out[o + 1] = e;
        o += 2;
      } else if (e === 118) {
        o += out.write('\\u000b', o, 'latin1');
      } else return -1; // octal or hex: never written by COPY TO; the slow path knows them
      i += 2;
    } else {
      o += out.write('\\u00' + HEX[d >> 4] + HEX[d & 15], o, 'latin1');
      i++;
    }
  }
  out[o++] = 34;
  fieldEnd = i;
  return o;
}

/**
 * YYYY-MM-DD HH:MM:SS[.f{1,6}][+00] → "YYYY-MM-DDTHH:MM:SS.ffffff[+00:00]" (putIsoTimestamp's
 * text, src/sources/sql.ts), four bytes at a time; -1: the slow path.
 */
function timestamp(
  b: Buffer,
  bv: DataView,
  a: number,
  end: number,
  zoned: boolean,
  out: Buffer,
  ov: DataView,
  o: number,
): number {
  if (a + 19 >= end || b[a + 4] !== 45 || b[a + 10] !== 32 || b[a + 13] !== 58) return -1;
  const w0 = bv.getInt32(a, true);
  const w1 = bv.getInt32(a + 4, true);
  const w2 = bv.getInt32(a + 11, true);
  const w3 = bv.getInt32(a + 15, true);
  if (anyControl(w0) || anyControl(w1) || anyControl(w2) || anyControl(w3) || b[a + 8] < 32 || b[a + 9] < 32) return -1;
  let i = a + 19;
  let n = 0;
  if (b[i] === 46) {
    i++;
    while (b[i] >= 48 && b[i] <= 57) i++;
    n = i - a - 20;
    if (n > 6) return -1;
  }
  if (zoned) {
    if (b[i] !== 43 || b[i + 1] !== 48 || b[i + 2] !== 48) return -1;
    i += 3;
  }
  if (b[i] !== 9 && b[i] !== 10) return -1;
  fieldEnd = i;
  out[o] = 34;
  ov.setInt32(o + 1, w0, true);
  ov.setInt32(o + 5, w1, true);
  out[o + 9] = b[a + 8];
  out[o + 10] = b[a + 9];
  out[o + 11] = 84; // T
  ov.setInt32(o + 12, w2, true);
  ov.setInt32(o + 16, w3, true);
  ov.setInt32(o + 20, DOT_ZEROS, true);
  ov.setInt32(o + 24, ZEROS, true);
  for (let k = 0; k < n; k++) out[o + 21 + k] = b[a + 20 + k];
  o += 27;
  if (zoned) {
    // +00:00
    ov.setInt32(o, 0x3a30302b, true);
    out[o + 4] = 48;
    out[o + 5] = 48;
    o += 6;
  }
  out[o] = 34;
  return o + 1;
}

/** A bad query (65, with the server's message and where in the query), no privilege (77), else pgError. */
function queryError(err: unknown, what: string, sent: string, prefix: number, query: string, label: string): BxError {
  const e = err as PgServerError & { position?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code === '42501') return new NoPermError(`${label}: ${what}: ${serverText(e)}`);
  if (/^(42|22|0A|2F|38|39|P0)/.test(code)) {
    let at = '';
    const pos = Number(e.position);
    if (pos > prefix && pos <= prefix + query.length) {
      const before = query.slice(0, pos - prefix - 1);
      const line = before.split('\n').length;
      const col = before.length - before.lastIndexOf('\n');
      const near = query.slice(pos - prefix - 1, pos - prefix + 19).split('\n')[0];
      at = ` (at line ${line}, column ${col} of the query, near ${JSON.stringify(near)})`;
    } else if (pos > 0) at = ` (at character ${pos} of ${JSON.stringify(redact(sent.slice(0, 200)))})`;
    return new DataError(undefined, undefined, `${label}: ${what}: ${serverText(e)}${at}`);
  }
  return pgError(err, { target: label });
}

const SESSION =
  "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 1; SET bytea_output = 'hex'";

export class PostgresSource implements Source {
  readonly name: string;
  private done: Checkpoint[] = [];

  constructor(
    private readonly req: SourceRequest,
    private readonly io: Io,
    private readonly target: Target,
  ) {
    this.name = req.sql?.table ?? 'query';
  }

  async *batches(ctx: StageContext): AsyncGenerator<Batch> {
    const sql = this.req.sql!;
    const label = targetLabel(this.target);
    const query =
      sql.table !== undefined ? `SELECT * FROM ${qualified(parseTableName(sql.table))}` : bareQuery(sql.query ?? '');
    const inc: Incremental | undefined = sql.incremental ? { column: sql.incremental, key: sql.key ?? [] } : undefined;
    const stateKey = inc
      ? checkpointKey('postgres', this.target.host, this.target.port, this.target.database, sourceId(sql), inc.column)
      : '';
    // Read the committed position before connecting to the source: a bad --from-state fails first.
    const from = inc
      ? watermarkOf(await readStartPosition(this.req.state, stateKey, this.io.env), inc, stateKey)
      : undefined;
    if (inc) unsealedWarning(this.io, ctx);

    const client = await connect(this.target, { early: true });
    let finished = false;
    let copy: CopyOut | undefined;
    try {
      // One snapshot for the end of the batch and the rows: what max() saw is what COPY reads.
      // The session's settings, BEGIN and the describe go in one round trip, one simple Query
      // message (a SET before BEGIN persists; an error skips the statements after it).
      const setup = `${SESSION}; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; `;
      const head = 'SELECT * FROM (\n';
      const described = head + query + '\n) bx LIMIT 0';
      let fields: { name: string; dataTypeID: number }[];
      try {
        const results = (await client.query({ text: setup + described, rowMode: 'array' })) as unknown as
          QueryResult | QueryResult[];
        fields = (Array.isArray(results) ? results[results.length - 1] : results).fields;
      } catch (err) {
        // The server places an error in the whole message; the messages place it in the describe.
        const e = err as { position?: string };
        if (e && typeof e === 'object' && e.position !== undefined && Number(e.position) > setup.length)
          e.position = String(Number(e.position) - setup.length);
        throw queryError(
          err,
          sql.table !== undefined ? `--table ${sql.table}` : 'the query',
          described,
          head.length,
          query,
          label,
        );
      }
      const names = fields.map((f) => f.name);
      refuseDuplicateColumns(names, sql.table !== undefined ? `--table ${sql.table}` : 'the query');
      const { convs, kinds } = await converters(
        client,
        fields.map((f) => f.dataTypeID),
      );

      let copySql = `COPY (\n${query}\n) TO STDOUT`;
      let to: Watermark | undefined;
      if (inc) {
        for (const c of [inc.column, ...inc.key]) {
          if (!names.includes(c))
            throw new UsageError(
              `--${c === inc.column ? 'incremental' : 'key'} ${c}: the query has no such column (it has ${names.join(', ')})`,
            );
        }
        const col = `bx.${quoteIdent(inc.column)}`;
        const keys = inc.key.map((k) => `bx.${quoteIdent(k)}`);
        const lit = (v: string) => quoteLiteral(v);
        // The end of this batch, fixed now: rows written from here on wait for the next run.
        const after = from ? ` AND ${rowCompare(col, keys, lit, '>', from)}` : '';
        const maxSql = `SELECT ${[col, ...keys].map((c) => `${c}::text`).join(', ')} FROM (\n${query}\n) bx WHERE ${col} IS NOT NULL${keys.map((k) => ` AND ${k} IS NOT NULL`).join('')}${after} ORDER BY ${[col, ...keys].map((c) => `${c} DESC`).join(', ')} LIMIT 1`;
        let r;
        try {
          r = await client.query({ text: maxSql, rowMode: 'array' });
        } catch (err) {
          throw queryError(err, `--incremental ${inc.column}`, maxSql, 0, '', label);
        }
        if (r.rows.length === 0) {
          // Nothing new: the stored position stands.
          if (from) this.done = [{ key: stateKey, position: from, from, records: 0 }];
          ctx.log.info(`${this.name}: no rows past the watermark${from ? ` ${from.value}` : ''}`);
          finished = true;
          return;
        }
        const row = r.rows[0] as string[];
        to = inc.key.length ? { value: row[0], key: row.slice(1) } : { value: row[0] };
        copySql = `COPY (SELECT * FROM (\n${query}\n) bx WHERE ${incrementalWhere(col, keys, lit, from, to)}) TO STDOUT`;
      }

      const out = new LineBatcher(this.name, ctx);
      const rows = new CopyTranscoder(names, kinds, convs, out.lineage);
      copy = new CopyOut(
        copySql,
        (b, a, z) => rows.lines(b, a, z),
        (b, i, n) => rows.messages(b, i, n),
      );
      client.query(copy as never);
      const enough = () => rows.count >= BATCH_ROWS;
      try {
        while (await copy.pump(enough)) yield out.bytes(rows.take());
      } catch (err) {
        throw queryError(err, 'the query', copySql, 0, '', label);
      }
      if (rows.count > 0) yield out.bytes(rows.take());
      // No COMMIT (a round trip): the transaction is a read-only snapshot, and closing the
      // connection below ends it with nothing to write.
      finished = true;
      if (inc && to) this.done = [{ key: stateKey, position: to, from: from ?? null, records: out.total }];
    } finally {
      if (finished) await client.end().catch(() => {});
      else {
        // An early stop (| head) or an error in the middle of COPY TO leaves the client waiting
        // on a COPY it will never finish (NEXT-STACK.md §3): drop the connection instead.
        copy?.abandon();
        const c = client as unknown as { connection?: { stream?: { destroy(): void } } };
        c.connection?.stream?.destroy();
        await Promise.race([client.end().catch(() => {}), new Promise((r) => setTimeout(r, 200).unref())]);
      }
    }
  }

  checkpoints(): Checkpoint[] {
    return this.done;
  }
}

export const open: SourceOpener = async (req: SourceRequest, io: Io) => {
  const target = resolveTarget({ db: req.sql?.db, sslmode: req.sql?.sslmode, appName: 'bx-extract' }, io.env);
  return new PostgresSource(req, io, target);
};
