import type { Argv } from 'yargs';
import { Plan, listItems, parseSort, type SortKey } from '../agg/plan.js';
import type { Group } from '../agg/slots.js';
import { GroupTable, partialLine } from '../agg/table.js';
import { keyCmp, valueCmp } from '../agg/values.js';
import { cli, type CommandSpec, type RawArgs } from '../run/cli.js';
import { DataError, ExitCode, UsageError, type Origin } from '../lib/errors.js';
import { openInput, type Io } from '../lib/io.js';
import { parseJson, stringifyRecord } from '../lib/json.js';
import { splitLines } from '../lib/lines.js';
import type { LineRecordBatch } from '../lib/records.js';
import type { Batch, Checkpoint, Rec, Sink, Source } from '../lib/stream.js';
import { runStage } from '../run/stage.js';
import { NdjsonSource } from '../sources/ndjson.js';
import { parseSize } from '../lib/size.js';
import { checkTrailer, TRAILER_PREFIX, UNSEALED_END } from '../lib/seal.js';
import { rejectsArgs, type MaxRejects } from '../lib/rejects.js';
import { decodeText } from '../lib/text.js';
import { LineWriter } from '../lib/write.js';

export const describe =
  'Group records and compute exact aggregates: count, sum, avg, min, max, count_distinct, first, last, median, percentiles, stddev.';

export interface AggOptions {
  inputs: string[];
  plan: Plan;
  sort: SortKey[];
  top: number | undefined;
  partial: boolean;
  merge: boolean;
  keyed: boolean;
  sorted: boolean;
  memory: number;
  tempDir: string | undefined;
  rejects: string | undefined;
  maxRejects: MaxRejects | undefined;
}

export const options = (y: Argv) =>
  y
    // Files are positional: reject unknown flags, not arguments.
    .strict(false)
    .strictOptions(true)
    .positional('input', { describe: 'NDJSON files (or partial states with --merge); - or nothing for stdin' })
    .option('by', {
      alias: 'b',
      type: 'string',
      array: true,
      describe: 'group by these fields (comma-separated, repeatable); none: one total record',
    })
    .option('agg', {
      alias: 'a',
      type: 'string',
      array: true,
      describe:
        '[NAME=]FUNC[:FIELD], comma-separated, repeatable; FUNC: count, sum, avg, min, max, count_distinct, first, last, median, p50, p90, p95, p99 (any pNN), stddev. Default: count',
    })
    .option('sort', {
      type: 'string',
      array: true,
      describe: 'order output by FIELD[:asc|:desc] (output fields, comma-separated); ties by key. Default: by key',
    })
    .option('top', { type: 'number', describe: 'keep the first N groups after sorting' })
    .option('partial', { type: 'boolean', describe: 'emit mergeable partial states, one per group, for --merge' })
    .option('merge', { type: 'boolean', describe: 'read partial states (from --partial) and combine them' })
    .option('keyed', {
      type: 'boolean',
      describe: 'partial states as KEY<TAB>STATE lines, KEY the group key as JSON (for sort, Hadoop, Spark)',
    })
    .option('sorted', {
      type: 'boolean',
      describe: 'input is grouped by key: constant memory, groups out in arrival order',
    })
    .option('memory', {
      type: 'string',
      default: '512MB',
      describe: 'memory the process stays within: group state spills sorted runs to temporary files before it',
    })
    .option('temp-dir', { type: 'string', describe: 'where spilled runs go (default: TMPDIR or /tmp)' })
    .option('extra-digits', {
      type: 'number',
      default: 4,
      describe: 'avg and stddev: fraction digits beyond the largest input scale',
    })
    .option('rejects', {
      type: 'string',
      describe: 'write records with a non-numeric value in a numeric aggregate here (NDJSON, 0600) instead of stopping',
    })
    .option('max-rejects', { type: 'string', describe: 'fail (exit 65) past N rejects or a percentage like 0.5%' });

export function normalize(a: RawArgs): AggOptions {
  const inputs = (a._ as (string | number)[]).map(String);
  const extra = a['extra-digits'];
  if (!Number.isInteger(extra) || extra < 0 || extra > 100)
    throw new UsageError(`--extra-digits: expected an integer from 0 to 100, got ${a['extra-digits']}`);
  const plan = new Plan(listItems(a.by), listItems(a.agg), extra);
  const partial = Boolean(a.partial);
  const merge = Boolean(a.merge);
  const sort = parseSort(listItems(a.sort), plan);
  const top = a.top as number | undefined;
  if (top !== undefined && (!Number.isInteger(top) || top < 1))
    throw new UsageError(`--top: expected a positive integer, got ${a.top}`);
  if (partial && (sort.length > 0 || top !== undefined))
    throw new UsageError('--sort and --top apply to final results; use them with --merge, not --partial');
  if (a.keyed && !partial && !merge) throw new UsageError('--keyed needs --partial or --merge');
  const rejects = rejectsArgs(a);
  if (merge && rejects.rejects !== undefined)
    throw new UsageError('--rejects applies to records, not to --merge of partial states');
  return {
    inputs: inputs.length ? inputs : ['-'],
    plan,
    sort,
    top,
    partial,
    merge,
    keyed: Boolean(a.keyed),
    sorted: Boolean(a.sorted),
    memory: parseSize('memory', String(a.memory)),
    tempDir: a['temp-dir'],
    ...rejects,
  };
}

export async function run(io: Io, opts: AggOptions): Promise<ExitCode> {
  const { plan } = opts;
  const table = new GroupTable(plan, {
    memory: opts.memory,
    tempDir: opts.tempDir ?? io.env.TMPDIR,
    sorted: opts.sorted,
    keyOrder: opts.sort.length === 0,
    log: (m) => io.log.debug(m),
  });
  // A keyed stream belongs to the shuffle (sort, Hadoop): it is never sealed.
  const writer = new LineWriter(io.stdout, io.seal.seal && !(opts.partial && opts.keyed));
  const out = new Output(writer, opts);
  // The byte path (src/agg/line-scan.ts) reads only the wanted fields of each line; the object
  // path parses every record. BX_AGG_OBJECT_PATH=1 forces the object path (a testing switch:
  // both must give the same output, rejects and errors).
  const bytes = !opts.merge && table.scan !== undefined && io.env.BX_AGG_OBJECT_PATH !== '1';
  // Groups go out through `out` as they close and at the end; the sink only ends the stream.
  const sink: Sink = {
    write: async () => {},
    end: async (t) => {
      await out.end(t.checkpoint);
      return { rows: writer.count };
    },
    abort: () => table.cleanup(),
  };
  await runStage(io, {
    sources: opts.inputs.map((path) =>
      opts.merge ? new PartialsSource(io, path, opts.keyed) : new NdjsonSource(io, path, { bytes }),
    ),
    sink,
    rejects: { path: opts.rejects, max: opts.maxRejects },
    each: async (b, reject) => {
      if (opts.merge) {
        const sizes = (b as PartialBatch).sizes;
        for (let i = 0; i < b.records.length; i++)
          table.addPartial(b.records[i], { file: b.name, line: b.lines[i] }, sizes[i]);
      } else if (bytes) {
        table.addLines(b as Batch & LineRecordBatch, reject);
      } else {
        table.addRecords(b.records, b.lines, b.name, reject);
      }
      await afterBatch(table, out);
      return undefined;
    },
    finish: async function* () {
      for await (const groups of table.finish()) await out.groups(groups);
    },
    note: () => (table.spilled > 0 ? `spilled ${table.spilled} group states to disk` : undefined),
  });
  if (bytes) io.log.debug(`byte path: ${table.scannedLines} of ${io.stats.rowsIn} lines read from their bytes`);
  return ExitCode.Ok;
}

async function afterBatch(table: GroupTable, out: Output) {
  const closed = table.takeClosed();
  if (closed.length) await out.groups(closed);
  await table.maybeSpill();
}

interface PartialBatch extends Batch {
  /** Each state's size in memory, estimated from its line (for --memory). */
  sizes: number[];
}

/**
 * Partial states in, one per line: `{"@agg":…}` or, with --keyed, `KEY<TAB>{"@agg":…}`. Without
 * --keyed the input may be several sealed streams one after another (`cat part*.ndjson`): each
 * end-of-stream mark must count the states before it.
 */
class PartialsSource implements Source {
  constructor(
    private readonly io: Io,
    readonly name: string,
    private readonly keyed: boolean,
  ) {}

  async *batches(): AsyncGenerator<PartialBatch> {
    const input = await openInput(this.io, this.name);
    const name = input.name;
    const expectSealed = this.io.seal.expectSealed && !this.keyed;
    let inSegment = 0;
    let marks = 0;
    let last = 0;
    for await (const batch of splitLines(decodeText(input.stream, name), name)) {
      const lines = batch.lines;
      const out: PartialBatch = { name, lines: [], records: [], sizes: [] };
      for (let i = 0; i < lines.length; i++) {
        let text = lines[i];
        if (text.length === 0 || text === '\r') continue;
        const at: Origin = { file: name, line: batch.first + i };
        if (!this.keyed && text.startsWith(TRAILER_PREFIX)) {
          checkTrailer(text, at, inSegment);
          inSegment = 0;
          marks++;
          continue;
        }
        if (this.keyed) {
          const tab = text.indexOf('\t');
          if (tab < 0)
            throw new DataError(at, undefined, 'expected KEY<TAB>STATE (a line of bx-agg --partial --keyed)');
          text = text.slice(tab + 1);
        }
        out.records.push(parseJson(text, at) as Rec);
        out.lines.push(at.line);
        out.sizes.push(100 + 2 * text.length);
        inSegment++;
      }
      last = batch.first + lines.length;
      yield out;
    }
    if (expectSealed && (marks === 0 || inSegment > 0))
      throw new DataError({ file: name, line: last }, undefined, UNSEALED_END);
  }
}

/** Up to this --top, the best rows are kept in order as they come (keep()); above, sorted at the end. */
const KEEP_TOP = 1000;

interface Ranked {
  row: Record<string, unknown>;
  key: unknown[];
}

/** Final rows (sorted, cut to --top) or partial states, written as they come when possible. */
class Output {
  private buffered: Ranked[] = [];
  private written = 0;

  constructor(
    private readonly writer: LineWriter,
    private readonly opts: AggOptions,
  ) {}

  async groups(gs: Group[]) {
    const { plan, partial, keyed, sort, top } = this.opts;
    if (partial) {
      const lines = gs.map((g) => (keyed ? JSON.stringify(g.key) + '\t' : '') + partialLine(plan, g.key, g.s));
      await this.writer.lines(lines);
      return;
    }
    if (sort.length === 0) {
      for (const g of gs) {
        if (top !== undefined && this.written >= top) return;
        this.written++;
        await this.writer.line(stringifyRecord(plan.row(g.key, g.s)));
      }
      return;
    }
    if (top !== undefined && top <= KEEP_TOP) {
      for (const g of gs) this.keep({ row: plan.row(g.key, g.s), key: g.key }, top);
      return;
    }
    for (const g of gs) this.buffered.push({ row: plan.row(g.key, g.s), key: g.key });
    // Keep memory bounded by --top: cut back to the best N now and then.
    if (top !== undefined && this.buffered.length > 2 * top + 10000) this.cut();
  }

  /** The order of the output: --sort, then the group key (a total order on groups). */
  private readonly order = (a: Ranked, b: Ranked): number => {
    for (const k of this.opts.sort) {
      const c = valueCmp(a.row[k.field], b.row[k.field]);
      if (c !== 0) return k.desc ? -c : c;
    }
    return keyCmp(a.key, b.key);
  };

  /**
   * --top N: `buffered` stays the best N so far, in order; a row that beats the last goes in after
   * every row not after it. Profile before (top 10 of 5,000 SKUs): sorting every row was 14 ms.
   */
  private keep(r: Ranked, top: number) {
    const b = this.buffered;
    if (b.length === top && this.order(r, b[top - 1]) >= 0) return;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.order(r, b[mid]) < 0) hi = mid;
      else lo = mid + 1;
    }
    b.splice(lo, 0, r);
    if (b.length > top) b.length = top;
  }

  private cut() {
    const { top } = this.opts;
    if (top !== undefined && top <= KEEP_TOP) return; // kept in order by keep()
    this.buffered.sort(this.order);
    if (top !== undefined && this.buffered.length > top) this.buffered.length = top;
  }

  async end(checkpoint?: Checkpoint[]) {
    if (this.opts.sort.length > 0) {
      this.cut();
      await this.writer.lines(this.buffered.map((b) => stringifyRecord(b.row)));
    }
    await this.writer.end(checkpoint);
  }
}

export const spec: CommandSpec<AggOptions> = {
  describe,
  usage: '[options] [FILE|-]...',
  examples: [
    [
      'bx-extract sales.csv | bx-agg --by Category --agg revenue=sum:Sales,count',
      'revenue and record count per category, exact decimals',
    ],
    [
      "bx-agg --by 'Product Name' --agg revenue=sum:Sales --sort revenue:desc --top 5 sales.ndjson",
      'the five best-selling products',
    ],
    ['bx-agg --agg count,avg:Sales,p90:Sales,stddev:Sales sales.ndjson', 'one total record, no --by'],
    [
      'parallel --pipe bx-agg --partial --by Region --agg sum:Sales < s.ndjson | bx-agg --merge --by Region --agg sum:Sales',
      'the same result from many cores',
    ],
    [
      'bx-agg --partial --keyed --by Region --agg sum:Sales s.ndjson | sort | bx-agg --merge --keyed --sorted --by Region --agg sum:Sales',
      'map, shuffle and reduce, as Hadoop Streaming runs it',
    ],
  ],
  options,
  normalize,
  run,
  stream: 'both',
};

export const main = (argv: string[]) => cli('bx-agg', spec, argv);
