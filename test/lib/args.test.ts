// cli() parses argv with yargs-parser alone when it can (quickArgs), and with yargs for --help,
// --version and whatever yargs would refuse. The two must agree: quickArgs gives exactly what
// yargs gives, or hands the argv over (undefined) — never a different result, never a pass
// where yargs would stop with a usage error.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { parseArgs, quickArgs, type CommandSpec, type ProcessLike } from '../../src/run/cli.js';

const commands: [string, CommandSpec<unknown>['stream'], string[][]][] = [
  [
    'extract',
    'out',
    [
      ['sales.csv'],
      ['-q', 'a.csv', 'b.csv.gz'],
      ['--lineage', '-f', 'tsv', '--no-header', '--columns', 'id,name', '-'],
      ['--delimiter', ';', '--quote', '', '--escape', '\\', 'x.csv'],
      ['--skip-lines', '2', '--comment', '#', '--encoding', 'latin1', 'x.csv'],
      ['--record-path', 'rss.channel.item', 'feed.xml', '-v'],
      ['--rejects', 'r.ndjson', '--max-rejects', '1%', 'x.csv'],
      ['--max-record-size', '1K', 'x.csv', '--log-format', 'json'],
      ['--header=false', 'x.csv'],
      ['--seal', '--accept-unsealed', '-'],
      ['--unknown-flag', 'x.csv'],
      ['--skip-lines', 'abc', 'x.csv'],
      ['--log-format', 'yaml'],
      ['-qv', 'x.csv'],
      ['--', '-weird-file.csv'],
      ['--help'],
      ['-V'],
    ],
  ],
  [
    'clean',
    'both',
    [
      ['--type', 'qty:integer', '--type', 'price:decimal:2', 'in.ndjson'],
      ['--trim', '--null-values', 'NA,null,', '--rename', 'a=b', '--rename', 'c=d', '-'],
      ['--keep', 'a,b', '--drop', 'c', '--default', 'qty=0', '--lower', 'a', '--upper', 'b'],
      ['--set', 'x = a * 2', '--set', 'y = x + 1', '--where', 'y > 5'],
      ['--dedupe', 'a,b', '--hash', 'email', '--mask', 'card', '--redact', 'ssn', '--rejects', '/dev/null'],
      [
        '--dedupe',
        '--schema',
        's.json',
        '--required',
        'a',
        '--min',
        'n=1',
        '--max',
        'n=9',
        '--pattern',
        's=[a-z]+',
        '--enum',
        'c=a,b',
      ],
      ['--max-rejects', '0.5%', 'a.ndjson', 'b.ndjson'],
      ['--nope'],
    ],
  ],
  [
    'agg',
    'both',
    [
      ['--by', 'category', '--agg', 'count,sum:Sales'],
      ['-b', 'region', '-b', 'category', '-a', 'total=sum:Sales', '--sort', '-total', '--top', '5'],
      ['--partial', '--keyed', 'in.ndjson'],
      ['--merge', '--keyed', '--sorted', '-'],
      ['--memory', '64MB', '--rejects', 'r.ndjson', '--by', 'x'],
      ['--by'],
      ['--frobnicate', '1'],
    ],
  ],
  [
    'load',
    'in',
    [
      ['--table', 'sales', '--create'],
      ['-t', 'sales', '--mode', 'upsert', '--key', 'sale_id', 'in.ndjson'],
      ['--table', 's.t', '--replace-where', 'sale_date=2026-11-23', '--ignore-extra'],
      [
        '--table',
        't',
        '--db',
        'postgres://u@h/db',
        '--sslmode',
        'verify-full',
        '--infer-rows',
        '500',
        '--schema',
        's.json',
        '--create',
      ],
      ['--table', 't', '--mode', 'sideways'],
      ['--table', 't', '--sslmode', 'maybe'],
      ['--create'],
      ['--table', 't', '--infer-rows', 'many'],
      ['--table', 't', '--no-create'],
      ['--table=t', '--mode=replace'],
    ],
  ],
  [
    'schema',
    'both',
    [
      ['in.ndjson'],
      ['--sql', '--table', 'sales.orders'],
      ['--sample', '10000', '-'],
      ['--primary-key', '--copy-compatible'],
      ['--sql=maybe'],
    ],
  ],
  [
    'db',
    'none',
    [
      ['start'],
      ['start', '--dir', '.bx/x', '-q'],
      ['url'],
      ['psql', '--', '-c', 'table sales'],
      ['stop', '--port', '5999'],
      ['status', '--bogus'],
    ],
  ],
];

const proc: ProcessLike = {
  stdin: new PassThrough(),
  stdout: Object.assign(new PassThrough(), { columns: 100 }),
  stderr: new PassThrough(),
  env: {},
  cwd: () => '/',
};

for (const [name, stream, cases] of commands) {
  t.test(`bx-${name}: quickArgs gives what yargs gives, or leaves the argv to it`, async (t) => {
    const mod = (await import(`../../src/commands/${name}.js`)) as { options: CommandSpec<unknown>['options'] };
    const spec: CommandSpec<unknown> = {
      describe: 'd',
      usage: 'u',
      examples: [['e', 'e']],
      options: mod.options,
      normalize: (a) => a,
      run: async () => 0,
      stream,
    };
    let quick = 0;
    for (const argv of cases) {
      for (const env of [{}, { BX_LOG_FORMAT: 'json' }]) {
        const fast = await quickArgs(`bx-${name}`, spec, argv, env);
        let full: unknown;
        try {
          full = await parseArgs(`bx-${name}`, spec, argv, env, proc);
        } catch (err) {
          full = `usage error: ${(err as Error).message}`;
        }
        if (fast === undefined) continue;
        quick++;
        t.same(fast, full, `${JSON.stringify(argv)} ${JSON.stringify(env)}`);
      }
    }
    t.ok(quick >= 4, `most valid argv took the quick path (${quick})`);
  });
}
