import { ExitCode } from '../lib/errors.js';
import { VERSION } from '../run/cli.js';
import { commands, summaries } from './index.js';

const help = () =>
  [
    'Usage: bx <command> [options] [args]',
    '  e.g. bx extract sales.csv | bx clean --type Sales:decimal | bx load --table sales --create',
    '',
    'bx is a family of small batch-ETL commands that pass NDJSON records over pipes.',
    '`bx <command> …` runs `bx-<command> …`; `bx <command> --help` and `man bx-<command>` say more.',
    '',
    'Commands:',
    ...Object.entries(summaries).map(([name, what]) => `  ${name.padEnd(9)} ${what}`),
    '',
    'Environment: BX_SEAL=1 seals every stream, BX_LOG_FORMAT=json logs JSON lines,',
    'DATABASE_URL (or PG* variables) names the PostgreSQL server; BX_RUN_LOG=FILE|postgres://… records',
    'every run (bx runs reads it), BX_PIPELINE_ID names the pipeline, BX_METRICS_DIR writes Prometheus files.',
    '',
    'Exit status: 0 ok, 64 usage, 65 data error, 66 input missing, 69 service unavailable,',
    '70 internal error, 73 cannot create output, 74 I/O error, 75 temporary failure, 77 permission denied,',
    '78 configuration.',
    '',
  ].join('\n');

/** `bx <cmd> …` runs the command in this process: one start-up, not two. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return ExitCode.Ok;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`bx: unknown command "${name}"; known: ${Object.keys(commands).join(', ')}\n`);
    return ExitCode.Usage;
  }
  return (await load()).main(rest);
}
