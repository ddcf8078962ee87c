// Records → PostgreSQL COPY text format, one string per batch (STACK.md: per-row writes cost
// 15x; per-row JS work sets the pace). COPY text: columns split by TAB, rows by newline, \N is
// NULL, and a backslash starts an escape. Unescaped, a field holding `\.` ends the data on
// PostgreSQL 15 (later rows vanish and COPY reports success) and `\N` becomes NULL.
import { DataError, type Origin } from '../lib/errors.js';
import type { RecordBatch, Rec } from '../lib/records.js';

// Everything that needs an escape or a check: backslash, the separators, NUL, and surrogates
// (a lone one, from a JSON \ud800 escape, is not valid UTF-8).
const SPECIAL = /[\\\n\r\t\0\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Lineage fields added by `bx-extract --lineage`: used in messages, loaded only into columns of that name. */
export const LINEAGE = ['_file', '_line'] as const;

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

export interface EncodeResult {
  text: string;
  /** Records encoded from the batch (all, unless one needs a column the COPY does not list). */
  count: number;
  /** When count < batch size: the table column the next record needs added to the COPY list. */
  needs?: string[];
}

/**
 * Encodes records to COPY text for a fixed list of columns. A field missing from a record
 * loads as NULL; a field that is no column is an error (unless ignoreExtra), except the
 * lineage fields; a field that is a column not yet in the COPY list stops the batch there
 * (`needs`), so the caller can start a COPY with the longer list.
 */
export class CopyEncoder {
  /** COPY row number (1-based, per COPY statement) → the record's origin and lineage. */
  origins = new OriginMap();
  lineage = new OriginMap();
  /** Rows encoded so far, over every COPY statement of the load. */
  rows = 0;
  /** `rows` when the current COPY statement started: COPY numbers its lines from there. */
  private copyStart = 0;
  private inList: Set<string>;

  constructor(
    private columns: string[],
    /** Every column of the table (the COPY list is a subset). */
    private readonly tableColumns: Set<string>,
    private readonly ignoreExtra: boolean,
    /** An extra value per row after the columns: the COPY row number (upsert staging). */
    private readonly rowNumber = false,
    /** Checked on each record after encoding (replace-where's partition check). */
    private readonly check?: (rec: Rec, at: Origin) => void,
  ) {
    this.inList = new Set(columns);
  }

  /** A new COPY statement with a longer column list; its lines count from 1 again. */
  widen(columns: string[]) {
    this.columns = columns;
    this.inList = new Set(columns);
    this.copyStart = this.rows;
  }

  encode(batch: RecordBatch, from = 0): EncodeResult {
    const cols = this.columns;
    const ncol = cols.length;
    const recs = batch.records;
    const lineageLoaded = this.inList.has('_file');
    let text = '';
    let i = from;
    for (; i < recs.length; i++) {
      const rec = recs[i];
      let found = 0;
      let row = '';
      let c = 0;
      try {
        for (; c < ncol; c++) {
          const v = rec[cols[c]];
          if (v !== undefined) found++;
          row += c === 0 ? copyValue(v) : '\t' + copyValue(v);
        }
      } catch (err) {
        if (err instanceof ValueProblem) throw new DataError({ file: batch.name, line: batch.lines[i] }, cols[c], `value ${err.message}`);
        throw err;
      }
      // Cheap unknown-field check: count the keys only; find which one only on a mismatch.
      let keys = 0;
      for (const _ in rec) keys++;
      if (keys !== found) {
        const needs = this.extraKeys(rec, batch, i);
        if (needs.length > 0) return { text, count: i - from, needs };
      }
      const at = { file: batch.name, line: batch.lines[i] };
      if (this.check) this.check(rec, at);
      this.rows++;
      if (this.rowNumber) row += '\t' + this.rows;
      text += row + '\n';
      this.origins.add(this.rows, batch.name, batch.lines[i]);
      if (!lineageLoaded && typeof rec._file === 'string' && typeof rec._line === 'number') this.lineage.add(this.rows, rec._file, rec._line);
    }
    return { text, count: i - from };
  }

  /** Keys of `rec` outside the COPY list: columns to add, lineage to skip, or an error. */
  private extraKeys(rec: Rec, batch: RecordBatch, i: number): string[] {
    const needs: string[] = [];
    for (const k of Object.keys(rec)) {
      if (this.inList.has(k)) continue;
      if (this.tableColumns.has(k)) needs.push(k);
      else if (!this.ignoreExtra && k !== '_file' && k !== '_line') {
        throw new DataError({ file: batch.name, line: batch.lines[i] }, k, `no column of that name in the table${longNameHint(k)} (--ignore-extra skips unknown fields)`);
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

/** PostgreSQL keeps the first 63 bytes of a name; a longer field can never match a column. */
export const MAX_IDENT_BYTES = 63;

export function longNameHint(name: string): string {
  return Buffer.byteLength(name) > MAX_IDENT_BYTES ? `; the name is ${Buffer.byteLength(name)} bytes, longer than PostgreSQL's ${MAX_IDENT_BYTES}-byte limit` : '';
}

/** A name cut to 63 bytes as PostgreSQL does (never inside a UTF-8 character). */
export function truncateIdent(name: string): string {
  const buf = Buffer.from(name);
  if (buf.length <= MAX_IDENT_BYTES) return name;
  let end = MAX_IDENT_BYTES;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString();
}
