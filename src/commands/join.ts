// bx-join: a hash join of the record stream against a small NDJSON lookup held in memory
// (src/join/lookup.ts). The big side streams through runStage() like every record stage.
import type { Argv } from 'yargs';
import { DataError, ExitCode, UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import { isIndexKey, keyOrderOf, setKeyOrder } from '../lib/json.js';
import { originOfRecord } from '../lib/lineage.js';
import { rejectsArgs, type MaxRejects } from '../lib/rejects.js';
import { parseSize, listItems } from '../lib/size.js';
import type { Batch, Rec } from '../lib/stream.js';
import { describeKey, humanBytes, keyOf, loadLookup } from '../join/lookup.js';
import { cli, type CommandSpec, type RawArgs } from '../run/cli.js';
import { runStage } from '../run/stage.js';
import { StdoutSink } from '../sinks/stdout.js';
import { NdjsonSource } from '../sources/ndjson.js';

export type Missing = 'keep' | 'null' | 'reject' | 'drop';
export const MISSING: readonly Missing[] = ['keep', 'null', 'reject', 'drop'];

export interface JoinOptions {
  inputs: string[];
  lookup: string;
  on: string[];
  onLookup: string[];
  fields?: string[];
  prefix: string;
  missing: Missing;
  memory: number;
  memoryText: string;
  rejects?: string;
  maxRejects?: MaxRejects;
}

export const describe =
  'Append the fields of a lookup file (NDJSON, held in memory) to each record with the same key: a hash join. A record whose key the lookup lacks is a reject (exit 65) unless --missing says otherwise.';

export const options = (y: Argv) =>
  y
    .strict(false)
    .strictOptions(true)
    .positional('input', { describe: 'NDJSON files; - or nothing for stdin' })
    .option('lookup', {
      alias: 'l',
      type: 'string',
      describe: 'the small side: an NDJSON file read whole into memory, one record per key',
    })
    .option('on', {
      type: 'string',
      array: true,
      describe: 'KEY1,KEY2: the key fields of the streamed records (comma-separated, repeatable)',
    })
    .option('on-lookup', {
      type: 'string',
      array: true,
      describe: "the lookup's key fields, in --on order (default: the same names)",
    })
    .option('fields', {
      type: 'string',
      array: true,
      describe: 'append only these lookup fields, in this order (default: all but the key)',
    })
    .option('prefix', {
      type: 'string',
      describe: 'put this before each appended field name, e.g. p_ (also resolves a name clash)',
    })
    .option('missing', {
      type: 'string',
      choices: MISSING as unknown as string[],
      default: 'reject',
      describe:
        'a record whose key is not in the lookup: keep it as is, null the appended fields, reject it, or drop it',
    })
    .option('memory', {
      type: 'string',
      default: '256MB',
      describe: 'refuse (exit 73) a lookup estimated to hold more than this in memory',
    })
    .option('rejects', {
      type: 'string',
      describe:
        'write records whose key is not in the lookup here (NDJSON, mode 0600), instead of stopping at the first',
    })
    .option('max-rejects', { type: 'string', describe: 'fail (exit 65) past N rejects or a percentage such as 0.5%' });

const list = listItems;

export function normalize(a: RawArgs): JoinOptions {
  const inputs = (a._ as (string | number)[]).map(String);
  if (a.lookup === undefined || String(a.lookup) === '')
    throw new UsageError('--lookup FILE is required: the small side of the join');
  const on = list(a.on);
  if (on.length === 0) throw new UsageError('--on KEY is required: the field(s) to join on');
  const onLookup = a['on-lookup'] === undefined ? on : list(a['on-lookup']);
  if (onLookup.length !== on.length)
    throw new UsageError(
      `--on-lookup names ${onLookup.length} field(s) but --on names ${on.length}: give one lookup field per key field`,
    );
  const fields = a.fields === undefined ? undefined : list(a.fields);
  if (fields && fields.length === 0) throw new UsageError('--fields: name at least one field');
  if (String(a.lookup) === '-' && inputs.every((i) => i === '-'))
    throw new UsageError('--lookup - and the records both on stdin: give the lookup as a file');
  const memoryText = String(a.memory);
  return {
    inputs: inputs.length ? inputs : ['-'],
    lookup: String(a.lookup),
    on,
    onLookup,
    fields,
    prefix: a.prefix === undefined ? '' : String(a.prefix),
    missing: a.missing as Missing,
    memory: parseSize('memory', memoryText),
    memoryText,
    ...rejectsArgs(a),
  };
}

export async function run(io: Io, opts: JoinOptions): Promise<ExitCode> {
  // Open the inputs first: a missing input is exit 66 before the lookup is read.
  const sources = opts.inputs.map((path) => new NdjsonSource(io, path));
  for (const s of sources) await s.open();
  const lookup = await loadLookup(io, opts.lookup, {
    keys: opts.onLookup,
    fields: opts.fields,
    memory: opts.memory,
    memoryText: opts.memoryText,
  });
  io.log.info(`lookup ${lookup.name}: ${lookup.rows.size} keys, about ${humanBytes(lookup.bytes)}`);
  const names = lookup.fields.map((f) => opts.prefix + f);
  // A name that JavaScript would enumerate first ("2019") must be written where it belongs: last.
  const needsOrder = names.some(isIndexKey);
  const nulls = names.map(() => null);
  let dropped = 0;
  let unmatched = 0;

  const append = (rec: Rec, vals: unknown[], at: () => { file: string; line: number }) => {
    for (const n of names) {
      if (Object.hasOwn(rec, n)) {
        throw new DataError(
          at(),
          n,
          `the record already has this field, and the lookup ${lookup.name} would add it: use --prefix or --fields`,
        );
      }
    }
    const order = keyOrderOf(rec) ?? (needsOrder ? Object.keys(rec) : undefined);
    for (let j = 0; j < names.length; j++) {
      if (names[j] === '__proto__')
        Object.defineProperty(rec, names[j], { value: vals[j], enumerable: true, writable: true, configurable: true });
      else rec[names[j]] = vals[j];
    }
    if (order) setKeyOrder(rec, [...order, ...names]);
  };

  const each = (
    b: Batch,
    reject: (
      record: unknown,
      failures: { field?: string; rule: string; value?: unknown; message: string }[],
      at: { file: string; line: number },
    ) => void,
  ): Batch | undefined => {
    const out: Rec[] = [];
    const lines: number[] = [];
    for (let i = 0; i < b.records.length; i++) {
      const rec = b.records[i];
      const at = () => originOfRecord(rec, b.name, b.lines[i]);
      const key = keyOf(rec, opts.on);
      const vals = key === undefined ? undefined : lookup.rows.get(key);
      if (vals) append(rec, vals, at);
      else {
        unmatched++;
        if (opts.missing === 'drop') {
          dropped++;
          continue;
        }
        if (opts.missing === 'reject') {
          const k = opts.on.find((f) => rec[f] === undefined || rec[f] === null);
          const message =
            k !== undefined
              ? `no key value to join on (${rec[k] === null ? 'null' : 'missing'})`
              : `key (${describeKey(rec, opts.on)}) is not in the lookup ${lookup.name}`;
          reject(
            rec,
            [
              {
                field: k ?? opts.on[0],
                rule: 'lookup',
                value: k !== undefined ? (rec[k] ?? null) : rec[opts.on[0]],
                message,
              },
            ],
            at(),
          );
          continue;
        }
        if (opts.missing === 'null') append(rec, nulls, at);
      }
      out.push(rec);
      lines.push(b.lines[i]);
    }
    return { name: b.name, lines, records: out };
  };

  await runStage(io, {
    sources,
    sink: new StdoutSink(io.stdout, io.seal.seal),
    rejects: { path: opts.rejects, max: opts.maxRejects },
    each,
    note: () => {
      if (!unmatched) return undefined;
      if (opts.missing === 'drop') return `${dropped} dropped: key not in the lookup`;
      if (opts.missing === 'keep' || opts.missing === 'null')
        return `${unmatched} without a match (--missing ${opts.missing})`;
      return undefined;
    },
  });
  return ExitCode.Ok;
}

export const spec: CommandSpec<JoinOptions> = {
  describe,
  usage: '--lookup FILE --on KEY[,KEY] [options] [FILE|-]...',
  examples: [
    [
      'bx-extract stock.json | bx-join --lookup catalogue.ndjson --on sku',
      "append each product's catalogue fields to its stock level",
    ],
    [
      'bx-join --lookup stores.ndjson --on store_id --on-lookup id --fields name,region --prefix store_ sales.ndjson',
      'two fields of the store, named store_name and store_region',
    ],
    [
      'bx-join --lookup prices.ndjson --on sku,store --missing null --rejects unmatched.ndjson',
      'a composite key; unmatched records get nulls',
    ],
  ],
  options,
  normalize,
  run,
  stream: 'both',
};

export const main = (argv: string[]) => cli('bx-join', spec, argv);
