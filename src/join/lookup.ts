// The small side of bx-join's hash join: an NDJSON file read whole into a Map, keyed by the
// canonical JSON of its key values, with a running estimate of the bytes it holds so that a
// lookup too big for memory is refused before the machine swaps.
import { CantCreateError, DataError, type Origin } from '../lib/errors.js';
import { openInput, type Io } from '../lib/io.js';
import { readRecordBatches } from '../lib/records.js';
import type { Rec } from '../lib/stream.js';

export interface LookupOptions {
  /** The key fields in the lookup's records, in --on order. */
  keys: string[];
  /** The fields to append (--fields); undefined: every field but the keys, in first-seen order. */
  fields?: string[];
  /** --memory, in bytes. */
  memory: number;
  memoryText: string;
}

export interface Lookup {
  /** Canonical key → the values to append, in `fields` order. */
  rows: Map<string, unknown[]>;
  fields: string[];
  /** Estimated bytes held. */
  bytes: number;
  name: string;
}

/**
 * The key a record joins on: JSON of its key values, or undefined when one is missing or null
 * (null never equals anything, as in SQL). Values compare as JSON: 5 and "5" differ, so type
 * both sides alike (bx-clean) or leave both as text.
 */
export function keyOf(rec: Rec, keys: string[]): string | undefined {
  if (keys.length === 1) {
    const v = rec[keys[0]];
    return v === undefined || v === null ? undefined : JSON.stringify(v);
  }
  const vals: unknown[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const v = rec[keys[i]];
    if (v === undefined || v === null) return undefined;
    vals[i] = v;
  }
  return JSON.stringify(vals);
}

/** Key values as a user reads them in a message: sku "A-1", store 3. */
export const describeKey = (rec: Rec, keys: string[]) =>
  keys.map((k) => `${k} ${rec[k] === undefined ? 'missing' : JSON.stringify(rec[k])}`).join(', ');

// What V8 holds for a value, roughly: object and string headers plus 2 bytes a character (a
// two-byte string at worst). An estimate to stop well before swap, not an exact count.
function sizeOf(v: unknown): number {
  if (v === null || v === undefined || typeof v === 'boolean') return 8;
  if (typeof v === 'number') return 16;
  if (typeof v === 'string') return 24 + 2 * v.length;
  if (Array.isArray(v)) {
    let n = 32 + 8 * v.length;
    for (const x of v) n += sizeOf(x);
    return n;
  }
  let n = 48;
  for (const k in v as Rec) n += 24 + k.length + sizeOf((v as Rec)[k]);
  return n;
}

/** 1.5 MB, 230 KB: a size as a person reads it. */
export function humanBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

export async function loadLookup(io: Io, path: string, opts: LookupOptions): Promise<Lookup> {
  const input = await openInput(io, path);
  const name = input.name;
  // First the records as read (the field list may grow as records come), then the value arrays.
  const byKey = new Map<string, { rec: Rec; line: number }>();
  const seen = new Set<string>();
  const keySet = new Set(opts.keys);
  const order: string[] = [];
  let bytes = 0;
  for await (const b of readRecordBatches(input.stream, name, { expectSealed: false })) {
    for (let i = 0; i < b.records.length; i++) {
      const rec = b.records[i];
      const at: Origin = { file: name, line: b.lines[i] };
      const key = keyOf(rec, opts.keys);
      if (key === undefined) {
        const k = opts.keys.find((f) => rec[f] === undefined || rec[f] === null)!;
        throw new DataError(at, k, `the lookup record has no key value (${rec[k] === null ? 'null' : 'missing'})`);
      }
      const prev = byKey.get(key);
      if (prev)
        throw new DataError(
          at,
          undefined,
          `duplicate key in the lookup (${describeKey(rec, opts.keys)}): line ${prev.line} has it too`,
        );
      if (!opts.fields) {
        for (const k in rec) {
          if (!keySet.has(k) && !seen.has(k)) {
            seen.add(k);
            order.push(k);
          }
        }
      }
      bytes += 64 + 2 * key.length + sizeOf(rec);
      if (bytes > opts.memory) {
        throw new CantCreateError(
          `${name}:${b.lines[i]}: the lookup passed --memory ${opts.memoryText} (about ${humanBytes(bytes)} held after ${byKey.size + 1} records); raise --memory, narrow it with --fields, or join the other way round`,
        );
      }
      byKey.set(key, { rec, line: b.lines[i] });
    }
  }
  const fields = opts.fields ?? order;
  if (opts.fields) {
    const any = new Set<string>();
    for (const { rec } of byKey.values()) for (const f of opts.fields) if (Object.hasOwn(rec, f)) any.add(f);
    const absent = opts.fields.filter((f) => !any.has(f));
    if (absent.length && byKey.size > 0)
      throw new DataError(
        undefined,
        undefined,
        `${name}: --fields ${absent.join(',')}: no lookup record has ${absent.length > 1 ? 'these fields' : 'this field'}`,
      );
  }
  const rows = new Map<string, unknown[]>();
  for (const [k, { rec }] of byKey) {
    rows.set(
      k,
      fields.map((f) => (Object.hasOwn(rec, f) ? rec[f] : null)),
    );
  }
  return { rows, fields, bytes, name };
}
