// bx-clean's domain (as agg/ is bx-agg's): the per-record steps, in the order the man page
// gives them, applied one batch at a time: rename, trim and nulls, defaults, case, the schema's
// types and rules, --set and --where, dedupe, privacy, keep/drop.
import type { CompiledSchema } from '../lib/convert.js';
import { DigestSet, keyText } from '../lib/dedupe.js';
import type { Origin } from '../lib/errors.js';
import { evalJson, ExprError, test, type Expression } from '../lib/expr.js';
import type { Hasher } from '../lib/hash.js';
import { mask } from '../lib/hash.js';
import { isIndexKey, keyOrderOf, setKey, setKeyOrder, stringifyRecord } from '../lib/json.js';
import { originOfRecord } from '../lib/lineage.js';
import { localIsoToUtc } from '../lib/timezone.js';
import type { Logger } from '../lib/log.js';
import type { MaxRejects, RuleFailure } from '../lib/rejects.js';
import type { Field, TableSchema } from '../lib/schema.js';
import { lineText, parseRecord } from '../lib/records.js';
import { ByteSlab } from '../lib/slab.js';
import type { Batch, Rec } from '../lib/stream.js';
import type { ByteCleaner } from './bytes.js';
import { isLineBatch, type LineBatch } from './line-source.js';

/** Lines of batches of lines go out in blocks of at least this many (LineWriter's batch). */
const HAND_ON = 1000;

type RejectFn = (rec: unknown, fails: RuleFailure[], at: Origin) => void;

/** A batch's lines as records, as readRecordBatches parses them. */
const parseLines = (b: LineBatch): Rec[] =>
  b.starts.map((_, i) => parseRecord(lineText(b, i), { file: b.name, line: b.lines[i] }));

export interface CleanOptions {
  inputs: string[];
  schemaFile: string | undefined;
  types: Field[];
  trim: boolean;
  /** --timezone ZONE: typed datetimes without an offset are local times there, written in UTC. */
  timezone?: string;
  nullValues: string[] | undefined;
  rename: Map<string, string>;
  keep: string[] | undefined;
  drop: string[];
  defaults: [string, string][];
  lower: string[];
  upper: string[];
  rules: {
    required: string[];
    min: [string, string][];
    max: [string, string][];
    pattern: [string, string][];
    enum: [string, string[]][];
  };
  where: Expression[];
  set: (Expression & { target: string })[];
  dedupe: string[] | undefined;
  /** --memory: the bound on --dedupe's seen-key set (spilled to sorted runs past it). */
  memory?: number;
  /** --temp-dir: where --dedupe's runs go (default: TMPDIR or /tmp). */
  tempDir?: string;
  hash: string[];
  mask: string[];
  redact: string[];
  rejects: string | undefined;
  maxRejects: MaxRejects | undefined;
}

const describeKey = (vals: unknown[]) =>
  vals.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v ?? null))).join(', ');

export interface CleanSteps {
  /** The records of `batch` that pass, with their lines; the others go to `reject`. */
  batch(batch: Batch, reject: RejectFn): Batch;
  /** Records --where left out so far. */
  filtered(): number;
  /** After the last batch: lines of batches of lines not handed on yet. */
  rest(name: string): Batch | undefined;
}

/** The steps for these options; `schema`/`compiled` come from --schema and the rule flags, `base` is the --schema file's. */
export function cleanSteps(
  opts: CleanOptions,
  schema: TableSchema | undefined,
  compiled: CompiledSchema | undefined,
  base: TableSchema | undefined,
  hasher: Hasher | undefined,
  log: Logger,
  /** The byte path, for batches of lines (LineSource's); undefined: every line through objects. */
  bytes?: ByteCleaner,
  /** Where output lines are built (a RecyclingSlab on a shell pipe). */
  slab: ByteSlab = new ByteSlab(),
): CleanSteps {
  const rename = opts.rename.size ? opts.rename : undefined;
  const zone = opts.timezone;
  const datetimes = schema ? schema.fields.filter((f) => f.type === 'datetime').map((f) => f.name) : [];
  const nulls = opts.nullValues ? new Set(opts.nullValues) : undefined;
  const trim = opts.trim;
  const defaults = opts.defaults;
  const lower = opts.lower;
  const upper = opts.upper;
  const sets = opts.set;
  const wheres = opts.where;
  const dedupeKeys = opts.dedupe;
  const seen = dedupeKeys
    ? new DigestSet(1 << 16, {
        memory: opts.memory,
        tempDir: opts.tempDir,
        onSpill: (run, keys) => log.info(`--dedupe: spilled run ${run} (${keys} keys) to disk to stay within --memory`),
      })
    : undefined;
  const keyVals: unknown[] = dedupeKeys ? new Array(dedupeKeys.length) : [];
  const drop = opts.drop.length ? new Set(opts.drop) : undefined;
  const keep = opts.keep;
  const privacy = opts.hash.length + opts.mask.length + opts.redact.length > 0;
  // Keys keep source order (DESIGN.md), also integer-like ones such as "2019", which an object
  // lists first: a record that holds one is written in the order it came in (KEY_ORDER, set by
  // the parser), renamed, dropped or kept as asked, with --default and --set fields after.
  const added = [...new Set([...defaults.map(([k]) => k), ...sets.map((e) => e.target)])];
  const indexNames = [...added, ...(keep ?? []), ...opts.rename.values()].some(isIndexKey);
  const orderOut = (src: string[]): string[] => {
    if (keep) return keep;
    let base = src;
    if (rename) base = base.map((k) => rename.get(k) ?? k);
    if (drop) base = base.filter((k) => !drop.has(k));
    return [...base, ...added];
  };
  let filtered = 0;
  // A typed or checked field that no record of the first batch holds is most likely misspelt.
  let unseen: string[] | undefined = schema ? schema.fields.map((f) => f.name) : undefined;
  const warnUnseen = (names: string[], recs: Rec[]) => {
    const before = new Map([...opts.rename].map(([o, n]) => [n, o]));
    const defaulted = new Set(opts.defaults.map(([n]) => n));
    const missing = names.filter(
      (n) => !defaulted.has(n) && !recs.some((r) => Object.hasOwn(r, n) || Object.hasOwn(r, before.get(n) ?? n)),
    );
    for (const n of missing)
      log.warn(
        `field ${JSON.stringify(n)} (from ${opts.schemaFile && base?.fields.some((f) => f.name === n) ? opts.schemaFile : 'the command line'}) is in none of the first ${recs.length} records; is the name right?`,
      );
    return undefined;
  };

  /** One record through every step: what goes out, or undefined (rejected or filtered out). */
  const one = (rec: Rec, name: string, line: number, reject: RejectFn): Rec | undefined => {
    // The key order it came in, when it will matter (taken before --default/--set add keys).
    const srcOrder = keyOrderOf(rec) ?? (indexNames ? Object.keys(rec) : undefined);
    if (rename) {
      const r: Rec = {};
      for (const k in rec) setKey(r, rename.get(k) ?? k, rec[k]);
      rec = r;
    }
    if (trim || nulls) {
      for (const k in rec) {
        let v = rec[k];
        if (typeof v !== 'string') continue;
        if (trim) v = v.trim();
        if (nulls && nulls.has(v as string)) v = null;
        if (v !== rec[k]) setKey(rec, k, v);
      }
    }
    for (let d = 0; d < defaults.length; d++) {
      const [k, v] = defaults[d];
      if (rec[k] === undefined || rec[k] === null || !Object.hasOwn(rec, k)) setKey(rec, k, v);
    }
    for (let k = 0; k < lower.length; k++) {
      const v = rec[lower[k]];
      if (typeof v === 'string' && Object.hasOwn(rec, lower[k])) setKey(rec, lower[k], v.toLowerCase());
    }
    for (let k = 0; k < upper.length; k++) {
      const v = rec[upper[k]];
      if (typeof v === 'string' && Object.hasOwn(rec, upper[k])) setKey(rec, upper[k], v.toUpperCase());
    }
    if (compiled) {
      const fails = compiled.apply(rec);
      if (fails) {
        reject(rec, fails, originOfRecord(rec, name, line));
        return undefined;
      }
      if (zone) {
        for (let k = 0; k < datetimes.length; k++) {
          const v = rec[datetimes[k]];
          if (typeof v === 'string') setKey(rec, datetimes[k], localIsoToUtc(v, zone));
        }
      }
    }
    if (sets.length || wheres.length) {
      const fail = derive(rec);
      if (fail === false) {
        filtered++;
        return undefined;
      }
      if (fail) {
        reject(rec, [fail], originOfRecord(rec, name, line));
        return undefined;
      }
    }
    if (seen) {
      for (let k = 0; k < keyVals.length; k++)
        keyVals[k] = Object.hasOwn(rec, dedupeKeys![k]) ? rec[dedupeKeys![k]] : null;
      if (!seen.add(keyText(keyVals))) {
        const field = dedupeKeys!.join(',');
        const value = keyVals.length === 1 ? keyVals[0] : [...keyVals];
        reject(
          rec,
          [
            {
              field,
              rule: 'duplicate',
              value,
              message: `duplicate key (${describeKey(keyVals)}): an earlier record has it`,
            },
          ],
          originOfRecord(rec, name, line),
        );
        return undefined;
      }
    }
    if (privacy) {
      for (const k of opts.hash) if (Object.hasOwn(rec, k)) setKey(rec, k, hasher!.hash(rec[k]));
      for (const k of opts.mask) if (Object.hasOwn(rec, k)) setKey(rec, k, mask(rec[k]));
      for (const k of opts.redact) if (Object.hasOwn(rec, k)) setKey(rec, k, null);
    }
    if (keep) {
      const r: Rec = {};
      for (const k of keep) setKey(r, k, Object.hasOwn(rec, k) ? rec[k] : null);
      rec = r;
    } else if (drop) {
      const r: Rec = {};
      for (const k in rec) if (!drop.has(k)) setKey(r, k, rec[k]);
      rec = r;
    }
    if (srcOrder !== undefined) setKeyOrder(rec, orderOut(srcOrder));
    return rec;
  };

  const objects = (batch: Batch, reject: RejectFn): Batch => {
    const recs = batch.records;
    if (unseen) unseen = warnUnseen(unseen, recs);
    const out: Rec[] = [];
    const lines: number[] = [];
    for (let i = 0; i < recs.length; i++) {
      const rec = one(recs[i], batch.name, batch.lines[i], reject);
      if (rec === undefined) continue;
      out.push(rec);
      lines.push(batch.lines[i]);
    }
    return { name: batch.name, lines, records: out };
  };

  // Lines cleaned but not yet handed on (their bytes are the slab's untaken ones): they go out
  // 1000 at a time, as LineWriter sends records, so that a run that fails has written what the
  // object path would have written before it (nothing, on an input that ends unsealed).
  let held: number[] = [];
  const hand = (name: string): Batch => {
    if (held.length < HAND_ON) return { name, lines: [], records: [] };
    const lines = held;
    held = [];
    return { name, lines, records: [], ndjson: slab.take() };
  };
  const put = (rec: Rec) => {
    const text = stringifyRecord(rec) + '\n';
    slab.room(3 * text.length);
    slab.p += slab.buf.write(text, slab.p, 'utf8');
  };

  /**
   * A batch of lines (LineSource's): each line the byte path can clean, cleaned from its bytes;
   * each other one parsed and given to the object path. Rejects are handed on once the whole
   * batch is through, as on the object path, whose reader parses a whole batch before any step
   * runs: a malformed line stops the run with the same rejects written before it.
   */
  const lineBatch = (b: LineBatch, reject: RejectFn): Batch => {
    const { buf, starts, ends, name } = b;
    if (unseen || !bytes) {
      const out = objects({ name, lines: b.lines, records: parseLines(b) }, reject);
      for (let i = 0; i < out.records.length; i++) put(out.records[i]);
      held.push(...out.lines);
      return hand(name);
    }
    const rejects: [unknown, RuleFailure[], Origin][] = [];
    const hold: RejectFn = (rec, fails, at) => void rejects.push([rec, fails, at]);
    const lines: number[] = [];
    for (let i = 0; i < starts.length; i++) {
      const j = bytes.lines(buf, starts, ends, i, slab);
      for (; i < j; i++) lines.push(b.lines[i]);
      if (i === starts.length) break;
      const rec = one(parseRecord(lineText(b, i), { file: name, line: b.lines[i] }), name, b.lines[i], hold);
      if (rec === undefined) continue;
      put(rec);
      lines.push(b.lines[i]);
    }
    for (const [rec, fails, at] of rejects) reject(rec, fails, at);
    for (let i = 0; i < lines.length; i++) held.push(lines[i]);
    return hand(name);
  };

  return {
    filtered: () => filtered,
    batch: (batch, reject) => (isLineBatch(batch) ? lineBatch(batch, reject) : objects(batch, reject)),
    rest: (name) => {
      if (held.length === 0) return undefined;
      const lines = held;
      held = [];
      return { name, lines, records: [], ndjson: slab.take() };
    },
  };

  /** --set in order, then --where: false when filtered out, a failure on an expression error. */
  function derive(rec: Rec): RuleFailure | false | undefined {
    let e: Expression | undefined;
    try {
      for (let k = 0; k < sets.length; k++) {
        e = sets[k];
        setKey(rec, sets[k].target, evalJson(sets[k], rec));
      }
      for (let k = 0; k < wheres.length; k++) {
        e = wheres[k];
        if (!test(wheres[k], rec)) return false;
      }
    } catch (err) {
      if (!(err instanceof ExprError)) throw err;
      const target = (e as { target?: string }).target;
      return {
        field: target,
        rule: 'expression',
        message: `${target !== undefined ? '--set' : '--where'} ${JSON.stringify(e!.source)}: ${err.message}`,
      };
    }
    return undefined;
  }
}
