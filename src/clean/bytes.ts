// bx-clean's byte path (docs/design.md "bx-clean"): a record line cleaned from its bytes, with
// no object built and no JSON.parse/JSON.stringify, which were three quarters of a typed run.
// Only the values a rule touches are looked at: the common types are checked and rewritten on
// their bytes ("12.50" -> 12.5, "7" -> 7, an ISO date kept as it is); other typed values are
// read as one string each and given to the schema's own converter and checks
// (CompiledSchema.typeOne); every other field is copied byte for byte.
//
// The object path stays the reference: line() answers false, having written nothing, for any
// line it cannot write exactly as the object path would (spaces between tokens, nested values,
// escapes in keys, a key twice, a number JavaScript would write otherwise, an integer-like key)
// and for any line some rule refuses; the caller then parses the line and runs the object path,
// which gives the output, the reject or the error.
//
// Measured on the 1 M-row sales NDJSON, every field typed and checked (bench/clean.sh, a 2-core
// machine under a load average of 7-10, alternating runs, two bench runs): 76-91 k rows/s
// through objects, 243-295 k from the bytes (2.7-3.9x; 3.2-4.5x against main's build); Miller's
// `mlr --ijsonl --ojsonl cat` 24-33 k beside them.
import { Canonical, canonicalNumber, hex } from '../formats/ndjson.js';
import { FAILED, type CompiledSchema } from '../lib/convert.js';
import { daysInMonth } from '../lib/dates.js';
import { isIndexKey } from '../lib/json.js';
import type { ByteSlab } from '../lib/slab.js';
import { isDecimal, scaleOf } from '../lib/schema.js';
import {
  anyByteIs,
  anyControl,
  coveringWords,
  firstByte,
  notPlain,
  repeated,
  ViewCache,
  wordsOf,
} from '../lib/swar.js';
import type { CleanOptions } from './steps.js';

// What a field's value becomes (per field of the line being cleaned).
const RAW = 0; // its bytes as they came
const SPAN = 1; // bytes fA..fB of the line (a string's digits: "7" -> 7)
const TEXT = 2; // fText, JSON text
const NULL = 3; // null

// A typed field's fast route (the value's bytes decide), else the converter on its text.
const F_OTHER = 0;
const F_STRING = 1;
const F_INTEGER = 2;
const F_NUMBER = 3;
const F_DATE = 4;
const F_DATETIME = 5;
const F_ANY = 6;

// The kind of a value's token.
const STR = 0;
const NUM = 1;
const LIT = 2;

// What repeat() does with a field's value (per field of the layout).
const OP_ANY = 0; // outside the schema: any token, copied
const OP_TEXT = 1; // text, unchecked: copied
const OP_ENUM = 2; // text, one of the enum's texts
const OP_CHECKED = 3; // text, its checks
const OP_INTEGER = 4;
const OP_DECIMAL = 5;
const OP_DATE = 6;
const OP_DATETIME = 7;

/** A line's keys in order, and the route of each one's value, for repeat(). */
interface Layout {
  /** Each key with the byte before it: `{"first":`, `,"next":` (4 bytes or more). */
  keys: Buffer[];
  /** Each key's coveringWords. */
  cover: Int32Array[];
  /** Each key of 8 bytes or more as doubles that cover it (wide()), else undefined. */
  wide: (Float64Array | undefined)[];
  ops: Uint8Array;
  /** The schema field of each key. */
  schema: Int32Array;
  /** The schema fields the line lacks as `,"name":null`, then `}`. */
  tail: Buffer;
}

const OPEN = Buffer.from('{');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from('}');
const MAX_FIELDS = 256;
const MAX_SLOTS = 4096;
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
const NULL_BYTES = Buffer.from('null');
const QUOTES = repeated(0x22);
const BACKSLASHES = repeated(0x5c);
const HIGH = 0x80808080 | 0;
/** Text values checked by textPasses up to this many bytes are remembered, in a table of MEMO_SLOTS. */
const MEMO_TEXT = 32;
const MEMO_SLOTS = 1024;
// The depth Canonical checks (bx-extract's byte path uses the same): deeper lines take the object path.
const BYTE_DEPTH = 32;

/**
 * The byte path for these options, or undefined when they need objects: --set, --where,
 * --dedupe, --default, --lower/--upper, privacy, --timezone, a schema with unique or a
 * primary key (their seen values live in apply()), or names JavaScript would reorder.
 */
export function byteCleaner(opts: CleanOptions, compiled: CompiledSchema | undefined): ByteCleaner | undefined {
  if (opts.set.length || opts.where.length || opts.dedupe || opts.defaults.length) return undefined;
  if (opts.lower.length || opts.upper.length || opts.hash.length || opts.mask.length || opts.redact.length)
    return undefined;
  if (opts.timezone !== undefined) return undefined;
  if (compiled?.stateful) return undefined;
  const names = [...(compiled?.fields.map((f) => f.name) ?? []), ...(opts.keep ?? []), ...opts.rename.values()];
  if (names.some((n) => isIndexKey(n) || n === '__proto__')) return undefined;
  return new ByteCleaner(opts, compiled);
}

const jsonKey = (name: string) => Buffer.from(`${JSON.stringify(name)}:`);

export class ByteCleaner {
  /** Lines cleaned from their bytes (the others went to the object path). */
  rows = 0;
  /** Of those, the lines cleaned in one pass by repeat(). */
  repeated = 0;
  private readonly compiled: CompiledSchema | undefined;
  private readonly trim: boolean;
  private readonly nulls: Set<string> | undefined;
  private readonly nullBytes: Buffer[];
  private readonly rename: Map<string, string> | undefined;
  private readonly drop: Set<string> | undefined;
  /** --keep, each name once, with its key bytes. */
  private readonly keep: { name: string; key: Buffer }[] | undefined;
  // Per schema field.
  private readonly fast: Uint8Array;
  private readonly scaleLimit: Int32Array;
  private readonly hasChecks: Uint8Array;
  /** A text field whose one check is an enum: the allowed texts as bytes. */
  private readonly enumBytes: (Buffer[] | undefined)[];
  private readonly required: Uint8Array;
  private readonly dropped: Uint8Array;
  /** `"name":null`, for a schema field the line lacks (apply() makes it null, after the others). */
  private readonly nullField: Buffer[];
  private readonly present: Int32Array;
  private readonly onlyEmpty: boolean;
  /** Missing values as bytes (those a string without escapes can hold). */
  private readonly missingBytes: Buffer[];
  private readonly extra: number;
  /** Per schema field: its checks are a minimum and/or a maximum only (numberPasses). */
  private readonly convex: Uint8Array;
  private readonly passLo: Float64Array;
  private readonly passHi: Float64Array;
  /** Per schema field: text values seen to pass its checks (textPasses). */
  private readonly memo: (Buffer | undefined)[][] = [];
  /** Valid ISO dates seen (dateSeen): 1024 slots of three words. */
  private readonly dates = new Int32Array(3 * 1024);
  /**
   * No rule and no edit at all (bx-clean with no options): a line the object path would write
   * back as it came (bx-extract's Canonical says so) is copied on as it is, runs of lines at once.
   */
  private readonly same: Canonical | undefined;

  // Slots: one per output key seen; source keys (before --rename) map to them.
  private readonly bySource = new Map<string, number>();
  private readonly byTarget = new Map<string, number>();
  private slotStamp = new Int32Array(64);
  private slotField = new Int32Array(64);
  private slotSchema = new Int32Array(64);
  private slotDrop = new Uint8Array(64);
  // Per source key (bySource's numbers): its slot, its key bytes when renamed, and whether it is
  // dropped or renamed (the line then takes write(), not writeEdits()).
  private srcSlot: number[] = [];
  private srcKey: (Buffer | undefined)[] = [];
  private srcMoves: number[] = [];
  private nSlots = 0;
  private stamp = 0;

  // The keys of the previous line, `"key":` as bytes, and their slots: the next line most likely repeats them.
  private tokens: Buffer[] = [];
  private tokenSlots: number[] = [];
  private tokenWords: Int32Array[] = [];
  private readonly inViews = new ViewCache();
  private readonly outViews = new ViewCache();
  private view: DataView = new DataView(new ArrayBuffer(0));

  // The fields of the line being cleaned.
  private readonly fKey = new Int32Array(MAX_FIELDS);
  private readonly fVal = new Int32Array(MAX_FIELDS);
  private readonly fEnd = new Int32Array(MAX_FIELDS);
  private readonly fSlot = new Int32Array(MAX_FIELDS);
  private readonly fSrc = new Int32Array(MAX_FIELDS);
  private readonly fKind = new Uint8Array(MAX_FIELDS);
  private readonly fEsc = new Uint8Array(MAX_FIELDS);
  private readonly fHigh = new Uint8Array(MAX_FIELDS);
  private readonly fAct = new Uint8Array(MAX_FIELDS);
  private readonly fA = new Int32Array(MAX_FIELDS);
  private readonly fB = new Int32Array(MAX_FIELDS);
  private readonly fText: string[] = new Array(MAX_FIELDS);
  /** The fields whose value changes, in line order. */
  private readonly edit = new Int32Array(MAX_FIELDS);
  /** The line has a field to rename or drop. */
  private moves = false;
  /** Fields of the line being cleaned. */
  private num = 0;
  /** Bumped when scan() learns a new key token; the layout is of the tokens at layoutKeys. */
  private keysSeen = 0;
  private layoutKeys = -1;
  private layout: Layout | undefined;

  constructor(opts: CleanOptions, compiled: CompiledSchema | undefined) {
    this.compiled = compiled;
    this.trim = opts.trim;
    this.nulls = opts.nullValues ? new Set(opts.nullValues) : undefined;
    this.nullBytes = opts.nullValues ? plainBytes(opts.nullValues) : [];
    this.rename = opts.rename.size ? opts.rename : undefined;
    this.drop = opts.drop.length ? new Set(opts.drop) : undefined;
    this.keep = opts.keep ? [...new Set(opts.keep)].map((name) => ({ name, key: jsonKey(name) })) : undefined;
    const fields = compiled?.fields ?? [];
    const n = fields.length;
    this.fast = new Uint8Array(n);
    this.scaleLimit = new Int32Array(n);
    this.hasChecks = new Uint8Array(n);
    this.required = new Uint8Array(n);
    this.dropped = new Uint8Array(n);
    this.present = new Int32Array(n);
    this.convex = new Uint8Array(n);
    this.passLo = new Float64Array(n).fill(Infinity);
    this.passHi = new Float64Array(n).fill(-Infinity);
    this.nullField = fields.map((f) => Buffer.concat([jsonKey(f.name), NULL_BYTES]));
    this.enumBytes = fields.map((f, i) => {
      const texts = f.type === 'string' || f.type === 'any' ? compiled!.enumTexts(i) : undefined;
      return texts && texts.map((t) => Buffer.from(t));
    });
    fields.forEach((f, i) => {
      const plain = !f.groupChar && (!f.decimalChar || f.decimalChar === '.');
      const iso = f.format === undefined || f.format === 'default' || f.format === 'any';
      this.fast[i] =
        f.type === 'string'
          ? F_STRING
          : f.type === 'any'
            ? F_ANY
            : f.type === 'integer'
              ? F_INTEGER
              : f.type === 'number' && plain
                ? F_NUMBER
                : f.type === 'date' && iso
                  ? F_DATE
                  : f.type === 'datetime' && iso
                    ? F_DATETIME
                    : F_OTHER;
      this.scaleLimit[i] = isDecimal(f) ? (scaleOf(f) ?? 1000) : 1000;
      this.hasChecks[i] = compiled!.checksOf(i).length ? 1 : 0;
      this.required[i] = compiled!.requiredAt(i) ? 1 : 0;
      this.dropped[i] = !this.keep && this.drop?.has(f.name) ? 1 : 0;
      const rules = Object.keys(f.constraints ?? {}).filter((k) => k !== 'required');
      this.convex[i] = rules.every((k) => k === 'minimum' || k === 'maximum') ? 1 : 0;
    });
    const mv = compiled ? compiled.missingValues() : [];
    this.onlyEmpty = mv.length === 1 && mv[0] === '';
    this.missingBytes = plainBytes(mv);
    // Room beyond the line's own bytes: every key renamed or kept, every schema field added.
    let extra = 64;
    for (const b of this.nullField) extra += b.length + 1;
    for (const k of this.keep ?? []) extra += k.key.length + 6;
    for (const v of opts.rename.values()) extra += 3 * v.length + 4;
    this.extra = extra;
    const edits = this.trim || this.nulls || this.rename || this.drop || this.keep;
    this.same = compiled === undefined && !edits ? new Canonical(BYTE_DEPTH) : undefined;
  }

  /**
   * Cleans lines i, i+1… of a batch (`buf` from starts[k] to ends[k]) into `slab` while the
   * byte path takes them; returns the first one it leaves to the object path, or starts.length.
   */
  lines(buf: Buffer, starts: number[], ends: number[], i: number, slab: ByteSlab): number {
    const same = this.same;
    const n = starts.length;
    if (same === undefined) {
      while (i < n && this.line(buf, starts[i], ends[i], slab)) i++;
      return i;
    }
    // Passthrough: a run of whole lines (each with its newline) copied in one go.
    let runS = -1;
    let runE = -1;
    for (; i < n; i++) {
      const s = starts[i];
      let e = ends[i];
      const cr = buf[e - 1] === 0x0d;
      if (cr) e--;
      if (!same.line(buf, s, e)) break;
      this.rows++;
      if (!cr && runE === s) {
        runE = e + 1;
        continue;
      }
      if (runS >= 0) slab.p = put(buf, runS, runE, slab);
      if (cr) {
        // CRLF: JSON.parse takes the \r as white space; the line goes out with \n alone.
        slab.p = put(buf, s, e, slab);
        slab.room(1);
        slab.buf[slab.p++] = 0x0a;
        runS = runE = -1;
      } else {
        runS = s;
        runE = e + 1;
      }
    }
    if (runS >= 0) slab.p = put(buf, runS, runE, slab);
    return i;
  }

  /**
   * Cleans the line `buf[s..e)` (valid UTF-8, no newline) into `slab` with its newline and
   * returns true; or returns false, having written nothing: the object path decides.
   */
  line(buf: Buffer, s: number, e: number, slab: ByteSlab): boolean {
    if (buf[e - 1] === 0x0d) e--; // CRLF: JSON.parse takes the \r as white space
    if (e - s < 7 || buf[s] !== 0x7b || buf[e - 1] !== 0x7d) return false;
    if (this.layout !== undefined && this.repeat(buf, s, e, slab)) return true;
    if (!this.scan(buf, s, e)) return false;
    let textBytes = 0;
    let edits = 0;
    const edit = this.edit;
    for (let n = 0; n < this.num; n++) {
      if (!this.value(buf, n)) return false;
      const act = this.fAct[n];
      if (act === RAW) continue;
      edit[edits++] = n;
      if (act === TEXT) textBytes += 3 * this.fText[n].length;
    }
    const stamp = this.stamp;
    const present = this.present;
    const nf = present.length;
    for (let k = 0; k < nf; k++) if (present[k] !== stamp && this.required[k] === 1) return false;
    slab.room(2 * (e - s) + textBytes + this.extra);
    srcView = this.view;
    dstView = this.outViews.view(slab.buf);
    slab.p = this.keep
      ? this.writeKept(buf, slab.buf, slab.p)
      : this.moves
        ? this.write(buf, slab.buf, slab.p)
        : this.writeEdits(buf, s, e, slab.buf, slab.p, edits);
    this.rows++;
    if (this.layoutKeys !== this.keysSeen) this.learn();
    return true;
  }

  /**
   * The layout of the line just cleaned (its keys in their order and what each value takes),
   * for repeat(); undefined when the options or a field's type leave every line to scan().
   */
  private learn(): void {
    this.layoutKeys = this.keysSeen;
    this.layout = undefined;
    if (this.keep || this.moves || this.trim || this.nulls || !this.onlyEmpty) return;
    const num = this.num;
    const ops = new Uint8Array(num);
    const schema = new Int32Array(num);
    for (let n = 0; n < num; n++) {
      const sch = this.slotSchema[this.fSlot[n]];
      schema[n] = sch;
      if (sch < 0) {
        ops[n] = OP_ANY;
        continue;
      }
      switch (this.fast[sch]) {
        case F_STRING:
        case F_ANY:
          ops[n] = this.enumBytes[sch] ? OP_ENUM : this.hasChecks[sch] === 1 ? OP_CHECKED : OP_TEXT;
          break;
        case F_INTEGER:
          ops[n] = OP_INTEGER;
          break;
        case F_NUMBER:
          ops[n] = OP_DECIMAL;
          break;
        case F_DATE:
          ops[n] = OP_DATE;
          break;
        case F_DATETIME:
          ops[n] = OP_DATETIME;
          break;
        default:
          return;
      }
    }
    // The schema fields the line lacks (and does not drop), null at its end, as writeEdits() adds them.
    const tail: Buffer[] = [];
    for (let k = 0; k < this.present.length; k++)
      if (this.present[k] !== this.stamp && this.dropped[k] !== 1) tail.push(COMMA, this.nullField[k]);
    // With the byte before it, every key token has 4 bytes or more (`,"":`): its covering words.
    const keys = this.tokens.slice(0, num).map((k, n) => Buffer.concat([n === 0 ? OPEN : COMMA, k]));
    this.layout = {
      keys,
      cover: keys.map((k) => coveringWords(k)),
      wide: keys.map((k) => wideWords(k)),
      ops,
      schema,
      tail: Buffer.concat([...tail, CLOSE]),
    };
  }

  /**
   * The line cleaned in one pass when its keys are the layout's, in the layout's order (so the
   * same fields are present, none twice, none renamed or dropped): each value checked and
   * typed as value() would. Each word read to compare a key or scan a text is written out as it
   * is read, at its place in the output (`d` bytes from its place in the line, less by the
   * quotes and zeros the numbers lost so far), so no byte of the line is read twice: copying
   * the unchanged bytes again afterwards was 3.5 k of ByteCleaner.line's 11.7 k instructions per
   * sales line (callgrind, the copy left out). A word may carry bytes past the value it ends;
   * the bytes after it overwrite them. False, having moved slab.p nowhere, for anything else:
   * scan() and value() then decide.
   */
  private repeat(buf: Buffer, s: number, e: number, slab: ByteSlab): boolean {
    const { keys, cover, wide, ops, schema, tail } = this.layout!;
    const num = ops.length;
    slab.room(2 * (e - s) + this.extra);
    const view = (this.view = this.inViews.view(buf));
    const out = slab.buf;
    const outView = this.outViews.view(out);
    const compiled = this.compiled;
    let d = slab.p - s; // where a byte of the line goes: out[i + d]
    let i = s;
    for (let n = 0; n < num; n++) {
      // The key with its `{` or `,` (4 bytes or more) as its covering words, the last one
      // ending at its end.
      const len = keys[n].length;
      if (i + len >= e) return false;
      const kd = wide[n];
      if (kd !== undefined) {
        // Eight bytes a turn (wideWords says why a double compares and moves them exactly).
        const last = kd.length - 1;
        for (let w = 0; w < last; w++) {
          const x = view.getFloat64(i + 8 * w, true);
          if (x !== kd[w]) return false;
          outView.setFloat64(i + d + 8 * w, x, true);
        }
        const x = view.getFloat64(i + len - 8, true);
        if (x !== kd[last]) return false;
        outView.setFloat64(i + d + len - 8, x, true);
      } else {
        const kw = cover[n];
        const last = kw.length - 1;
        for (let w = 0; w < last; w++) {
          const x = view.getInt32(i + 4 * w, true);
          if (x !== kw[w]) return false;
          outView.setInt32(i + d + 4 * w, x, true);
        }
        const x = view.getInt32(i + len - 4, true);
        if (x !== kw[last]) return false;
        outView.setInt32(i + d + len - 4, x, true);
      }
      i += len;
      const op = ops[n];
      if (op === OP_ANY) {
        const j = this.any(buf, i, e, n);
        if (j < 0) return false;
        copyRun(view, outView, buf, i, j, out, i + d);
        i = j;
        continue;
      }
      if (buf[i] !== 0x22) return false;
      const a = i + 1;
      const sch = schema[n];
      switch (op) {
        case OP_TEXT:
        case OP_ENUM:
        case OP_CHECKED: {
          // Four bytes at a time to the first byte a plain string does not hold as it is.
          out[i + d] = 0x22;
          let k = a;
          let high = 0;
          for (;;) {
            if (k + 4 > e) {
              let c = 0;
              while (k < e && (c = buf[k]) >= 0x20 && c !== 0x22 && c !== 0x5c) {
                high |= c << 24;
                out[k + d] = c;
                k++;
              }
              break;
            }
            const x = view.getInt32(k, true);
            outView.setInt32(k + d, x, true);
            const m = notPlain(x);
            if (m !== 0) {
              const f = firstByte(m);
              k += f;
              if (f > 0) high |= x & (HIGH >>> (32 - 8 * f));
              break;
            }
            high |= x;
            k += 4;
          }
          if (buf[k] !== 0x22) {
            // An escape or a control character: the byte-by-byte reader decides.
            if (op !== OP_TEXT) return false;
            const j = this.string(buf, i, e, n);
            if (j < 0) return false;
            copyRun(view, outView, buf, k, j, out, k + d);
            i = j;
            break;
          }
          if (k === a) return false; // "" is missing: null
          out[k + d] = 0x22;
          i = k + 1;
          if (op === OP_TEXT) break;
          if (op === OP_ENUM) {
            if (!matches(buf, a, k, this.enumBytes[sch]!)) return false;
          } else if (!this.textPasses(buf, a, k, sch, (high & HIGH) !== 0)) return false;
          break;
        }
        case OP_DATE:
          if (buf[a + 10] !== 0x22 || a + 10 >= e || !this.dateSeen(view, buf, a)) return false;
          if (this.hasChecks[sch] === 1 && !compiled!.passes(sch, buf.latin1Slice(a, a + 10))) return false;
          // The quoted date in three words (the byte after it, at most e, carried along).
          outView.setInt32(i + d, view.getInt32(i, true), true);
          outView.setInt32(i + d + 4, view.getInt32(i + 4, true), true);
          outView.setInt32(i + d + 8, view.getInt32(i + 8, true), true);
          i = a + 11;
          break;
        case OP_DATETIME: {
          // A typed value without escapes: its closing quote is the first quote. It is looked for
          // from the 19th byte on: a quote before that is one of the bytes dateSeen and isoTime
          // require to be digits, dashes, T or colons, so the value fails either way.
          let b = a + 19;
          while (b < e && buf[b] !== 0x22) b++;
          const len = b - a;
          if (b >= e || len < 19 || len > 35 || buf[a + 10] !== 0x54) return false;
          if (!this.dateSeen(view, buf, a) || !isoTime(buf, a, b)) return false;
          if (this.hasChecks[sch] === 1 && !compiled!.passes(sch, buf.latin1Slice(a, b))) return false;
          copyRun(view, outView, buf, i, b + 1, out, i + d);
          i = b + 1;
          break;
        }
        case OP_INTEGER: {
          // Digits of a safe integer up to the closing quote, as integer() takes them.
          const neg = buf[a] === 0x2d;
          const g = neg ? a + 1 : a;
          let k = g;
          let v = 0;
          let c = 0;
          while ((c = buf[k]) >= 0x30 && c <= 0x39) {
            v = v * 10 + c - 0x30;
            k++;
          }
          const digits = k - g;
          if (c !== 0x22 || digits < 1 || digits > 15 || (buf[g] === 0x30 && (digits > 1 || neg))) return false;
          if (this.hasChecks[sch] === 1 && !this.numberPasses(sch, neg ? -v : v)) return false;
          // The number's digits in place of the quoted text (two bytes fewer), whole words: the
          // closing quote at k is before the line's last byte, its `}`, so no word reads past
          // the buffer, and the bytes a word carries past the digits are overwritten next.
          const to = i + d - a;
          for (let x = a; x < k; x += 4) outView.setInt32(x + to, view.getInt32(x, true), true);
          i = k + 1;
          d -= 2;
          break;
        }
        default: {
          let b = a;
          while (b < e && buf[b] !== 0x22) b++;
          if (b >= e) return false;
          if (!this.decimal(buf, a, b, n, this.scaleLimit[sch])) return false;
          if (this.hasChecks[sch] === 1 && !this.numberPasses(sch, this.numValue)) return false;
          // The span, whole words as the integer's digits (it ends at or before the quote at b).
          const at = i + d;
          const fa = this.fA[n];
          const w = this.fB[n] - fa;
          for (let x = 0; x < w; x += 4) outView.setInt32(at + x, view.getInt32(fa + x, true), true);
          i = b + 1;
          d = at + w - i;
        }
      }
    }
    if (buf[i] !== 0x7d || i + 1 !== e) return false;
    let p = i + d;
    if (tail.length === 1) out[p++] = 0x7d;
    else p += tail.copy(out, p);
    out[p++] = 0x0a;
    slab.p = p;
    this.rows++;
    this.repeated++;
    return true;
  }

  /**
   * isoDate(buf, a), remembered: the dates found valid, as the three words that cover their ten
   * bytes (the first, four digits, is never 0, an empty slot), by a hash of them.
   */
  private dateSeen(view: DataView, buf: Buffer, a: number): boolean {
    const w0 = view.getInt32(a, true);
    const w1 = view.getInt32(a + 4, true);
    const w2 = view.getInt32(a + 6, true);
    const slot = 3 * (Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b), 0xc2b2ae35) >>> 22);
    const t = this.dates;
    if (t[slot] === w0 && t[slot + 1] === w1 && t[slot + 2] === w2) return true;
    if (!isoDate(buf, a)) return false;
    t[slot] = w0;
    t[slot + 1] = w1;
    t[slot + 2] = w2;
    return true;
  }

  /**
   * Whether text field sch's value buf[a..b) (no escapes) passes its checks. A check of text is
   * a function of the text alone, so the values seen to pass are kept (as bytes, by a hash of
   * them) and a repeat of one is not sliced to a string and checked again.
   */
  private textPasses(buf: Buffer, a: number, b: number, sch: number, high: boolean): boolean {
    const len = b - a;
    if (len > MEMO_TEXT) return this.compiled!.passes(sch, high ? buf.utf8Slice(a, b) : buf.latin1Slice(a, b));
    let h = len;
    for (let k = a; k < b; k++) h = Math.imul(h ^ buf[k], 0x01000193);
    const slot = (h ^ (h >>> 15)) & (MEMO_SLOTS - 1);
    const table = (this.memo[sch] ??= new Array<Buffer | undefined>(MEMO_SLOTS));
    const seen = table[slot];
    if (seen !== undefined && seen.length === len) {
      let k = 0;
      while (k < len && seen[k] === buf[a + k]) k++;
      if (k === len) return true;
    }
    if (!this.compiled!.passes(sch, high ? buf.utf8Slice(a, b) : buf.latin1Slice(a, b))) return false;
    table[slot] = Buffer.from(buf.subarray(a, b));
    return true;
  }

  /**
   * Whether number field sch's typed value v passes its checks. When they are only a minimum and
   * a maximum, the values that pass form one interval: the smallest and largest seen to pass
   * bound values that need no check.
   */
  private numberPasses(sch: number, v: number): boolean {
    if (this.convex[sch] === 1 && v >= this.passLo[sch] && v <= this.passHi[sch]) return true;
    if (!this.compiled!.passes(sch, v)) return false;
    if (v < this.passLo[sch]) this.passLo[sch] = v;
    if (v > this.passHi[sch]) this.passHi[sch] = v;
    return true;
  }

  /** A value outside the schema at buf[i], any token scan() takes: the index after it, or -1. */
  private any(buf: Buffer, i: number, e: number, n: number): number {
    const c = buf[i];
    if (c === 0x22) return this.string(buf, i, e, n);
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return canonicalNumber(buf, i);
    if (c === 0x74 && buf[i + 1] === 0x72 && buf[i + 2] === 0x75 && buf[i + 3] === 0x65) return i + 4;
    if (c === 0x66 && buf[i + 1] === 0x61 && buf[i + 2] === 0x6c && buf[i + 3] === 0x73 && buf[i + 4] === 0x65)
      return i + 5;
    if (c === 0x6e && buf[i + 1] === 0x75 && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c) return i + 4;
    return -1;
  }

  /** Finds the top-level fields; false for any shape the byte path leaves to the object path. */
  private scan(buf: Buffer, s: number, e: number): boolean {
    const stamp = ++this.stamp;
    const tokens = this.tokens;
    const view = (this.view = this.inViews.view(buf));
    let moves = false;
    // The arrays in locals: the loop reads and writes them for every field.
    const slotStamp = this.slotStamp;
    const srcSlot = this.srcSlot;
    const srcMoves = this.srcMoves;
    const fSrc = this.fSrc;
    const slotField = this.slotField;
    const slotSchema = this.slotSchema;
    const present = this.present;
    const fKey = this.fKey;
    const fVal = this.fVal;
    const fEnd = this.fEnd;
    const fSlot = this.fSlot;
    const fKind = this.fKind;
    const tokenWords = this.tokenWords;
    const tokenSlots = this.tokenSlots;
    let i = s + 1;
    let n = 0;
    for (; ; n++) {
      if (n === MAX_FIELDS || buf[i] !== 0x22) return false;
      let src = -1;
      const tok = tokens[n];
      const keyAt = i;
      if (tok !== undefined && i + tok.length < e) {
        // Four bytes at a time, then the rest.
        const words = tokenWords[n];
        const nw = words.length;
        let w = 0;
        while (w < nw && view.getInt32(i + 4 * w, true) === words[w]) w++;
        if (w === nw) {
          const len = tok.length;
          let k = 4 * nw;
          while (k < len && buf[i + k] === tok[k]) k++;
          if (k === len) {
            src = tokenSlots[n];
            i += len;
          }
        }
      }
      if (src < 0) {
        let j = i + 1;
        let high = false;
        for (; j < e; j++) {
          const c = buf[j];
          if (c === 0x22) break;
          if (c === 0x5c || c < 0x20) return false;
          if (c >= 0x80) high = true;
        }
        if (j >= e - 1 || buf[j + 1] !== 0x3a) return false;
        src = this.sourceOf(high ? buf.utf8Slice(i + 1, j) : buf.latin1Slice(i + 1, j));
        if (src < 0) return false;
        // A new slot may have grown the arrays.
        if (this.slotStamp !== slotStamp) return this.scan(buf, s, e);
        this.keysSeen++;
        tokens.length = n;
        this.tokenSlots.length = n;
        this.tokenWords.length = n;
        const token = Buffer.from(buf.subarray(i, j + 2));
        tokens.push(token);
        this.tokenWords.push(wordsOf(token));
        this.tokenSlots.push(src);
        i = j + 2;
      }
      const slot = srcSlot[src];
      if (slotStamp[slot] === stamp) return false; // a key twice: JSON.parse keeps the last value
      slotStamp[slot] = stamp;
      if (srcMoves[src] === 1) moves = true;
      fSrc[n] = src;
      slotField[slot] = n;
      const sch = slotSchema[slot];
      if (sch >= 0) present[sch] = stamp;
      fKey[n] = keyAt;
      fVal[n] = i;
      fSlot[n] = slot;
      const c = buf[i];
      if (c === 0x22) {
        i = this.string(buf, i, e, n);
        if (i < 0) return false;
        fKind[n] = STR;
      } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        i = canonicalNumber(buf, i);
        if (i < 0) return false;
        fKind[n] = NUM;
      } else if (c === 0x74 && buf[i + 1] === 0x72 && buf[i + 2] === 0x75 && buf[i + 3] === 0x65) {
        i += 4;
        fKind[n] = LIT;
      } else if (
        c === 0x66 &&
        buf[i + 1] === 0x61 &&
        buf[i + 2] === 0x6c &&
        buf[i + 3] === 0x73 &&
        buf[i + 4] === 0x65
      ) {
        i += 5;
        fKind[n] = LIT;
      } else if (c === 0x6e && buf[i + 1] === 0x75 && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c) {
        i += 4;
        fKind[n] = LIT;
      } else return false; // nested values, white space, anything else: the object path
      fEnd[n] = i;
      const d = buf[i++];
      if (d === 0x2c) continue;
      if (d === 0x7d && i === e) break;
      return false;
    }
    this.num = n + 1;
    this.moves = moves;
    return true;
  }

  /**
   * A string at buf[i] (its quote) as JSON.stringify writes it: no raw control character, only
   * the escapes it uses. Returns the index after the closing quote, or -1.
   */
  private string(buf: Buffer, i: number, e: number, n: number): number {
    let esc = 0;
    let high = 0;
    i++;
    const view = this.view;
    for (;;) {
      // Four plain ASCII bytes at a time (no control character, quote, backslash or high bit).
      while (i + 4 <= e) {
        const x = view.getInt32(i, true);
        if ((x & HIGH) !== 0 || anyControl(x) || anyByteIs(x, QUOTES) || anyByteIs(x, BACKSLASHES)) break;
        i += 4;
      }
      if (i >= e) return -1;
      const c = buf[i];
      if (c === 0x22) break;
      if (c >= 0x80) {
        high = 1;
        i++;
      } else if (c === 0x5c) {
        esc = 1;
        const d = buf[i + 1];
        if (d === 0x22 || d === 0x5c || d === 0x62 || d === 0x66 || d === 0x6e || d === 0x72 || d === 0x74) i += 2;
        else {
          if (d !== 0x75 || buf[i + 2] !== 0x30 || buf[i + 3] !== 0x30) return -1;
          const h = hex(buf[i + 4]);
          const l = hex(buf[i + 5]);
          if (h < 0 || h > 1 || l < 0) return -1;
          const code = h * 16 + l;
          if (code === 8 || code === 9 || code === 10 || code === 12 || code === 13) return -1;
          i += 6;
        }
      } else if (c < 0x20) return -1;
      else i++;
    }
    this.fEsc[n] = esc;
    this.fHigh[n] = high;
    return i + 1;
  }

  /** The number of a source key (and its slot), made on first sight; -1 for a key the object path must see. */
  private sourceOf(key: string): number {
    const known = this.bySource.get(key);
    if (known !== undefined) return known;
    if (this.bySource.size >= MAX_SLOTS || key === '__proto__' || isIndexKey(key)) return -1;
    const target = this.rename?.get(key) ?? key;
    if (target === '__proto__' || isIndexKey(target)) return -1;
    let slot = this.byTarget.get(target);
    if (slot === undefined) {
      slot = this.nSlots++;
      if (slot === this.slotStamp.length) {
        const grow = <T extends Int32Array | Uint8Array>(a: T): T => {
          const b = new (a.constructor as new (n: number) => T)(2 * a.length);
          b.set(a);
          return b;
        };
        this.slotStamp = grow(this.slotStamp);
        this.slotField = grow(this.slotField);
        this.slotSchema = grow(this.slotSchema);
        this.slotDrop = grow(this.slotDrop);
      }
      this.slotStamp[slot] = 0;
      this.slotSchema[slot] = this.compiled ? this.compiled.fields.findIndex((f) => f.name === target) : -1;
      this.slotDrop[slot] = !this.keep && this.drop?.has(target) ? 1 : 0;
      this.byTarget.set(target, slot);
    }
    const src = this.srcSlot.length;
    this.srcSlot.push(slot);
    this.srcKey.push(target === key ? undefined : jsonKey(target));
    this.srcMoves.push(this.slotDrop[slot] === 1 || target !== key ? 1 : 0);
    this.bySource.set(key, src);
    return src;
  }

  /** What field n's value becomes (fAct and its span or text); false when a rule refuses it. */
  private value(buf: Buffer, n: number): boolean {
    const sch = this.slotSchema[this.fSlot[n]];
    const kind = this.fKind[n];
    if (kind !== STR) {
      if (sch < 0) return ((this.fAct[n] = RAW), true);
      return this.general(buf, n, sch);
    }
    const a = this.fVal[n] + 1;
    const b = this.fEnd[n] - 1;
    const esc = this.fEsc[n] === 1;
    if (this.trim || this.nulls) {
      if (esc) return this.general(buf, n, sch);
      if (this.trim && b > a) {
        const first = buf[a];
        const last = buf[b - 1];
        if (first === 0x20 || first >= 0x80 || last === 0x20 || last >= 0x80) return this.general(buf, n, sch);
      }
      if (this.nulls && matches(buf, a, b, this.nullBytes)) return this.general(buf, n, sch);
    }
    if (sch < 0) return ((this.fAct[n] = RAW), true);
    const fast = this.fast[sch];
    if (esc) {
      // Escapes: the text is not "" and, with the default missing values, not missing.
      if ((fast === F_STRING || fast === F_ANY) && this.hasChecks[sch] === 0 && this.onlyEmpty)
        return ((this.fAct[n] = RAW), true);
      return this.general(buf, n, sch);
    }
    if (this.onlyEmpty ? a === b : matches(buf, a, b, this.missingBytes)) {
      if (this.required[sch] === 1) return false;
      this.fAct[n] = NULL;
      return true;
    }
    const checks = this.hasChecks[sch] === 1;
    switch (fast) {
      case F_STRING:
      case F_ANY: {
        const allowed = this.enumBytes[sch];
        if (allowed) {
          if (!matches(buf, a, b, allowed)) return false;
        } else if (checks && !this.compiled!.passes(sch, this.fHigh[n] ? buf.utf8Slice(a, b) : buf.latin1Slice(a, b)))
          return false;
        this.fAct[n] = RAW;
        return true;
      }
      case F_INTEGER:
        if (this.fHigh[n] || !this.integer(buf, a, b, n)) break;
        return !checks || this.compiled!.passes(sch, this.numValue);
      case F_NUMBER:
        if (this.fHigh[n] || !this.decimal(buf, a, b, n, this.scaleLimit[sch])) break;
        return !checks || this.compiled!.passes(sch, this.numValue);
      case F_DATE:
        if (b - a !== 10 || !isoDate(buf, a)) break;
        this.fAct[n] = RAW;
        return !checks || this.compiled!.passes(sch, buf.latin1Slice(a, b));
      case F_DATETIME:
        if (!isoDatetime(buf, a, b)) break;
        this.fAct[n] = RAW;
        return !checks || this.compiled!.passes(sch, buf.latin1Slice(a, b));
    }
    return this.general(buf, n, sch);
  }

  /** The value of the last integer() or decimal() that answered true. */
  private numValue = 0;

  /** Digits of a safe integer, as integer() types them (Number of the text): SPAN of them. */
  private integer(buf: Buffer, a: number, b: number, n: number): boolean {
    const neg = buf[a] === 0x2d;
    const d = neg ? a + 1 : a;
    const len = b - d;
    if (len < 1 || len > 15 || (buf[d] === 0x30 && (len > 1 || neg))) return false;
    let v = 0;
    for (let k = d; k < b; k++) {
      const c = buf[k] - 0x30;
      if (c < 0 || c > 9) return false;
      v = v * 10 + c;
    }
    this.numValue = neg ? -v : v;
    this.fAct[n] = SPAN;
    this.fA[n] = a;
    this.fB[n] = b;
    return true;
  }

  /**
   * Plain decimal text the converter's shortDecimal takes (at most 15 digits, a fraction of at
   * most `scale` digits, no rounding), written as Number() then JSON write it: leading zeros of
   * the integer part and trailing zeros of the fraction left out, which leaves one span of the
   * text. Anything else (-0, a sign before leading zeros, below 1e-6: an exponent) is false.
   */
  private decimal(buf: Buffer, a: number, b: number, n: number, scale: number): boolean {
    if (b - a > 17) return false;
    const neg = buf[a] === 0x2d;
    const ia = neg ? a + 1 : a;
    let k = ia;
    let c = 0;
    while (k < b && (c = buf[k]) >= 0x30 && c <= 0x39) k++;
    const ib = k;
    if (ib === ia) return false;
    let fa = b;
    let fb = b;
    if (k < b) {
      if (buf[k] !== 0x2e) return false;
      fa = ++k;
      while (k < b && (c = buf[k]) >= 0x30 && c <= 0x39) k++;
      if (k !== b || k === fa) return false;
      fb = b;
      if (fb - fa > 14 || fb - fa > scale) return false;
    }
    if (ib - ia + (fb - fa) > 15) return false;
    let z = ia;
    while (z < ib - 1 && buf[z] === 0x30) z++;
    if (neg && z > ia) return false;
    let fe = fb;
    while (fe > fa && buf[fe - 1] === 0x30) fe--;
    const zeroInt = buf[z] === 0x30;
    if (zeroInt && fe === fa) {
      if (neg) return false; // -0: written 0
    } else if (zeroInt) {
      let y = fa;
      while (buf[y] === 0x30) y++;
      if (y - fa >= 6) return false;
    }
    let m = 0;
    for (let x = z; x < ib; x++) m = m * 10 + buf[x] - 0x30;
    for (let x = fa; x < fe; x++) m = m * 10 + buf[x] - 0x30;
    // Both exact (m < 2^53, a power of ten to 10^22), and IEEE division rounds once: Number(text).
    const v = m / POW10[fe - fa];
    this.numValue = neg ? -v : v;
    this.fAct[n] = SPAN;
    this.fA[n] = neg ? a : z;
    this.fB[n] = fe > fa ? fe : ib;
    return true;
  }

  /**
   * Field n through the object path's own steps for one value: --trim and --null-values, then
   * the schema's converter and checks (typeOne); its JSON text, or its bytes if it is unchanged.
   */
  private general(buf: Buffer, n: number, sch: number): boolean {
    const s = this.fVal[n];
    const e = this.fEnd[n];
    const kind = this.fKind[n];
    let v: unknown;
    let orig: unknown;
    if (kind === STR) {
      orig =
        this.fEsc[n] === 1
          ? (JSON.parse(buf.toString('utf8', s, e)) as string)
          : this.fHigh[n]
            ? buf.utf8Slice(s + 1, e - 1)
            : buf.latin1Slice(s + 1, e - 1);
      v = orig;
      if (this.trim) v = (v as string).trim();
      if (this.nulls && this.nulls.has(v as string)) v = null;
    } else if (kind === NUM) {
      v = orig = Number(buf.latin1Slice(s, e));
    } else {
      const c = buf[s];
      v = orig = c === 0x74 ? true : c === 0x66 ? false : null;
    }
    const r = sch >= 0 ? this.compiled!.typeOne(sch, v) : v;
    if (r === FAILED) return false;
    if (r === orig) this.fAct[n] = RAW;
    else if (r === null) this.fAct[n] = NULL;
    else {
      this.fAct[n] = TEXT;
      this.fText[n] = JSON.stringify(r);
    }
    return true;
  }

  /** Field n's value at out[p]; returns the index after it. */
  private put(buf: Buffer, n: number, out: Buffer, p: number): number {
    switch (this.fAct[n]) {
      case RAW:
        return copy(buf, this.fVal[n], this.fEnd[n], out, p);
      case SPAN:
        return copy(buf, this.fA[n], this.fB[n], out, p);
      case NULL:
        out[p] = 0x6e;
        out[p + 1] = 0x75;
        out[p + 2] = 0x6c;
        out[p + 3] = 0x6c;
        return p + 4;
      default:
        return p + out.write(this.fText[n], p, 'utf8');
    }
  }

  /**
   * The line as it came but for the values that change (`edits` of them, in edit[]), then the
   * schema fields it lacks: the bytes between those values are copied as they are.
   */
  private writeEdits(buf: Buffer, s: number, e: number, out: Buffer, p: number, edits: number): number {
    let at = s;
    const edit = this.edit;
    for (let k = 0; k < edits; k++) {
      const n = edit[k];
      p = copy(buf, at, this.fVal[n], out, p);
      p = this.put(buf, n, out, p);
      at = this.fEnd[n];
    }
    p = copy(buf, at, e - 1, out, p);
    const present = this.present;
    const stamp = this.stamp;
    for (let k = 0; k < present.length; k++) {
      if (present[k] === stamp || this.dropped[k] === 1) continue;
      out[p++] = 0x2c;
      p += this.nullField[k].copy(out, p);
    }
    out[p++] = 0x7d;
    out[p++] = 0x0a;
    return p;
  }

  /** The line in its own key order, without dropped fields, then the schema fields it lacks. */
  private write(buf: Buffer, out: Buffer, p: number): number {
    const num = this.num;
    let first = true;
    // Fields unchanged, one after another, are copied as one run of the line.
    let runS = -1;
    let runE = -1;
    out[p++] = 0x7b;
    for (let n = 0; n < num; n++) {
      const slot = this.fSlot[n];
      if (this.slotDrop[slot] === 1) continue;
      const key = this.srcKey[this.fSrc[n]];
      if (this.fAct[n] === RAW && key === undefined) {
        if (runS >= 0 && this.fKey[n] === runE + 1) runE = this.fEnd[n];
        else {
          if (runS >= 0) {
            if (!first) out[p++] = 0x2c;
            p = copy(buf, runS, runE, out, p);
            first = false;
          }
          runS = this.fKey[n];
          runE = this.fEnd[n];
        }
        continue;
      }
      if (runS >= 0) {
        if (!first) out[p++] = 0x2c;
        p = copy(buf, runS, runE, out, p);
        first = false;
        runS = -1;
      }
      if (!first) out[p++] = 0x2c;
      first = false;
      p = key === undefined ? copy(buf, this.fKey[n], this.fVal[n], out, p) : p + key.copy(out, p);
      p = this.put(buf, n, out, p);
    }
    if (runS >= 0) {
      if (!first) out[p++] = 0x2c;
      p = copy(buf, runS, runE, out, p);
      first = false;
    }
    const present = this.present;
    const stamp = this.stamp;
    for (let k = 0; k < present.length; k++) {
      if (present[k] === stamp || this.dropped[k] === 1) continue;
      if (!first) out[p++] = 0x2c;
      first = false;
      p += this.nullField[k].copy(out, p);
    }
    out[p++] = 0x7d;
    out[p++] = 0x0a;
    return p;
  }

  /** --keep: those fields in that order, null where the line lacks one. */
  private writeKept(buf: Buffer, out: Buffer, p: number): number {
    out[p++] = 0x7b;
    const keep = this.keep!;
    for (let k = 0; k < keep.length; k++) {
      if (k > 0) out[p++] = 0x2c;
      p += keep[k].key.copy(out, p);
      const slot = this.byTarget.get(keep[k].name);
      if (slot !== undefined && this.slotStamp[slot] === this.stamp) p = this.put(buf, this.slotField[slot], out, p);
      else p += NULL_BYTES.copy(out, p);
    }
    out[p++] = 0x7d;
    out[p++] = 0x0a;
    return p;
  }
}

/**
 * A key token of 8 bytes or more as the little-endian doubles that cover it, as coveringWords
 * does with words (the last one ending at its end); undefined when it is shorter, or when one
 * of them is a NaN or a zero. For any other double, x === k holds exactly when x has k's bits,
 * and a double equal to one of these (so neither NaN nor zero) is stored with its bits as read:
 * repeat() compares and writes keys eight bytes a turn.
 */
function wideWords(bytes: Buffer): Float64Array | undefined {
  const n = bytes.length;
  if (n < 8) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
  const words = new Float64Array((n + 7) >> 3);
  let w = 0;
  for (let x = 0; x + 8 <= n; x += 8) words[w++] = dv.getFloat64(x, true);
  if (n & 7) words[w++] = dv.getFloat64(n - 8, true);
  return words.some((x) => Number.isNaN(x) || x === 0) ? undefined : words;
}

/** The texts (as UTF-8) a JSON string without escapes can hold: none with a quote, a backslash or a control character. */
function plainBytes(texts: string[]): Buffer[] {
  // eslint-disable-next-line no-control-regex
  return texts.filter((t) => !/["\\\u0000-\u001f]/.test(t)).map((t) => Buffer.from(t));
}

/** buf[a..b) appended to the slab; returns the slab's new end. */
function put(buf: Buffer, a: number, b: number, slab: ByteSlab): number {
  slab.room(b - a);
  return slab.p + buf.copy(slab.buf, slab.p, a, b);
}

function matches(buf: Buffer, a: number, b: number, texts: Buffer[]): boolean {
  const len = b - a;
  for (let k = 0; k < texts.length; k++) {
    const t = texts[k];
    if (t.length !== len) continue;
    let j = 0;
    while (j < len && buf[a + j] === t[j]) j++;
    if (j === len) return true;
  }
  return false;
}

// Buffer's latin1Slice and utf8Slice, without toString()'s argument checks (a tenth of a run).
declare module 'node:buffer' {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    utf8Slice(start: number, end: number): string;
  }
}

// The views copy() reads and writes through: the line's and the output's (set by write()).
let srcView: DataView = new DataView(new ArrayBuffer(0));
let dstView: DataView = srcView;

/** buf[a..b) to out[p], four bytes at a time (faster than Buffer.copy's call for a run this short). */
function copy(buf: Buffer, a: number, b: number, out: Buffer, p: number): number {
  if (b - a > 256) return p + buf.copy(out, p, a, b);
  const src = srcView;
  const dst = dstView;
  for (; a + 4 <= b; a += 4, p += 4) dst.setInt32(p, src.getInt32(a, true), true);
  for (; a < b; a++) out[p++] = buf[a];
  return p;
}

/** copy(), with the views given: buf[a..b) to out[p], four bytes at a time. */
function copyRun(src: DataView, dst: DataView, buf: Buffer, a: number, b: number, out: Buffer, p: number): number {
  for (; a + 4 <= b; a += 4, p += 4) dst.setInt32(p, src.getInt32(a, true), true);
  for (; a < b; a++) out[p++] = buf[a];
  return p;
}

const digit = (c: number) => c >= 0x30 && c <= 0x39;
const d2 = (buf: Buffer, i: number) => (buf[i] - 0x30) * 10 + buf[i + 1] - 0x30;

/** YYYY-MM-DD of a real day: what the ISO date parser gives back unchanged. */
function isoDate(buf: Buffer, a: number): boolean {
  for (let k = 0; k < 10; k++) {
    const c = buf[a + k];
    if (k === 4 || k === 7 ? c !== 0x2d : !digit(c)) return false;
  }
  const m = d2(buf, a + 5);
  const d = d2(buf, a + 8);
  return m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(d2(buf, a) * 100 + d2(buf, a + 2), m);
}

/**
 * YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM], valid: the ISO datetime parser's canonical form,
 * which it gives back unchanged.
 */
function isoDatetime(buf: Buffer, a: number, b: number): boolean {
  const len = b - a;
  if (len < 19 || len > 35 || !isoDate(buf, a) || buf[a + 10] !== 0x54) return false;
  return isoTime(buf, a, b);
}

/** The part of isoDatetime after the date and its T: HH:MM:SS[.fraction][Z|±HH:MM] to b. */
function isoTime(buf: Buffer, a: number, b: number): boolean {
  for (let k = 11; k < 19; k++) {
    const c = buf[a + k];
    if (k === 13 || k === 16 ? c !== 0x3a : !digit(c)) return false;
  }
  if (d2(buf, a + 11) > 23 || d2(buf, a + 14) > 59 || d2(buf, a + 17) > 60) return false;
  let i = a + 19;
  if (buf[i] === 0x2e && i < b) {
    const f = ++i;
    while (i < b && digit(buf[i])) i++;
    if (i === f || i - f > 9) return false;
  }
  if (i === b) return true;
  if (buf[i] === 0x5a) return i + 1 === b;
  if ((buf[i] !== 0x2b && buf[i] !== 0x2d) || b - i !== 6) return false;
  if (!digit(buf[i + 1]) || !digit(buf[i + 2]) || buf[i + 3] !== 0x3a || !digit(buf[i + 4]) || !digit(buf[i + 5]))
    return false;
  return d2(buf, i + 1) <= 23 && d2(buf, i + 4) <= 59;
}
