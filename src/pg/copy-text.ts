// Records → PostgreSQL COPY text format, one write per batch (STACK.md: per-row writes cost
// 15x; per-row JS work sets the pace): NDJSON lines transcoded byte by byte into a slab, records
// (the general path) as strings. COPY text: columns split by TAB, rows by newline, \N is
// NULL, and a backslash starts an escape. Unescaped, a field holding `\.` ends the data on
// PostgreSQL 15 (later rows vanish and COPY reports success) and `\N` becomes NULL.
import { lineageOf, originOfRecord } from '../lib/lineage.js';
import { longNameHint } from '../lib/ident.js';
import { DataError, type Origin } from '../lib/errors.js';
import { exactNumber } from '../lib/json.js';
import { lineText, parseRecord, type LineRecordBatch, type RecordBatch, type Rec } from '../lib/records.js';
import { ByteSlab } from '../lib/slab.js';
import { LineShape } from './copy-shape.js';
import { coveringWords, firstByte, notPlain, sameWords, ViewCache } from '../lib/swar.js';

// Everything that needs an escape or a check: backslash, the separators, NUL, and surrogates
// (a lone one, from a JSON \ud800 escape, is not valid UTF-8).
const SPECIAL = /[\\\n\r\t\0\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Lineage fields added by `bx-extract --lineage`: used in messages, loaded only into columns of that name. */

/** The error of one record: which record, which field, what is wrong. */
export type RecordProblem = (at: Origin, field: string | undefined, detail: string) => DataError;

/** One text value as COPY text, escaped. Throws the detail text for NUL or invalid UTF-8. */
export function copyString(s: string): string {
  if (!SPECIAL.test(s)) return s;
  if (s.includes('\0')) throw new ValueProblem('holds a NUL byte, which PostgreSQL text cannot store');
  if (LONE_SURROGATE.test(s)) throw new ValueProblem('is not valid UTF-8 (a lone UTF-16 surrogate from a \\u escape)');
  return s.replace(/[\\\n\r\t]/g, escapeChar);
}

const escapeChar = (c: string) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t');

class ValueProblem extends Error {}

/**
 * One value as COPY text. Strings load as they are (bx-load does no typing: dates and numbers
 * in strings reach the server's input functions unchanged); numbers by their JSON text (big
 * ones already travel as strings, so they arrive exactly); booleans as true/false; nested
 * objects and arrays as JSON, for json/jsonb columns.
 */
export function copyValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return copyString(v);
    case 'number':
      return Object.is(v, -0) ? '0' : String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
      return '\\N';
    case 'object':
      return v === null ? '\\N' : copyString(JSON.stringify(v));
    default:
      return copyString(String(v));
  }
}

/** A column whose JSON value needs the column's own text form: bytea (base64 in JSON) and arrays. */
export type ColumnKind = 'bytea' | 'array' | 'bytea[]';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A JSON string for a bytea: base64 (as bx-extract writes bytea) → bytea's hex input `\x…`; `\x…` as it is. */
function byteaInput(s: string): string {
  if (s.startsWith('\\x')) return s;
  if (!BASE64.test(s))
    throw new ValueProblem('is not base64 (a bytea column takes base64, as bx-extract writes bytea)');
  return '\\x' + Buffer.from(s, 'base64').toString('hex');
}

/**
 * A JSON array as PostgreSQL's array input: `{1,2,NULL}`, `{"a b","c\\"d"}`, `{{1,2},{3,4}}`.
 * Every string element is quoted (and its " and \ escaped), so commas, braces, spaces and the
 * word NULL stay text; null is NULL; nested arrays are the inner dimensions.
 */
export function arrayInput(v: unknown[], bytea = false): string {
  let s = '{';
  for (let i = 0; i < v.length; i++) {
    if (i > 0) s += ',';
    const e = v[i];
    if (e === null || e === undefined) s += 'NULL';
    else if (Array.isArray(e)) s += arrayInput(e, bytea);
    else if (typeof e === 'number') s += Object.is(e, -0) ? '0' : String(e);
    else if (typeof e === 'boolean') s += e ? 'true' : 'false';
    else {
      const text = typeof e === 'string' ? (bytea ? byteaInput(e) : e) : JSON.stringify(e);
      s += '"' + text.replace(/["\\]/g, '\\$&') + '"';
    }
  }
  return s + '}';
}

/** One value for a bytea or array column as COPY text; other values as copyValue. */
export function copyKindValue(kind: ColumnKind, v: unknown): string {
  if (kind === 'bytea' && typeof v === 'string') return copyString(byteaInput(v));
  if (kind !== 'bytea' && Array.isArray(v)) return copyString(arrayInput(v, kind === 'bytea[]'));
  return copyValue(v);
}

/**
 * Where each COPY row came from, as runs of consecutive lines: a million rows read in order
 * cost a handful of runs, not a number each, so memory stays flat however large the input.
 */
export class OriginMap {
  // Parallel arrays, one entry per run: first COPY row, file, first line, and the lineage.
  private rows: number[] = [];
  private files: string[] = [];
  private lines: number[] = [];
  private lastRow = -2;
  private lastLine = -2;
  private lastFile = '';

  add(row: number, file: string, line: number) {
    if (row === this.lastRow + 1 && line === this.lastLine + 1 && file === this.lastFile) {
      this.lastRow = row;
      this.lastLine = line;
      return;
    }
    this.rows.push(row);
    this.files.push(file);
    this.lines.push(line);
    this.lastRow = row;
    this.lastLine = line;
    this.lastFile = file;
  }

  get(row: number): Origin | undefined {
    // Last run starting at or before `row` (binary search).
    let lo = 0;
    let hi = this.rows.length - 1;
    if (hi < 0 || row < this.rows[0] || row > this.lastRow) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.rows[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.files[lo], line: this.lines[lo] + (row - this.rows[lo]) };
  }
}

export interface EncodeResult<T = string> {
  /** The COPY rows. */
  text: T;
  /** Records encoded from the batch (all, unless one needs a column the COPY does not list). */
  count: number;
  /** When count < batch size: the table column the next record needs added to the COPY list. */
  needs?: string[];
}

/** replace-where: every record must hold this value (as COPY text) in this column. */
export interface PartitionCheck {
  column: string;
  value: string;
}

// What a key of a record line is to the fast path (a COPY list index is >= 0).
const SKIP = -1; // --ignore-extra: a field that is no column
const FILE = -2; // lineage, not loaded
const LINE = -3;
const SLOW = -4; // anything the record path must decide: a column to add, an error

/**
 * Encodes records to COPY text for a fixed list of columns. A field missing from a record
 * loads as NULL; a field that is no column is an error (unless ignoreExtra), except the
 * lineage fields; a field that is a column not yet in the COPY list stops the batch there
 * (`needs`), so the caller can start a COPY with the longer list.
 *
 * encodeLines transcodes NDJSON lines straight from their bytes to COPY rows (transcode) when
 * a line is a flat object of known columns; any other line is parsed and encoded as a record,
 * so errors and results are those of encode.
 */
export class CopyEncoder {
  /** COPY row number (1-based, per COPY statement) → the record's origin and lineage. */
  origins = new OriginMap();
  lineage = new OriginMap();
  /** Rows encoded so far, over every COPY statement of the load. */
  rows = 0;
  /** Lines transcoded from their bytes (the rest went through parseRecord). */
  fastRows = 0;
  /** Of those, lines read by the shape path (laid out as the line before). */
  shapeRows = 0;
  /** `rows` when the current COPY statement started: COPY numbers its lines from there. */
  private copyStart = 0;
  private inList!: Set<string>;
  private lineageLoaded!: boolean;
  // The fast path: key → slot, and the keys (`"name":` as bytes) and slots of the previous
  // line, which the next line most likely repeats.
  private slots!: Map<string, number>;
  private keyTokens: Uint8Array[] = [];
  private keySlots: number[] = [];
  /** The key bytes as little-endian 32-bit words, compared four bytes at a time. */
  private keyWords: Int32Array[] = [];
  private readonly inViews = new ViewCache();
  private readonly outViews = new ViewCache();
  /** Per column, for the line being transcoded: its value's bytes in the output, and the line that set it. */
  private valueStart = new Int32Array(0);
  private valueEnd = new Int32Array(0);
  private valueLine = new Int32Array(0);
  private lineStamp = 0;
  /** Per COPY column, its kind when its values need converting. */
  private converted: (ColumnKind | undefined)[] | undefined;
  private partitionIndex = -1;
  private partitionBytes: Buffer | undefined;
  private lineFile: string | undefined;
  private lineLine: number | undefined;
  /** COPY rows are written here; each encodeLines result is a view of it. */
  private readonly slab = new ByteSlab();
  /** A row whose keys are out of column order is rebuilt from here. */
  private scratch = Buffer.allocUnsafe(4096);
  /** Per key of the line being transcoded (in key order, for the first ncol keys): where its value starts and ends in the line. */
  private inValueStart = new Int32Array(0);
  private inValueEnd = new Int32Array(0);
  /** Set by transcode when the line was all columns, each once, in column order (a shape to learn). */
  private plain = false;
  /** The shape path (see shaped): the separators of the last plain line, bytes and covering words. */
  private readonly shape = new LineShape();

  constructor(
    private columns: string[],
    /** Every column of the table (the COPY list is a subset). */
    private readonly tableColumns: Set<string>,
    private readonly ignoreExtra: boolean,
    /** An extra value per row after the columns: the COPY row number (upsert staging). */
    private readonly rowNumber = false,
    /** replace-where's partition, checked on each record. */
    private readonly partition?: PartitionCheck,
    /** Columns whose values need their own text form (bytea, arrays): these take the record path. */
    private readonly kinds?: Map<string, ColumnKind>,
  ) {
    this.setColumns(columns);
  }

  /** A new COPY statement with a longer column list; its lines count from 1 again. */
  widen(columns: string[]) {
    this.setColumns(columns);
    this.copyStart = this.rows;
  }

  private setColumns(columns: string[]) {
    this.columns = columns;
    this.inList = new Set(columns);
    this.lineageLoaded = this.inList.has('_file');
    this.slots = new Map(columns.map((c, i) => [c, i]));
    this.converted = this.kinds?.size ? columns.map((c) => this.kinds!.get(c)) : undefined;
    // A line naming a bytea or array column is encoded by the record path, which converts its value.
    if (this.converted) for (const c of columns) if (this.kinds!.has(c)) this.slots.set(c, SLOW);
    // _line loaded without _file: its value is needed both ways; leave that to the record path.
    if (!this.lineageLoaded) this.slots.set('_file', FILE).set('_line', this.inList.has('_line') ? SLOW : LINE);
    this.keyTokens = [];
    this.keySlots = [];
    this.keyWords = [];
    this.valueStart = new Int32Array(columns.length);
    this.valueEnd = new Int32Array(columns.length);
    this.valueLine = new Int32Array(columns.length);
    this.inValueStart = new Int32Array(columns.length);
    this.inValueEnd = new Int32Array(columns.length);
    this.shape.forget();
    this.lineStamp = 0;
    this.partitionIndex = this.partition ? columns.indexOf(this.partition.column) : -1;
    this.partitionBytes = this.partition ? Buffer.from(this.partition.value) : undefined;
  }

  encode(batch: RecordBatch, from = 0): EncodeResult {
    const recs = batch.records;
    let text = '';
    let i = from;
    for (; i < recs.length; i++) {
      const row = this.encodeRecord(recs[i], batch.name, batch.lines[i]);
      if (typeof row !== 'string') return { text, count: i - from, needs: row };
      text += row;
    }
    return { text, count: i - from };
  }

  /** The batch index of the line the last encodeLines call failed on. */
  failedLine = -1;

  /** After encodeLines threw: the COPY rows of the lines before the one that failed. */
  pending(): Buffer {
    return this.slab.take();
  }

  /**
   * encodeLines keeps its rows (returns an empty text) until this many bytes are waiting, so
   * that one write carries the rows of several input batches; rest() hands on what waits. 0
   * (the default, and --rejects' pieces) hands on each batch's rows.
   */
  holdBelow = 0;

  /** The rows encodeLines kept back (holdBelow), for the last write of a COPY or an idle input. */
  rest(): Buffer {
    return this.slab.take();
  }

  /** Bytes of rows kept back (holdBelow) and not yet handed on. */
  get held(): number {
    return this.slab.pending;
  }

  /** encode for lines not yet parsed: the same COPY text (as bytes), errors and `needs`. */
  encodeLines(batch: LineRecordBatch, from = 0): EncodeResult<Buffer> {
    const { buf, starts, ends, lines, name } = batch;
    const slab = this.slab;
    // Room for a row: each input byte gives at most one, but for a few bytes a number may
    // grow by ("1e21" → "1e+21"); then \N and a tab per missing column, the row number, LF.
    const slack = 3 * this.columns.length + 32;
    let i = from;
    for (; i < lines.length; i++) {
      const s = starts[i];
      const e = ends[i];
      slab.room(2 * (e - s) + slack);
      let p = this.shape.n > 0 ? this.shaped(buf, s, e, slab.buf, slab.p) : -1;
      if (p >= 0) this.shapeRows++;
      else {
        p = this.transcode(buf, s, e, slab.buf, slab.p);
        if (p >= 0 && this.plain) this.shape.learn(buf, s, e, this.inValueStart, this.inValueEnd);
      }
      if (p >= 0) {
        this.fastRows++;
        slab.p = this.endRow(slab.buf, p, name, lines[i]);
        continue;
      }
      let row: string | string[];
      try {
        row = this.encodeRecord(parseRecord(lineText(batch, i), { file: name, line: lines[i] }), name, lines[i]);
      } catch (err) {
        // The rows of lines from..i-1 stay in the slab: pending() hands them on (bx-load --rejects).
        this.failedLine = i;
        throw err;
      }
      if (typeof row !== 'string') return { text: slab.take(), count: i - from, needs: row };
      slab.room(3 * row.length);
      slab.p += slab.buf.write(row, slab.p);
    }
    return { text: slab.pending >= this.holdBelow ? slab.take() : HELD, count: i - from };
  }

  /** One record as a COPY row (with its newline), or the columns it needs added first. */
  private encodeRecord(rec: Rec, name: string, line: number): string | string[] {
    const cols = this.columns;
    const ncol = cols.length;
    let found = 0;
    let row = '';
    let c = 0;
    const converted = this.converted;
    try {
      for (; c < ncol; c++) {
        let v = rec[cols[c]];
        // Not Object.prototype's (a column named constructor or __proto__ missing from the record).
        if ((typeof v === 'function' || v === Object.prototype) && !Object.hasOwn(rec, cols[c])) v = undefined;
        if (v !== undefined) found++;
        const kind = converted?.[c];
        const text = kind ? copyKindValue(kind, v) : copyValue(v);
        row += c === 0 ? text : '\t' + text;
      }
    } catch (err) {
      // The record's own origin (its _file/_line lineage) when it carries one, not this stage's stdin line.
      if (err instanceof ValueProblem)
        throw new DataError(originOfRecord(rec, name, line), cols[c], `value ${err.message}`);
      throw err;
    }
    // Cheap unknown-field check: count the keys only; find which one only on a mismatch.
    let keys = 0;
    for (const _ in rec) keys++;
    if (keys !== found) {
      const needs = this.extraKeys(rec, name, line);
      if (needs.length > 0) return needs;
    }
    const p = this.partition;
    if (p) {
      const v = rec[p.column];
      if (v === undefined || v === null || copyValue(v) !== p.value) {
        throw new DataError(
          { file: name, line },
          p.column,
          `value ${v === undefined ? 'missing' : JSON.stringify(v)} is outside the partition being replaced (--replace-where ${p.column}=${p.value})`,
        );
      }
    }
    const at = lineageOf(rec);
    this.addRow(name, line, at?.file, at?.line);
    return this.rowNumber ? `${row}\t${this.rows}\n` : row + '\n';
  }

  /** Counts a row and keeps where it came from. */
  private addRow(name: string, line: number, file: string | undefined, lineageLine: number | undefined) {
    this.rows++;
    this.origins.add(this.rows, name, line);
    if (!this.lineageLoaded && file !== undefined && lineageLine !== undefined)
      this.lineage.add(this.rows, file, lineageLine);
  }

  /** The end of a transcoded row: its number (upsert staging) and the newline. */
  private endRow(out: Buffer, p: number, name: string, line: number): number {
    this.addRow(name, line, this.lineFile, this.lineLine);
    if (this.rowNumber) {
      out[p++] = 0x09;
      const d = String(this.rows);
      for (let k = 0; k < d.length; k++) out[p++] = d.charCodeAt(k);
    }
    out[p++] = 0x0a;
    return p;
  }

  /**
   * One NDJSON line (`buf` from `s` to `e`, valid UTF-8) straight to a COPY row at `out[p]`,
   * walking its bytes once; returns where the row ends (before its newline). For an object of
   * strings, numbers, booleans and nulls whose keys are columns (or lineage, or skipped by
   * --ignore-extra). -1 for anything else — nesting, escapes in keys, duplicate keys,
   * a value COPY cannot hold, invalid JSON — which the record path decides, having written
   * nothing. A JSON string holds no raw control character (JSON forbids them), so but for its
   * escapes, its bytes are its COPY text.
   */
  transcode(buf: Buffer, s: number, e: number, out: Buffer, p: number): number {
    const ncol = this.valueStart.length;
    if (ncol === 0) return -1;
    if (this.partition && this.partitionIndex < 0) return -1;
    const stamp = ++this.lineStamp;
    this.plain = false;
    const inStart = this.inValueStart;
    const inEnd = this.inValueEnd;
    let keys = 0;
    const vStart = this.valueStart;
    const vEnd = this.valueEnd;
    const vLine = this.valueLine;
    const tokens = this.keyTokens;
    const tokenSlots = this.keySlots;
    const tokenWords = this.keyWords;
    const view = this.inViews.view(buf);
    const outView = this.outViews.view(out);
    const p0 = p;
    const outEnd = out.length;
    let inOrder = true;
    let next = 0; // the slot that would keep the row in column order
    let lineage = 0;
    this.lineFile = undefined;
    this.lineLine = undefined;
    // JSON's spaces (Python writes `{"a": 1, "b": 2}`) are skipped wherever JSON allows them;
    // no skip runs past the line, which is followed by its newline.
    let i = s;
    i = skipSpace(buf, i);
    if (buf[i] !== 0x7b /* { */) return -1;
    i++;
    i = skipSpace(buf, i);
    if (buf[i] === 0x7d /* } */) {
      i++;
    } else {
      for (let k = 0; ; k++) {
        // The key: most likely the one at this place in the previous line.
        let slot: number;
        const tok = tokens[k];
        let same = tok !== undefined && i + tok.length < e;
        if (same) {
          // Four bytes at a time (the last word overlapping when the length is not a multiple of 4).
          const n = tok.length;
          if (n >= 4) same = sameWords(view, i, n, tokenWords[k]);
          else for (let t = 0; t < n; t++) if (buf[i + t] !== tok[t]) same = false;
        }
        if (same) {
          slot = tokenSlots[k];
          i += tok.length;
        } else {
          if (buf[i] !== 0x22) return -1;
          let j = i + 1;
          for (; j < e; j++) {
            const c = buf[j];
            if (c === 0x22) break;
            if (c === 0x5c || c < 0x20) return -1;
          }
          const colon = skipSpace(buf, j + 1);
          if (j >= e || buf[colon] !== 0x3a /* : */) return -1;
          slot = this.slotOf(buf.toString('utf8', i + 1, j));
          tokens.length = k;
          tokenSlots.length = k;
          const bytes = new Uint8Array(buf.subarray(i, colon + 1));
          tokens.push(bytes);
          this.keyWords.length = k;
          this.keyWords.push(bytes.length >= 4 ? coveringWords(bytes) : EMPTY_WORDS);
          tokenSlots.push(slot);
          i = colon + 1;
        }
        i = skipSpace(buf, i);
        if (slot === SLOW) return -1;
        if (slot >= 0) {
          if (vLine[slot] === stamp) return -1; // a duplicate key: the record path keeps the last
          vLine[slot] = stamp;
          if (slot !== next) inOrder = false;
          if (next > 0) out[p++] = 0x09;
          next++;
        }
        const at = p;
        const valueAt = i;
        if (keys < ncol) inStart[keys] = i;
        let c = buf[i];
        let isString = false;
        if (c === 0x22) {
          // A string: its bytes, with JSON's escapes turned into COPY's.
          isString = true;
          i++;
          // Four bytes at a time: each word is written whole, and the bytes after the first
          // one that is not plain (a control character, quote or backslash) written again
          // after it; near the line's end, byte by byte.
          for (;;) {
            if (i + 4 <= e && p + 4 <= outEnd) {
              const x = view.getInt32(i, true);
              outView.setInt32(p, x, true);
              const m = notPlain(x);
              if (m === 0) {
                i += 4;
                p += 4;
                continue;
              }
              const f = firstByte(m);
              i += f;
              p += f;
            }
            // No bound check: a line is followed by its newline, which stops the loop.
            c = buf[i];
            if (c > 0x22 ? c !== 0x5c : c >= 0x20 && c !== 0x22) {
              out[p++] = c;
              i++;
              continue;
            }
            if (c === 0x22) break;
            if (c !== 0x5c) return -1; // a control character, or the end of the line
            c = buf[i + 1];
            i += 2;
            switch (c) {
              case 0x22: // \"
              case 0x2f: // \/
                out[p++] = c;
                break;
              case 0x5c: // \\
                out[p++] = 0x5c;
                out[p++] = 0x5c;
                break;
              case 0x6e: // \n
              case 0x72: // \r
              case 0x74: // \t
                out[p++] = 0x5c;
                out[p++] = c;
                break;
              case 0x62: // \b: COPY takes it as it is
                out[p++] = 0x08;
                break;
              case 0x66: // \f
                out[p++] = 0x0c;
                break;
              case 0x75: {
                // \uXXXX: NUL and lone surrogates are the record path's errors.
                let u = hex4(buf, i, e);
                if (u <= 0) return -1;
                i += 4;
                if (u >= 0xd800 && u <= 0xdfff) {
                  const low = u < 0xdc00 && buf[i] === 0x5c && buf[i + 1] === 0x75 ? hex4(buf, i + 2, e) : -1;
                  if (low < 0xdc00 || low > 0xdfff) return -1;
                  u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
                  i += 6;
                }
                p = putCodePoint(out, p, u);
                break;
              }
              default:
                return -1;
            }
          }
          i++;
        } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d /* - */) {
          p = this.number(buf, i, e, out, p);
          if (p < 0) return -1;
          i = this.numberEnd;
        } else if (c === 0x74 && buf[i + 1] === 0x72 && buf[i + 2] === 0x75 && buf[i + 3] === 0x65) {
          p = putAscii(out, p, 'true');
          i += 4;
        } else if (
          c === 0x66 &&
          buf[i + 1] === 0x61 &&
          buf[i + 2] === 0x6c &&
          buf[i + 3] === 0x73 &&
          buf[i + 4] === 0x65
        ) {
          p = putAscii(out, p, 'false');
          i += 5;
        } else if (c === 0x6e && buf[i + 1] === 0x75 && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c) {
          out[p++] = 0x5c;
          out[p++] = 0x4e; // \N
          i += 4;
        } else return -1;
        if (keys < ncol) inEnd[keys] = i;
        keys++;
        if (slot >= 0) {
          vStart[slot] = at;
          vEnd[slot] = p;
        } else {
          // Lineage or a skipped field: read, not loaded.
          if (slot === FILE || slot === LINE) {
            const bit = slot === FILE ? 1 : 2;
            if (lineage & bit) return -1;
            lineage |= bit;
            if (slot === FILE) {
              if (!isString) return -1;
              this.lineFile = JSON.parse(buf.toString('utf8', valueAt, i)) as string;
            } else {
              const v = out.toString('latin1', at, p);
              if (isString || !/^-?\d{1,15}$/.test(v)) return -1;
              this.lineLine = +v;
            }
          }
          p = at;
        }
        i = skipSpace(buf, i);
        c = buf[i];
        if (c === 0x2c /* , */) {
          i++;
          i = skipSpace(buf, i);
          continue;
        }
        if (c !== 0x7d) return -1;
        i++;
        break;
      }
    }
    i = skipSpace(buf, i);
    if (i !== e) return -1;
    const pi = this.partitionIndex;
    if (pi >= 0) {
      const want = this.partitionBytes!;
      if (vLine[pi] !== stamp || vEnd[pi] - vStart[pi] !== want.length) return -1;
      for (let k = 0; k < want.length; k++) if (out[vStart[pi] + k] !== want[k]) return -1;
    }
    if (inOrder && next === ncol) {
      this.plain = keys === ncol && pi < 0;
      return p;
    }
    return this.reorder(out, p0, p, stamp);
  }

  /**
   * transcode for a line laid out as the last plain one (LineShape): the bytes around its values
   * are compared with that line's, four at a time, and only the values are read, each as
   * transcode reads it. -1 when a run differs or a value is one transcode must see (a \u
   * escape, anything not a string, number, boolean or null); transcode then starts again.
   */
  private shaped(buf: Buffer, s: number, e: number, out: Buffer, p: number): number {
    const { n, bytes, at, words, wordAt } = this.shape;
    const view = this.inViews.view(buf);
    const outView = this.outViews.view(out);
    const outEnd = out.length;
    let i = s;
    for (let k = 0; ; k++) {
      const a = at[k];
      const len = at[k + 1] - a;
      // A value follows every run but the last, which ends the line.
      if (k === n ? e - i !== len : i + len >= e) return -1;
      if (len >= 8) {
        const w0 = wordAt[k];
        const last = wordAt[k + 1] - 1;
        for (let w = w0; w < last; w++) if (view.getFloat64(i + 8 * (w - w0), true) !== words[w]) return -1;
        if (view.getFloat64(i + len - 8, true) !== words[last]) return -1;
      } else for (let t = 0; t < len; t++) if (buf[i + t] !== bytes[a + t]) return -1;
      i += len;
      if (k === n) break;
      if (k > 0) out[p++] = 0x09;
      let c = buf[i];
      if (c === 0x22) {
        // transcode()'s string loop, written out again here: the two as one method measured
        // 15 -> 18 ms CPU per 50 k sales rows (the encoder alone, minimum of 30 passes).
        i++;
        for (;;) {
          if (i + 4 <= e && p + 4 <= outEnd) {
            const x = view.getInt32(i, true);
            outView.setInt32(p, x, true);
            const m = notPlain(x);
            if (m === 0) {
              i += 4;
              p += 4;
              continue;
            }
            const f = firstByte(m);
            i += f;
            p += f;
          }
          c = buf[i];
          if (c > 0x22 ? c !== 0x5c : c >= 0x20 && c !== 0x22) {
            out[p++] = c;
            i++;
            continue;
          }
          if (c === 0x22) break;
          if (c !== 0x5c) return -1;
          // The two-character escapes, as transcode writes them; \u is transcode's.
          c = buf[i + 1];
          i += 2;
          if (c === 0x22 || c === 0x2f) out[p++] = c;
          else if (c === 0x5c || c === 0x6e || c === 0x74 || c === 0x72) {
            out[p++] = 0x5c;
            out[p++] = c;
          } else if (c === 0x62) out[p++] = 0x08;
          else if (c === 0x66) out[p++] = 0x0c;
          else return -1;
        }
        i++;
      } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
        // Copied as it is read; kept when number() would copy it as it is too (an integer of 1 to
        // 15 digits, a shortDecimal), else number() writes it again from q.
        const q = p;
        let j = i;
        if (c === 0x2d) {
          out[p++] = c;
          c = buf[++j];
        }
        const d0 = j;
        while (c >= 0x30 && c <= 0x39) {
          out[p++] = c;
          c = buf[++j];
        }
        const intDigits = j - d0;
        const zero = buf[d0] === 0x30;
        let ok = intDigits >= 1 && (!zero || intDigits === 1);
        if (c === 0x2e) {
          out[p++] = c;
          c = buf[++j];
          const f0 = j;
          while (c >= 0x30 && c <= 0x39) {
            out[p++] = c;
            c = buf[++j];
          }
          const fracDigits = j - f0;
          let lead = 0;
          if (zero) while (lead < fracDigits && buf[f0 + lead] === 0x30) lead++;
          ok &&=
            fracDigits >= 1 && buf[j - 1] !== 0x30 && lead <= 5 && (zero ? 0 : intDigits) + fracDigits - lead <= 15;
        } else ok &&= intDigits <= 15 && !(zero && d0 > i);
        if (ok && c !== 0x2e && c !== 0x65 && c !== 0x45 && c !== 0x2b && c !== 0x2d) i = j;
        else {
          p = this.number(buf, i, e, out, q);
          if (p < 0) return -1;
          i = this.numberEnd;
        }
      } else if (c === 0x6e && buf[i + 1] === 0x75 && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c) {
        out[p++] = 0x5c;
        out[p++] = 0x4e; // \N
        i += 4;
      } else if (c === 0x74 && buf[i + 1] === 0x72 && buf[i + 2] === 0x75 && buf[i + 3] === 0x65) {
        p = putAscii(out, p, 'true');
        i += 4;
      } else if (
        c === 0x66 &&
        buf[i + 1] === 0x61 &&
        buf[i + 2] === 0x6c &&
        buf[i + 3] === 0x73 &&
        buf[i + 4] === 0x65
      ) {
        p = putAscii(out, p, 'false');
        i += 5;
      } else return -1;
    }
    this.lineFile = undefined;
    this.lineLine = undefined;
    return p;
  }

  /** Where the last number() ended in the line. */
  private numberEnd = 0;

  /**
   * The JSON number at `buf[i]` as the record path writes it: String(number), or the digits of
   * a number a double cannot hold (src/lib/json.ts). Plain integers are copied as they are.
   */
  private number(buf: Buffer, i: number, e: number, out: Buffer, p: number): number {
    let j = i;
    let c = buf[j];
    let plain = true;
    if (c === 0x2d) c = buf[++j];
    const digitsAt = j;
    while (j < e) {
      c = buf[j];
      if (c >= 0x30 && c <= 0x39) j++;
      else if (c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) {
        plain = false;
        j++;
      } else break;
    }
    this.numberEnd = j;
    const digits = j - digitsAt;
    if (
      (plain &&
        digits >= 1 &&
        digits <= 15 &&
        (buf[digitsAt] !== 0x30 || digits === 1) &&
        !(digits === 1 && buf[digitsAt] === 0x30 && digitsAt > i)) ||
      shortDecimal(buf, digitsAt, j)
    ) {
      for (let k = i; k < j; k++) out[p++] = buf[k];
      return p;
    }
    const tok = buf.toString('latin1', i, j);
    if (!JSON_NUMBER.test(tok)) return -1;
    const n = exactNumber(tok);
    return putAscii(out, p, typeof n === 'number' ? (Object.is(n, -0) ? '0' : String(n)) : n);
  }

  /** The row from `out[p0]` to `out[p]`, values in key order, rewritten in column order. */
  private reorder(out: Buffer, p0: number, p: number, stamp: number): number {
    const len = p - p0;
    if (this.scratch.length < len) this.scratch = Buffer.allocUnsafe(2 * len);
    const scratch = this.scratch;
    out.copy(scratch, 0, p0, p);
    const { valueStart, valueEnd, valueLine } = this;
    let q = p0;
    for (let c = 0; c < valueStart.length; c++) {
      if (c > 0) out[q++] = 0x09;
      if (valueLine[c] === stamp) {
        for (let k = valueStart[c] - p0; k < valueEnd[c] - p0; k++) out[q++] = scratch[k];
      } else {
        out[q++] = 0x5c;
        out[q++] = 0x4e; // \N
      }
    }
    return q;
  }

  private slotOf(key: string): number {
    const slot = this.slots.get(key);
    if (slot !== undefined) return slot;
    if (this.ignoreExtra && !this.tableColumns.has(key)) return SKIP;
    return SLOW;
  }

  /** Keys of `rec` outside the COPY list: columns to add, lineage to skip, or an error. */
  private extraKeys(rec: Rec, name: string, line: number): string[] {
    const needs: string[] = [];
    for (const k of Object.keys(rec)) {
      if (this.inList.has(k)) continue;
      if (this.tableColumns.has(k)) needs.push(k);
      else if (!this.ignoreExtra && k !== '_file' && k !== '_line') {
        throw new DataError(
          { file: name, line },
          k,
          `no column of that name in the table${longNameHint(k)} (--ignore-extra skips unknown fields)`,
        );
      }
    }
    return needs;
  }

  /** The origin of line `copyLine` of the current COPY statement, with its lineage when known. */
  originOf(copyLine: number): { at: Origin; source?: string } | undefined {
    return this.originOfRow(this.copyStart + copyLine);
  }

  /** The origin of row `row` of the whole load (1-based; the upsert's `__bx_row`). */
  originOfRow(row: number): { at: Origin; source?: string } | undefined {
    const at = this.origins.get(row);
    if (!at) return undefined;
    const l = this.lineage.get(row);
    return { at, source: l ? `${l.file}:${l.line}` : undefined };
  }
}

const EMPTY_WORDS = new Int32Array(0);
const HELD = Buffer.alloc(0);
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * Whether the digits from `a` to `b` (after any minus) are a decimal that String(Number(...))
 * gives back as it is: `int.frac` with no exponent, no needless zero (leading in the integer
 * part, trailing in the fraction), at most 15 significant digits (so no other decimal of 15 or
 * fewer digits is the same double, and the shortest round trip is this one) and not below 1e-6
 * (where JavaScript switches to exponent notation). 387.61, 0.1 and -0.000123 are; 1.50, 1e2,
 * 0.0000001 and 0.12345678901234567 are not (those take exactNumber).
 */
function shortDecimal(buf: Buffer, a: number, b: number): boolean {
  let k = a;
  let c = buf[k];
  const zero = c === 0x30;
  if (zero) k++;
  else if (c >= 0x31 && c <= 0x39) while (k < b && (c = buf[k]) >= 0x30 && c <= 0x39) k++;
  else return false;
  const intDigits = zero ? 0 : k - a;
  if (buf[k] !== 0x2e /* . */) return false;
  const frac = ++k;
  while (k < b && (c = buf[k]) >= 0x30 && c <= 0x39) k++;
  if (k !== b || k === frac || buf[b - 1] === 0x30) return false;
  let lead = 0;
  if (zero) while (buf[frac + lead] === 0x30) lead++;
  return lead <= 5 && intDigits + (b - frac) - lead <= 15;
}

/** The index of the first byte at or after `i` that is not JSON whitespace (a line ends in LF, which stops it). */
function skipSpace(buf: Buffer, i: number): number {
  let c = buf[i];
  while (c === 0x20 || c === 0x09 || c === 0x0d) c = buf[++i];
  return i;
}

/** The four hex digits at buf[i] as a number, or -1. */
function hex4(buf: Buffer, i: number, e: number): number {
  if (i + 4 > e) return -1;
  let u = 0;
  for (let k = i; k < i + 4; k++) {
    const c = buf[k];
    const d =
      c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (d < 0) return -1;
    u = (u << 4) | d;
  }
  return u;
}

/** A code point from a \u escape as COPY text: UTF-8, with COPY's escapes for \ LF CR TAB. */
function putCodePoint(out: Buffer, p: number, u: number): number {
  if (u < 0x80) {
    if (u === 0x5c || u === 0x0a || u === 0x0d || u === 0x09) {
      out[p++] = 0x5c;
      out[p++] = u === 0x5c ? 0x5c : u === 0x0a ? 0x6e : u === 0x0d ? 0x72 : 0x74;
    } else out[p++] = u;
  } else if (u < 0x800) {
    out[p++] = 0xc0 | (u >> 6);
    out[p++] = 0x80 | (u & 0x3f);
  } else if (u < 0x10000) {
    out[p++] = 0xe0 | (u >> 12);
    out[p++] = 0x80 | ((u >> 6) & 0x3f);
    out[p++] = 0x80 | (u & 0x3f);
  } else {
    out[p++] = 0xf0 | (u >> 18);
    out[p++] = 0x80 | ((u >> 12) & 0x3f);
    out[p++] = 0x80 | ((u >> 6) & 0x3f);
    out[p++] = 0x80 | (u & 0x3f);
  }
  return p;
}

function putAscii(out: Buffer, p: number, s: string): number {
  for (let k = 0; k < s.length; k++) out[p++] = s.charCodeAt(k);
  return p;
}

export { MAX_IDENT_BYTES, truncateIdent, longNameHint } from '../lib/ident.js';
