// CSV and TSV files (the stringify half of csv.ts).
//
// Columns: the first record's keys, in its order (the order it carries, KEY_ORDER). A later
// record may lack some of them (an empty cell, as null); a later record with a key the first
// lacks is a DataError naming its line and the field, and the sink leaves nothing behind: a CSV
// file has one header, and a column that appears on row 90 000 has no place in it.
//
// Cells: a string as it is; null (and a missing key) empty; true/false; a number as JSON
// writes it (the shortest text that reads back as the same double, as in the NDJSON); numbers
// that a double cannot hold exactly already travel as strings of their digits and go out as
// those digits, never through a float; an object or array as its JSON text.
//
// CSV quoting is RFC 4180: a cell holding the delimiter, a double quote, CR or LF is quoted and
// its quotes doubled; nothing else is quoted. Lines end with LF (as csv-stringify's default and
// POSIX tools; bx-extract, spreadsheets and PostgreSQL COPY read both). TSV has no quoting
// convention (IANA text/tab-separated-values: "fields that contain tabs are not allowable"), and
// bx-extract reads TSV unquoted: a value holding a tab, CR or LF is refused with a DataError
// naming its line and field, never escaped into something no reader takes back.
//
// --csv-safe (OWASP "CSV Injection"): a cell starting with = + - @ TAB or CR gets a leading ',
// so that a spreadsheet shows it as text instead of running it as a formula. A plain negative
// number (-12.5, -3, -1.5e-7: optional minus, digits, optional fraction and exponent, nothing
// else) is left alone, because no spreadsheet runs it and prefixing would turn numbers into
// text. Header cells get the same treatment.
//
// Hot path: this hand-written escaper (one regex test per cell, one string per batch), not
// csv-stringify. bench/writers.sh, 1 M sales records (12 string fields) already parsed, records
// to CSV text only, in batches of 1000, median of 3 alternating runs on 2026-12-02 (2 cores at
// load average ~18, so absolute figures are low): this escaper 114 579 rows/s, csv-stringify's
// sync stringify() of the same rows as arrays 31 986 rows/s: 3.58x. csv-stringify stays as the
// reference the tests compare this escaper with, byte for byte (test/formats/writers.test.ts).
import type { Writable } from 'node:stream';
import { DataError, UsageError } from '../lib/errors.js';
import { keyOrderOf } from '../lib/json.js';
import { originOfRecord } from '../lib/lineage.js';
import { parseRecord } from '../lib/records.js';
import type { Batch, Rec } from '../lib/stream.js';
import { put, type FormatWriter, type WriteOptions, type Writer } from './writer.js';

export const csvWriter: Writer = (out, opts) => new DelimitedWriter(out, opts, false);
export const tsvWriter: Writer = (out, opts) => new DelimitedWriter(out, opts, true);

/** A record's keys in the order it is written: the order it carries, then any others. */
export function keysOf(rec: Rec): string[] {
  const order = keyOrderOf(rec);
  if (order === undefined) return Object.keys(rec);
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const k of order) if (!seen.has(k) && Object.hasOwn(rec, k)) (seen.add(k), keys.push(k));
  for (const k in rec) if (!seen.has(k)) (seen.add(k), keys.push(k));
  return keys;
}

/** A batch's records: its objects, or its NDJSON lines parsed when it came as bytes only. */
export function recordsOf(b: Batch): Rec[] {
  if (b.records.length > 0 || !b.ndjson) return b.records;
  const text = b.ndjson.toString('utf8');
  const recs: Rec[] = [];
  let from = 0;
  for (let i = 0; i < b.lines.length; i++) {
    const nl = text.indexOf('\n', from);
    const end = nl === -1 ? text.length : nl;
    recs.push(parseRecord(text.slice(from, end), { file: b.name, line: b.lines[i] }));
    from = end + 1;
  }
  return recs;
}

/** A value as the text of one cell, before quoting. */
export function cellText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

// OWASP's formula triggers; a plain negative number is no formula.
const FORMULA_START = /^[=+\-@\t\r]/;
const NEGATIVE_NUMBER = /^-(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** --csv-safe: a leading ' on a cell a spreadsheet would run (see the head of this file). */
export const safeCell = (s: string): string => (FORMULA_START.test(s) && !NEGATIVE_NUMBER.test(s) ? "'" + s : s);

const TSV_BAD = /[\t\n\r]/;

class DelimitedWriter implements FormatWriter {
  private columns: string[] | undefined;
  private index: Map<string, number> | undefined;
  private readonly delim: string;
  private readonly needsQuote: RegExp;
  private started = false;

  constructor(
    private readonly out: Writable,
    private readonly opts: WriteOptions,
    private readonly tsv: boolean,
  ) {
    const d = opts.delimiter ?? (tsv ? '\t' : ',');
    if (tsv && d !== '\t')
      throw new UsageError(
        `--delimiter ${JSON.stringify(d)}: --to tsv is tab-separated; use --to csv --delimiter for another one`,
      );
    if (!tsv && d === '"')
      throw new UsageError('--delimiter: the double quote is the CSV quote character, it cannot be the delimiter');
    this.delim = d;
    this.needsQuote = new RegExp(`[${d.replace(/[\\\]^-]/g, '\\$&')}"\\n\\r]`);
  }

  /** One cell, quoted when it must be (CSV) or refused (TSV). */
  private cell(s: string, rec: Rec, name: string, line: number, field: string): string {
    if (this.opts.csvSafe && s.length > 0) s = safeCell(s);
    if (this.tsv) {
      if (TSV_BAD.test(s)) {
        const what = s.includes('\t') ? 'a tab' : 'a line break';
        throw new DataError(
          originOfRecord(rec, name, line),
          field,
          `the value holds ${what}, which TSV cannot carry (it has no quoting); use --to csv`,
        );
      }
      return s;
    }
    return this.needsQuote.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }

  async write(b: Batch): Promise<void> {
    const recs = recordsOf(b);
    if (recs.length === 0) return;
    let text = '';
    if (!this.started) {
      this.started = true;
      if (this.opts.bom) text += '\uFEFF';
      this.columns = keysOf(recs[0]);
      this.index = new Map(this.columns.map((k, i) => [k, i]));
      if (this.opts.header) {
        const r = recs[0];
        const head = this.columns.map((k) => this.cell(k, r, b.name, b.lines[0], k)).join(this.delim);
        text +=
          (head.length === 0 && this.columns.length === 1 ? this.blankRow(r, b.name, b.lines[0], '') : head) + '\n';
      }
    }
    const cols = this.columns!;
    const n = cols.length;
    const d = this.delim;
    // Plain CSV (no --csv-safe) quotes inline: one regex test per cell, no call.
    const plain = !this.tsv && !this.opts.csvSafe;
    const q = this.needsQuote;
    for (let i = 0; i < recs.length; i++) {
      const rec = recs[i];
      this.checkKeys(rec, b.name, b.lines[i]);
      let row = '';
      for (let j = 0; j < n; j++) {
        const v = rec[cols[j]];
        const s = typeof v === 'string' ? v : cellText(v);
        if (j > 0) row += d;
        if (s.length === 0) continue;
        if (plain) row += q.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
        else row += this.cell(s, rec, b.name, b.lines[i], cols[j]);
      }
      // One empty cell alone is a blank line, which readers skip (bx-extract, csv-parse):
      // quoted it stays a row, as Python's csv module writes it. TSV cannot quote.
      if (row.length === 0 && n === 1) row = this.blankRow(rec, b.name, b.lines[i], cols[0]);
      text += row + '\n';
    }
    await put(this.out, text);
  }

  private blankRow(rec: Rec, name: string, line: number, field: string): string {
    if (!this.tsv) return '""';
    throw new DataError(
      originOfRecord(rec, name, line),
      field,
      'an empty value alone on its row makes a blank line, which TSV readers skip; use --to csv',
    );
  }

  /** A key the first record lacks has no column: a DataError, before anything of the record is written. */
  private checkKeys(rec: Rec, name: string, line: number) {
    const cols = this.columns!;
    let j = 0;
    for (const k in rec) {
      // The common case: the same keys in the same order, one string compare each.
      if (cols[j] !== k && !this.index!.has(k)) {
        const shown = cols.length > 8 ? `${cols.slice(0, 8).join(', ')}, …` : cols.join(', ');
        throw new DataError(
          originOfRecord(rec, name, line),
          k,
          `not a column of this ${this.tsv ? 'TSV' : 'CSV'} file (the columns are the first record's fields: ${shown}); give every record the first record's fields (bx-clean --keep/--drop)`,
        );
      }
      j++;
    }
  }

  async end(): Promise<void> {
    // No records: an empty file (not even a header: no first record named the columns), with
    // the BOM if asked, so that a spreadsheet still opens it as UTF-8.
    if (!this.started && this.opts.bom) await put(this.out, '\uFEFF');
  }
}
