// Records → PostgreSQL COPY text format, one string per batch (STACK.md: per-row writes cost
// 15x; per-row JS work sets the pace). COPY text: columns split by TAB, rows by newline, \N is
// NULL, and a backslash starts an escape. Unescaped, a field holding `\.` ends the data on
// PostgreSQL 15 (later rows vanish and COPY reports success) and `\N` becomes NULL.
import { DataError, type Origin } from '../lib/errors.js';
import { exactNumber } from '../lib/json.js';
import { parseRecord, type LineRecordBatch, type RecordBatch, type Rec } from '../lib/records.js';

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

/** replace-where: every record must hold this value (as COPY text) in this column. */
export interface PartitionCheck {
  column: string;
  value: string;
}

/** Lines of one key layout: a regex, and per column its capture group (or a literal when 0). */
interface Layout {
  re: RegExp;
  groups: number[];
  /** Per column: a captured string, which may hold escapes. */
  strings: boolean[];
  literals: string[];
  fileGroup: number;
  lineGroup: number;
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
 * encodeLines transcodes NDJSON lines straight to COPY rows (transcodeLine) when a line is a
 * flat object of known columns; any other line is parsed and encoded as a record, so errors
 * and results are those of encode.
 */
export class CopyEncoder {
  /** COPY row number (1-based, per COPY statement) → the record's origin and lineage. */
  origins = new OriginMap();
  lineage = new OriginMap();
  /** Rows encoded so far, over every COPY statement of the load. */
  rows = 0;
  /** Lines transcoded without parsing (the rest went through parseRecord). */
  fastRows = 0;
  /** `rows` when the current COPY statement started: COPY numbers its lines from there. */
  private copyStart = 0;
  private inList!: Set<string>;
  private lineageLoaded!: boolean;
  // The fast path: key → slot, the values of the line being transcoded, and the key tokens
  // (`"name":`) and slots of the previous line, which the next line most likely repeats.
  private slots!: Map<string, number>;
  private values: (string | undefined)[] = [];
  private keyTokens: string[] = [];
  private keySlots: number[] = [];
  private partitionIndex = -1;
  private lineFile: string | undefined;
  private lineLine: number | undefined;
  private lineKinds: string | undefined;
  /** The key layout of recent lines, as one regex; a few, for records that alternate. */
  private layout: Layout | undefined;
  private layouts = new Map<string, Layout>();

  constructor(
    private columns: string[],
    /** Every column of the table (the COPY list is a subset). */
    private readonly tableColumns: Set<string>,
    private readonly ignoreExtra: boolean,
    /** An extra value per row after the columns: the COPY row number (upsert staging). */
    private readonly rowNumber = false,
    /** replace-where's partition, checked on each record. */
    private readonly partition?: PartitionCheck,
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
    // _line loaded without _file: its value is needed both ways; leave that to the record path.
    if (!this.lineageLoaded) this.slots.set('_file', FILE).set('_line', this.inList.has('_line') ? SLOW : LINE);
    this.values = new Array<string | undefined>(columns.length).fill(undefined);
    this.keyTokens = [];
    this.keySlots = [];
    this.layout = undefined;
    this.layouts.clear();
    this.partitionIndex = this.partition ? columns.indexOf(this.partition.column) : -1;
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

  /** encode for lines not yet parsed: the same COPY text, errors and `needs`. */
  encodeLines(batch: LineRecordBatch, from = 0): EncodeResult {
    const { texts, lines, name } = batch;
    let text = '';
    let i = from;
    for (; i < texts.length; i++) {
      const fast = this.transcodeLine(texts[i]);
      if (fast !== undefined) {
        this.fastRows++;
        text += this.finishRow(fast, name, lines[i], this.lineFile, this.lineLine);
        continue;
      }
      const row = this.encodeRecord(parseRecord(texts[i], { file: name, line: lines[i] }), name, lines[i]);
      if (typeof row !== 'string') return { text, count: i - from, needs: row };
      text += row;
    }
    return { text, count: i - from };
  }

  /** One record as a COPY row (with its newline), or the columns it needs added first. */
  private encodeRecord(rec: Rec, name: string, line: number): string | string[] {
    const cols = this.columns;
    const ncol = cols.length;
    let found = 0;
    let row = '';
    let c = 0;
    try {
      for (; c < ncol; c++) {
        let v = rec[cols[c]];
        // Not Object.prototype's (a column named constructor or __proto__ missing from the record).
        if ((typeof v === 'function' || v === Object.prototype) && !Object.hasOwn(rec, cols[c])) v = undefined;
        if (v !== undefined) found++;
        row += c === 0 ? copyValue(v) : '\t' + copyValue(v);
      }
    } catch (err) {
      if (err instanceof ValueProblem) throw new DataError({ file: name, line }, cols[c], `value ${err.message}`);
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
        throw new DataError({ file: name, line }, p.column, `value ${v === undefined ? 'missing' : JSON.stringify(v)} is outside the partition being replaced (--replace-where ${p.column}=${p.value})`);
      }
    }
    const file = rec._file;
    const lineageLine = rec._line;
    return this.finishRow(row, name, line, typeof file === 'string' ? file : undefined, typeof lineageLine === 'number' ? lineageLine : undefined);
  }

  private finishRow(row: string, name: string, line: number, file: string | undefined, lineageLine: number | undefined): string {
    this.rows++;
    if (this.rowNumber) row += '\t' + this.rows;
    this.origins.add(this.rows, name, line);
    if (!this.lineageLoaded && file !== undefined && lineageLine !== undefined) this.lineage.add(this.rows, file, lineageLine);
    return row + '\n';
  }

  /**
   * One NDJSON line straight to a COPY row (without the newline), walking it once: for an
   * object of strings, numbers, booleans and nulls whose keys are columns (or lineage, or
   * skipped by --ignore-extra). undefined for anything else — nesting, escapes in keys,
   * duplicate keys, a value COPY cannot hold, invalid JSON — which the record path decides.
   * A string without a backslash holds no control character (JSON forbids raw ones), so it
   * goes to COPY as it is.
   */
  transcodeLine(s: string): string | undefined {
    const layout = this.layout;
    if (layout !== undefined) {
      const m = layout.re.exec(s);
      if (m !== null) return this.layoutRow(layout, m);
    }
    const row = this.scanLine(s);
    if (row !== undefined && this.lineKinds !== undefined) this.learnLayout(s);
    return row;
  }

  /** A COPY row from the captures of a layout's regex. */
  private layoutRow(layout: Layout, m: RegExpExecArray): string | undefined {
    const { groups, literals } = layout;
    const ncol = groups.length;
    let row = '';
    for (let c = 0; c < ncol; c++) {
      const g = groups[c];
      const v = g > 0 ? (layout.strings[c] ? simpleToCopy(m[g]) : m[g]) : literals[c];
      if (c === this.partitionIndex && v !== this.partition!.value) return undefined;
      row += c === 0 ? v : '\t' + v;
    }
    if (this.partition && this.partitionIndex < 0) return undefined;
    this.lineFile = layout.fileGroup > 0 ? simpleToString(m[layout.fileGroup]) : undefined;
    this.lineLine = layout.lineGroup > 0 ? +m[layout.lineGroup] : undefined;
    return row;
  }

  /**
   * After a line the scanner took: when its values were all plain strings, small integers and
   * literals, one regex for its key layout, which takes the following lines of that layout in
   * one native pass (about 3x faster than the scanner's calls per field).
   */
  private learnLayout(s: string) {
    const kinds = this.lineKinds!;
    // The line's keys are the first tokens (a longer earlier line may have left more).
    if (kinds.includes('X')) return;
    const signature = kinds + this.keyTokens.slice(0, kinds.length).join('');
    let layout = this.layouts.get(signature);
    if (layout === undefined) {
      let source = '^\\{';
      const groups = new Array<number>(this.columns.length).fill(0);
      const strings = new Array<boolean>(this.columns.length).fill(false);
      const literals = new Array<string>(this.columns.length).fill('\\N');
      let fileGroup = 0;
      let lineGroup = 0;
      let g = 0;
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[k];
        const slot = this.keySlots[k];
        const token = this.keyTokens[k];
        source += (k > 0 ? ',' : '') + token.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
        const captured = kind === 'S' || kind === 'I';
        source += kind === 'S' ? SIMPLE_STRING_SOURCE : kind === 'I' ? SIMPLE_INTEGER_SOURCE : LITERALS[kind];
        if (captured) g++;
        if (slot >= 0) {
          strings[slot] = kind === 'S';
          if (captured) groups[slot] = g;
          else literals[slot] = kind === 'N' ? '\\N' : LITERALS[kind];
        } else if (slot === FILE && kind === 'S') fileGroup = g;
        else if (slot === LINE && kind === 'I') lineGroup = g;
      }
      source += '\\}$';
      layout = { re: new RegExp(source), groups, strings, literals, fileGroup, lineGroup };
      if (this.layouts.size >= 64) this.layouts.clear();
      this.layouts.set(signature, layout);
    }
    // A line with spaces between tokens does not match its own layout: keep the one we had.
    if (layout.re.test(s)) this.layout = layout;
  }

  private scanLine(s: string): string | undefined {
    const values = this.values;
    const ncol = values.length;
    if (ncol === 0) return undefined;
    for (let c = 0; c < ncol; c++) values[c] = undefined;
    this.lineFile = undefined;
    this.lineLine = undefined;
    this.lineKinds = undefined;
    let seenLineage = 0;
    const len = s.length;
    let kinds = '';
    let i = 0;
    let ch = s.charCodeAt(0);
    while (ch === 32 || ch === 9 || ch === 13) ch = s.charCodeAt(++i);
    if (ch !== 123 /* { */) return undefined;
    ch = s.charCodeAt(++i);
    while (ch === 32 || ch === 9 || ch === 13) ch = s.charCodeAt(++i);
    if (ch === 125 /* } */) {
      i++;
    } else {
      for (let k = 0; ; k++) {
        if (ch !== 34 /* " */) return undefined;
        // The key: most likely the one at this place in the previous line.
        let slot: number;
        const token = this.keyTokens[k];
        if (token !== undefined && s.startsWith(token, i)) {
          slot = this.keySlots[k];
          i += token.length;
        } else {
          const start = i + 1;
          let j = start;
          for (; j < len; j++) {
            const c = s.charCodeAt(j);
            if (c === 34) break;
            if (c === 92 || c < 32 || (c >= 0xd800 && c <= 0xdfff)) return undefined;
          }
          if (j >= len) return undefined;
          const key = s.slice(start, j);
          slot = this.slotOf(key);
          i = j + 1;
          ch = s.charCodeAt(i);
          while (ch === 32 || ch === 9 || ch === 13) ch = s.charCodeAt(++i);
          if (ch !== 58 /* : */) return undefined;
          i++;
          this.keyTokens.length = k;
          this.keySlots.length = k;
          this.keyTokens.push(`"${key}":`);
          this.keySlots.push(slot);
        }
        if (slot === SLOW) return undefined;
        ch = s.charCodeAt(i);
        while (ch === 32 || ch === 9 || ch === 13) ch = s.charCodeAt(++i);
        // The value, as COPY text.
        let v: string;
        let raw: string | number | undefined; // lineage: the value itself
        SIMPLE_STRING.lastIndex = i + 1;
        if (ch === 34 && SIMPLE_STRING.test(s)) {
          // No \u escape, control character or surrogate: COPY text after a replace at most.
          const body = s.slice(i + 1, SIMPLE_STRING.lastIndex - 1);
          v = simpleToCopy(body);
          raw = slot === FILE ? simpleToString(body) : body;
          i = SIMPLE_STRING.lastIndex;
          kinds += 'S';
        } else if (ch === 34) {
          kinds += 'X';
          const start = i + 1;
          let j = start;
          let escaped = false;
          for (; j < len; j++) {
            const c = s.charCodeAt(j);
            if (c === 34) break;
            if (c === 92) {
              escaped = true;
              j++;
            } else if (c < 32) return undefined;
            else if (c >= 0xd800 && c <= 0xdfff) {
              // Only a pair is valid text; a lone surrogate is the record path's error.
              if (c >= 0xdc00) return undefined;
              const d = s.charCodeAt(j + 1);
              if (!(d >= 0xdc00 && d <= 0xdfff)) return undefined;
              j++;
            }
          }
          if (j >= len) return undefined;
          if (escaped) {
            let str: string;
            try {
              str = JSON.parse(s.slice(i, j + 1)) as string;
              v = copyString(str);
            } catch {
              return undefined;
            }
            raw = str;
          } else {
            v = s.slice(start, j);
            raw = v;
          }
          i = j + 1;
        } else if ((ch >= 48 && ch <= 57) || ch === 45 /* - */) {
          NUMBER.lastIndex = i;
          const m = NUMBER.exec(s);
          if (m === null) return undefined;
          const tok = m[0];
          i += tok.length;
          // Exactly the text the record path writes: String(number), or the digits of a
          // number a double cannot hold (src/lib/json.ts).
          if (SIMPLE_INTEGER.test(tok)) {
            v = tok;
            raw = +tok;
            kinds += 'I';
          } else {
            kinds += 'X';
            const n = exactNumber(tok);
            v = typeof n === 'number' ? (Object.is(n, -0) ? '0' : String(n)) : n;
            raw = n;
          }
        } else if (ch === 116 && s.startsWith('true', i)) {
          v = 'true';
          i += 4;
          kinds += 'T';
        } else if (ch === 102 && s.startsWith('false', i)) {
          v = 'false';
          i += 5;
          kinds += 'F';
        } else if (ch === 110 && s.startsWith('null', i)) {
          v = '\\N';
          i += 4;
          kinds += 'N';
        } else return undefined;
        if (slot >= 0) {
          if (values[slot] !== undefined) return undefined; // a duplicate key: the last one wins
          values[slot] = v;
        } else if (slot === FILE || slot === LINE) {
          const bit = slot === FILE ? 1 : 2;
          if (seenLineage & bit) return undefined;
          seenLineage |= bit;
          if (slot === FILE) this.lineFile = typeof raw === 'string' ? raw : undefined;
          else this.lineLine = typeof raw === 'number' ? raw : undefined;
        }
        ch = s.charCodeAt(i);
        while (ch === 32 || ch === 9 || ch === 13) ch = s.charCodeAt(++i);
        if (ch === 125) {
          i++;
          break;
        }
        if (ch !== 44 /* , */) return undefined;
        ch = s.charCodeAt(++i);
        while (ch === 32 || ch === 9 || ch === 13) ch = s.charCodeAt(++i);
      }
    }
    ch = s.charCodeAt(i);
    while (ch === 32 || ch === 9 || ch === 13) ch = s.charCodeAt(++i);
    if (i < len) return undefined;
    this.lineKinds = kinds;
    if (this.partitionIndex >= 0 && values[this.partitionIndex] !== this.partition!.value) return undefined;
    else if (this.partition && this.partitionIndex < 0) return undefined;
    let row = values[0] ?? '\\N';
    for (let c = 1; c < ncol; c++) row += '\t' + (values[c] ?? '\\N');
    return row;
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
        throw new DataError({ file: name, line }, k, `no column of that name in the table${longNameHint(k)} (--ignore-extra skips unknown fields)`);
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

// A JSON number token, and one whose text is already what String(number) gives back.
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const SIMPLE_INTEGER = /^(?:0|[1-9]\d{0,14})$/;
// The rest of a JSON string without \u escapes, control characters or surrogates: its escapes
// are COPY's, but for \" \/ \b \f (simpleToCopy).
const SIMPLE_STRING = /(?:[^"\\\0-\x1f\ud800-\udfff]|\\["\\/bfnrt])*"/y;
const SIMPLE_STRING_SOURCE = '"((?:[^"\\\\\\0-\\x1f\\ud800-\\udfff]|\\\\["\\\\/bfnrt])*)"';

/**
 * The body of a simple JSON string as COPY text. A \\" is always an escaped quote (an unescaped
 * one would have ended the string), so the common case is one native replace; any other
 * escape goes the way of the record path.
 */
function simpleToCopy(body: string): string {
  if (body.indexOf('\\') === -1) return body;
  const t = body.replaceAll('\\"', '"');
  return t.indexOf('\\') === -1 ? t : copyString(JSON.parse(`"${body}"`) as string);
}

function simpleToString(body: string): string {
  return body.indexOf('\\') === -1 ? body : (JSON.parse(`"${body}"`) as string);
}
const SIMPLE_INTEGER_SOURCE = '(0|-?[1-9]\\d{0,14})';
const LITERALS: Record<string, string> = { T: 'true', F: 'false', N: 'null' };

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
