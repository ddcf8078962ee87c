// The groups of one run: records (or partial states) in, groups out in key order. Past the
// memory bound, groups are written to disk as sorted runs of partial states and combined at the
// end by a k-way merge, so the result is the same as if everything had fitted.
import { originOfRecord } from '../lib/lineage.js';
import { createReadStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DataError, type Origin } from '../lib/errors.js';
import { splitLines } from '../lib/lines.js';
import { parseRecord, type LineRecordBatch, type Rec } from '../lib/records.js';
import type { RuleFailure } from '../lib/rejects.js';

/** Where a record that cannot be aggregated goes (the stage's rejects). */
export type RejectRecord = (rec: Rec, errors: RuleFailure[], at: Origin) => void;
import { decodeText } from '../lib/text.js';
import type { Plan } from './plan.js';
import { LineScan } from './line-scan.js';
import { ByteKeys, MISS } from './byte-keys.js';

import { Group, MALFORMED, NumCol, type BatchView, type ScanColumn } from './slots.js';
import { BAD, keyCmp, scanNumber, type Scanned } from './values.js';

/**
 * The share of --memory the process may fill before group state spills, leaving room for the
 * spill itself (the sorted groups, their partial lines) and for the garbage V8 has yet to collect.
 */
const SPILL_AT = 0.7;

/** Rough heap bytes of a new group besides its key text; states add their own growth. */
const GROUP_BYTES = 220; // measured: ~306 bytes for a one-string key and one exact sum
const SLOT_BYTES = 72;
/** Bytes of a key in the byte path's index (entries at most half full, its arena, its arrays). */
const KEY_BYTES = 48;
/** Bytes of a key's entries in a slot's column (three 8-byte arrays at most, grown by doubling). */
const COLUMN_BYTES = 32;

export interface TableOptions {
  /**
   * The process's resident size to stay within (--memory): group state spills when its
   * estimate passes it, or earlier, when the process itself grows past SPILL_AT of it.
   */
  memory: number;
  /** The process's resident size now (tests give their own). */
  rss?: () => number;
  tempDir?: string;
  /** Where a spill is told (-v). */
  log?: (message: string) => void;
  /** Input arrives grouped by key: keep one group at a time. */
  sorted: boolean;
  /**
   * false: finish() may give the groups of a run that fitted in memory in any order (the caller
   * sorts them itself, by --sort and then by key, a total order on groups).
   */
  keyOrder?: boolean;
}

/** The map key of a group: the string itself for one string field, else the key's JSON. */
function keyTextOf(rec: Rec, by: string[]): string {
  if (by.length === 1) {
    const v = rec[by[0]];
    // A leading NUL marks JSON text, so "x" and a string that looks like JSON never collide.
    if (typeof v === 'string' && v.charCodeAt(0) !== 0) return v;
    return '\u0000' + JSON.stringify(v === undefined ? null : v);
  }
  let k = '';
  for (let i = 0; i < by.length; i++) {
    const v = rec[by[i]];
    k += (i ? ',' : '') + JSON.stringify(v === undefined ? null : v);
  }
  return k;
}

const keyTextOfKey = (key: unknown[], by: string[]): string => {
  const rec: Rec = {};
  for (let i = 0; i < by.length; i++) Object.defineProperty(rec, by[i], { value: key[i], enumerable: true });
  return keyTextOf(rec, by);
};

/** Where an error about a record points: its `_file`/`_line` lineage when present. */
export const recordOrigin = originOfRecord;

export class GroupTable {
  private readonly map = new Map<string, Group>();
  private current: Group | undefined;
  /** Groups closed by --sorted input, waiting for takeClosed(). */
  private closed: Group[] = [];
  private bytes = 0;
  private runs: string[] = [];
  private dir: string | undefined;
  private groups: Group[] = [];
  private skip = new Uint8Array(0);
  private readonly cols = new Map<string, NumCol>();
  private readonly numFields: string[];
  private readonly scanned: Scanned = { m: 0, s: 0, d: undefined };
  spilled = 0;
  /** The byte path (line-scan.ts), when every slot has one; else undefined. */
  readonly scan: LineScan | undefined;
  /** Per slot, the scanner's index of its field (-1: none); the --by fields' indices. */
  private readonly slotField: number[] = [];
  private readonly byField: number[] = [];
  /** Lines the byte path took (the rest were parsed into records). */
  scannedLines = 0;

  constructor(
    private readonly plan: Plan,
    private readonly opts: TableOptions,
  ) {
    this.numFields = plan.numericFields();
    for (const f of this.numFields) this.cols.set(f, new NumCol());
    const wanted = [
      ...new Set([...plan.by, ...plan.slots.flatMap((sl) => (sl.field === undefined ? [] : [sl.field]))]),
    ];
    if (plan.slots.every((sl) => sl.scans) && LineScan.usable(wanted)) {
      this.scan = new LineScan(wanted, this.numFields);
      this.byField = plan.by.map((f) => wanted.indexOf(f));
      this.slotField = plan.slots.map((sl) => (sl.field === undefined ? -1 : wanted.indexOf(sl.field)));
      if (!opts.sorted && plan.by.length > 0) {
        this.keys = new ByteKeys(this.byField);
        this.scanCols = plan.slots.map((sl) => sl.column());
        this.keyBytes += COLUMN_BYTES * this.scanCols.filter((c) => c !== undefined).length;
      }
    }
  }

  /**
   * Adds a batch of NDJSON lines by the byte path: each line the scanner takes goes into its
   * group from its bytes; the others are parsed and added as records (addRecords), which keeps
   * the object path's results, rejects and errors for them.
   */
  addLines(b: LineRecordBatch, reject: RejectRecord): void {
    const sc = this.scan!;
    const { buf, starts, ends, lines, name } = b;
    const slots = this.plan.slots;
    const slotField = this.slotField;
    const ns = slots.length;
    let slow: number[] | undefined;
    for (let i = 0; i < lines.length; i++) {
      if (!sc.scan(buf, starts[i], ends[i])) {
        (slow ??= []).push(i);
        continue;
      }
      const keys = this.keys;
      const k = keys === undefined ? MISS : this.scannedKey(keys, sc);
      if (k === MISS) {
        const g = this.textGroup(sc);
        for (let j = 0; j < ns; j++) this.bytes += slots[j].addScan(g, j, sc, slotField[j]);
        continue;
      }
      const cols = this.scanCols;
      for (let j = 0; j < ns; j++) {
        const col = cols[j];
        if (col === undefined || !col.add(k, sc, slotField[j]))
          this.bytes += slots[j].addScan(keys!.group(k), j, sc, slotField[j]);
      }
    }
    this.scannedLines += lines.length - (slow?.length ?? 0);
    if (!slow) return;
    const recs: Rec[] = [];
    const at: number[] = [];
    for (const i of slow) {
      recs.push(parseRecord(buf.toString('utf8', starts[i], ends[i]), { file: name, line: lines[i] }));
      at.push(lines[i]);
    }
    this.addRecords(recs, at, name, reject);
  }

  /**
   * The key number of the line just scanned, found by its key's bytes (byte-keys.ts), with no
   * string made; a key not seen yet is found or made by its key text, as keyTextOf makes it of the
   * record, and entered. MISS once the index is dropped: then textGroup() gives the group.
   * Profile before this (node --cpu-prof, top 10 of 5,000 SKUs): a 65536-entry direct-mapped
   * cache of key copies was 17.5 % of self time, mostly memory stalls on its scattered entries.
   */
  private scannedKey(keys: ByteKeys, sc: LineScan): number {
    const k = keys.find(sc);
    if (k !== MISS) {
      this.keyHits++;
      return k;
    }
    const n = keys.insert(sc, this.textGroup(sc));
    for (const col of this.scanCols) col?.grow(keys.size);
    // Keys that do not repeat (a million ids): the index only costs time and memory; drop it.
    if (keys.size > 65536 && keys.size > this.keyHits) {
      this.foldColumns();
      this.bytes -= this.keyBytes * (keys.size - 1);
      this.keys = undefined;
      return MISS;
    }
    this.bytes += this.keyBytes;
    return n;
  }

  /** Merges the byte path's per-key columns into their groups (slots.ts, ScanColumn). */
  private foldColumns(): void {
    const keys = this.keys;
    if (keys === undefined) return;
    for (let j = 0; j < this.scanCols.length; j++) {
      const col = this.scanCols[j];
      if (col !== undefined) for (let k = 0; k < keys.size; k++) col.fold(k, keys.group(k), j);
    }
  }

  /** The byte path's group index (none with --sorted, or once keys turned out not to repeat). */
  private keys: ByteKeys | undefined;
  private keyHits = 0;
  /** Per slot, its state per key of the index as a column, when it has that form (slots.ts). */
  private scanCols: (ScanColumn | undefined)[] = [];
  /** Estimated bytes per key of the index: its entry and arena, and the columns' entries. */
  private keyBytes = KEY_BYTES;

  private textGroup(sc: LineScan): Group {
    const by = this.byField;
    let keyText = '';
    if (by.length === 1) {
      const v = sc.value(by[0]);
      keyText =
        typeof v === 'string' && v.charCodeAt(0) !== 0 ? v : '\u0000' + JSON.stringify(v === undefined ? null : v);
    } else {
      for (let i = 0; i < by.length; i++) {
        const v = sc.value(by[i]);
        keyText += (i ? ',' : '') + JSON.stringify(v === undefined ? null : v);
      }
    }
    if (!this.opts.sorted) {
      const g = this.map.get(keyText);
      if (g) return g;
    }
    return this.group(keyText, () => by.map((f) => sc.value(f) ?? null));
  }

  private group(keyText: string, key: () => unknown[]): Group {
    if (this.opts.sorted) {
      const cur = this.current;
      if (cur && cur.keyText === keyText) return cur;
      if (cur) this.closed.push(cur);
      return (this.current = new Group(key(), keyText, this.plan.slots));
    }
    let g = this.map.get(keyText);
    if (!g) {
      g = new Group(key(), keyText, this.plan.slots);
      this.map.set(keyText, g);
      this.bytes += GROUP_BYTES + 2 * keyText.length + SLOT_BYTES * this.plan.slots.length;
    }
    return g;
  }

  /**
   * Adds a batch of records. A record whose numeric field holds something else goes to
   * `reject` (which throws the DataError itself when there is no rejects file).
   */
  addRecords(recs: Rec[], lines: number[], name: string, reject: RejectRecord): number {
    const n = recs.length;
    const by = this.plan.by;
    if (this.skip.length < n) {
      this.skip = new Uint8Array(n);
      this.groups = new Array(n);
    }
    const { skip, groups, scanned } = this;
    skip.fill(0, 0, n);
    let rejected = 0;
    for (const f of this.numFields) {
      const col = this.cols.get(f)!;
      col.ensure(n);
      const { kind, m, sc, d } = col;
      for (let i = 0; i < n; i++) {
        const k = scanNumber(recs[i][f], scanned);
        kind[i] = k;
        if (k === BAD) {
          if (!skip[i]) rejected++;
          skip[i] = 1;
        } else {
          m[i] = scanned.m;
          sc[i] = scanned.s;
          d[i] = scanned.d;
        }
      }
    }
    if (rejected > 0) this.reject(recs, lines, name, reject);
    for (let i = 0; i < n; i++) {
      if (skip[i]) continue;
      const rec = recs[i];
      groups[i] = this.group(by.length === 0 ? '' : keyTextOf(rec, by), () =>
        by.map((f) => (rec[f] === undefined ? null : rec[f])),
      );
    }
    const view: BatchView = { recs, name, lines, n, skip, groups, cols: this.cols };
    const slots = this.plan.slots;
    for (let j = 0; j < slots.length; j++) this.bytes += slots[j].addBatch(view, j);
    groups.fill(undefined as unknown as Group, 0, n); // let closed groups go
    return rejected;
  }

  private reject(recs: Rec[], lines: number[], name: string, reject: RejectRecord) {
    for (let i = 0; i < recs.length; i++) {
      if (!this.skip[i]) continue;
      const errors: RuleFailure[] = [];
      for (const f of this.numFields) {
        if (this.cols.get(f)!.kind[i] !== BAD) continue;
        const value = recs[i][f];
        errors.push({ field: f, rule: 'number', value, message: `expected a number, got ${JSON.stringify(value)}` });
      }
      reject(recs[i], errors, recordOrigin(recs[i], name, lines[i]));
    }
  }

  /** Merges one partial state line (already parsed) into its group. */
  addPartial(p: unknown, at: Origin, approxBytes: number) {
    const { key, states } = this.decodePartial(p, at);
    const keyText = this.plan.by.length === 0 ? '' : keyTextOfKey(key, this.plan.by);
    const fresh = this.opts.sorted ? this.current?.keyText !== keyText : !this.map.has(keyText);
    const g = this.group(keyText, () => key);
    const slots = this.plan.slots;
    for (let j = 0; j < slots.length; j++) {
      g.s[j] = slots[j].merge(g.s[j], states[j]);
      if (!fresh) this.bytes += slots[j].grow(states[j]);
    }
    if (fresh) this.bytes += approxBytes;
  }

  decodePartial(p: unknown, at: Origin): { key: unknown[]; states: unknown[] } {
    const rec = p as { '@agg'?: unknown; key?: unknown; s?: unknown };
    if (rec === null || typeof rec !== 'object' || !('@agg' in rec)) {
      throw new DataError(at, undefined, 'not a partial state of bx-agg --partial (no "@agg" field)');
    }
    if (rec['@agg'] !== this.plan.sig) {
      throw new DataError(
        at,
        undefined,
        'partial state made with other --by/--agg options; give --merge the same --by and --agg as --partial',
      );
    }
    const slots = this.plan.slots;
    if (
      !Array.isArray(rec.key) ||
      rec.key.length !== this.plan.by.length ||
      !Array.isArray(rec.s) ||
      rec.s.length !== slots.length
    ) {
      throw new DataError(at, undefined, 'malformed partial state (key or states missing)');
    }
    const states = rec.s.map((v, j) => {
      const s = slots[j].decode(v);
      if (s === MALFORMED)
        throw new DataError(
          at,
          undefined,
          `malformed partial state for ${slots[j].id}: ${JSON.stringify(v).slice(0, 80)}`,
        );
      return s;
    });
    return { key: rec.key, states };
  }

  /** With --sorted: the groups whose key has ended, in arrival order. */
  takeClosed(): Group[] {
    const c = this.closed;
    this.closed = [];
    return c;
  }

  /**
   * Spills when past the memory bound; call between batches. --memory bounds the process, not
   * only the state estimate: a group's real cost (Map entry, key string, Group, state objects,
   * and V8's headroom above live data) varies with the keys and the slots, so the resident size
   * decides too. Measured before this (1 M groups of one short key and one exact sum): an
   * estimate of 306 MB, 440 MB resident; under --memory 256MB, 503 MB resident.
   */
  async maybeSpill(): Promise<void> {
    if (this.opts.sorted || this.map.size === 0) return;
    const memory = this.opts.memory;
    if (this.bytes > Math.min(this.budget, memory)) return this.spill();
    // Not for a few groups: a process whose heap stays large after a spill would otherwise
    // spill again at every batch. Runs of at least 1/32 of the bound keep the merge at a few dozen.
    if (this.bytes < memory / 32) return;
    if ((this.opts.rss ?? process.memoryUsage.rss)() > SPILL_AT * memory) {
      // This much state fills the process: spill at that size from now on.
      this.budget = Math.min(this.budget, this.bytes);
      await this.spill();
    }
  }

  /** Estimated bytes of group state to spill at (--memory, lowered when the process filled first). */
  private budget = Infinity;

  private sortedGroups(): Group[] {
    return [...this.map.values()].sort((a, b) => keyCmp(a.key, b.key));
  }

  private async spill() {
    this.foldColumns();
    this.dir ??= await fsp.mkdtemp(join(this.opts.tempDir ?? tmpdir(), 'bx-agg-'));
    const path = join(this.dir, `run-${this.runs.length}.ndjson`);
    const fh = await fsp.open(path, 'w', 0o600);
    try {
      let buf: string[] = [];
      for (const g of this.sortedGroups()) {
        buf.push(partialLine(this.plan, g.key, g.s));
        if (buf.length >= 1000) {
          await fh.write(buf.join('\n') + '\n');
          buf = [];
        }
      }
      if (buf.length) await fh.write(buf.join('\n') + '\n');
    } finally {
      await fh.close();
    }
    this.runs.push(path);
    this.spilled += this.map.size;
    const groups = this.map.size;
    this.keys?.clear();
    this.map.clear();
    this.bytes = 0;
    // The spilled groups are garbage now, most of it in V8's old space, which V8 collects only
    // when that space reaches a limit of its own, far above --memory on a large machine. Measured
    // without this (1 M groups, --memory 256MB): the heap grew by the spilled groups run after run
    // (98 to 235 MB used) until a collection came, 330-345 MB resident, with the resident-size
    // trigger spilling runs of 28 K groups in the meantime. A full collection here costs about
    // what the live heap holds, which the spill has just emptied.
    collectGarbage();
    this.opts.log?.(
      `spilled run ${this.runs.length}: ${groups} groups; ${Math.round(process.memoryUsage.rss() / 1048576)} MB resident after`,
    );
  }

  /**
   * Every group in key order (arrival order with --sorted), spilled runs merged in. The caller
   * gets them in chunks, so a huge result streams out.
   */
  async *finish(): AsyncGenerator<Group[]> {
    // Without --by there is always one total record, as SQL's `select count(*)` over no rows.
    if (
      this.plan.by.length === 0 &&
      this.map.size === 0 &&
      this.runs.length === 0 &&
      !this.current &&
      this.closed.length === 0
    ) {
      this.group('', () => []);
    }
    if (this.opts.sorted) {
      if (this.current) this.closed.push(this.current);
      this.current = undefined;
      yield this.takeClosed();
      return;
    }
    if (this.runs.length === 0) {
      this.foldColumns();
      // Profile (top 10 of 5,000 SKUs): sorting by key first was 11 ms of a 43 ms end.
      yield this.opts.keyOrder === false ? [...this.map.values()] : this.sortedGroups();
      return;
    }
    await this.spill();
    try {
      yield* this.mergeRuns();
    } finally {
      await fsp.rm(this.dir!, { recursive: true, force: true });
    }
  }

  /** Removes spilled runs after a failure. */
  async cleanup(): Promise<void> {
    if (this.dir) await fsp.rm(this.dir, { recursive: true, force: true });
  }

  private async *mergeRuns(): AsyncGenerator<Group[]> {
    const readers = this.runs.map((path) => new RunReader(path));
    const heads: ({ key: unknown[]; states: unknown[] } | undefined)[] = [];
    for (const r of readers) heads.push(await this.next(r));
    // A binary heap of run indices, ordered by head key, then run index (earlier runs first:
    // they hold earlier records, which first/last depend on).
    const heap: number[] = [];
    const less = (a: number, b: number) => {
      const c = keyCmp(heads[a]!.key, heads[b]!.key);
      return c < 0 || (c === 0 && a < b);
    };
    const push = (r: number) => {
      let i = heap.push(r) - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!less(heap[i], heap[p])) break;
        [heap[i], heap[p]] = [heap[p], heap[i]];
        i = p;
      }
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[l], heap[m])) m = l;
          if (r < heap.length && less(heap[r], heap[m])) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m], heap[i]];
          i = m;
        }
      }
      return top;
    };
    heads.forEach((h, i) => h && push(i));
    const slots = this.plan.slots;
    let out: Group[] = [];
    while (heap.length > 0) {
      const r = pop();
      const head = heads[r]!;
      const g = new Group(head.key, '', slots);
      for (let j = 0; j < slots.length; j++) g.s[j] = head.states[j];
      heads[r] = this.take(readers[r]) ?? (await this.next(readers[r]));
      if (heads[r]) push(r);
      while (heap.length > 0 && keyCmp(heads[heap[0]]!.key, g.key) === 0) {
        const r2 = pop();
        const h2 = heads[r2]!;
        for (let j = 0; j < slots.length; j++) g.s[j] = slots[j].merge(g.s[j], h2.states[j]);
        heads[r2] = this.take(readers[r2]) ?? (await this.next(readers[r2]));
        if (heads[r2]) push(r2);
      }
      out.push(g);
      if (out.length >= 1000) {
        yield out;
        out = [];
      }
    }
    yield out;
  }

  private async next(r: RunReader) {
    const line = await r.next();
    if (line === undefined) return undefined;
    return this.decodePartial(JSON.parse(line), { file: r.path, line: r.lineNo });
  }

  /**
   * The next state of a run when its line is already read, else undefined (then next()).
   * Profile of a 1 M-group merge: the per-line await of next() was 15 % of self time.
   */
  private take(r: RunReader) {
    const line = r.take();
    if (line === undefined) return undefined;
    return this.decodePartial(JSON.parse(line), { file: r.path, line: r.lineNo });
  }
}

let gc: (() => void) | undefined | null;

/**
 * A full garbage collection, now. Node has global.gc only with --expose-gc at start; setting the
 * flag at run time exposes it to contexts made afterwards, so a new context hands it over (made
 * once, at the first spill). Where that fails nothing is collected early (V8 still does it later).
 */
function collectGarbage(): void {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}

/** One partial state as a line: `{"@agg":SIG,"key":[…],"s":[…]}`. */
export function partialLine(plan: Plan, key: unknown[], states: unknown[]): string {
  const enc = new Array(states.length);
  for (let j = 0; j < states.length; j++) enc[j] = plan.slots[j].encode(states[j]);
  return `{"@agg":"${plan.sig}","key":${JSON.stringify(key)},"s":${JSON.stringify(enc)}}`;
}

/** Lines of a spilled run, read in small chunks (there may be many runs open at once). */
class RunReader {
  private it: AsyncIterator<{ first: number; lines: string[] }>;
  private lines: string[] = [];
  private i = 0;
  lineNo = 0;
  constructor(readonly path: string) {
    this.it = splitLines(decodeText(createReadStream(path, { highWaterMark: 64 * 1024 }), path), path)[
      Symbol.asyncIterator
    ]();
  }
  /** The next line when it is already read; undefined when a read is needed (or at the end). */
  take(): string | undefined {
    while (this.i < this.lines.length) {
      const l = this.lines[this.i++];
      this.lineNo++;
      if (l.length > 0) return l;
    }
    return undefined;
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      if (this.i < this.lines.length) {
        const l = this.lines[this.i++];
        this.lineNo++;
        if (l.length > 0) return l;
        continue;
      }
      const r = await this.it.next();
      if (r.done) return undefined;
      this.lines = r.value.lines;
      this.i = 0;
    }
  }
}
