import { readFileSync } from 'node:fs';
import type { Argv, Options } from 'yargs';
import { BxError, classify, ExitCode, InternalError, PipeClosed, UsageError } from '../lib/errors.js';
import { RunStats, type Io } from '../lib/io.js';
import { Logger, type LogFormat, type Verbosity } from '../lib/log.js';
import { addSecret, hasPassword, redact } from '../lib/redact.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** The parsed argv, before a command's normalize() turns it into typed options. */
export type RawArgs = Record<string, any> & { _: (string | number)[] };

export interface CommandSpec<O> {
  /** One sentence: what the command does. */
  describe: string;
  /** After the command name, e.g. `[options] [FILE|-]...`. */
  usage: string;
  /** Real examples; the first one is shown right under the usage line. */
  examples: [string, string][];
  options: (y: Argv) => Argv;
  normalize: (a: RawArgs) => O;
  run: (io: Io, opts: O) => Promise<ExitCode>;
  /** Which sides carry a bx record stream: decides the --seal/--accept-unsealed flags. */
  stream: 'in' | 'out' | 'both' | 'none';
  /** The command rolls back on SIGINT/SIGTERM itself (io.signal); others die at once as usual. */
  handlesSignals?: boolean;
}

type Tty = { isTTY?: boolean; columns?: number };
export interface ProcessLike {
  stdin: import('node:stream').Readable;
  stdout: import('node:stream').Writable & Tty;
  stderr: import('node:stream').Writable & Tty;
  env: Record<string, string | undefined>;
  cwd: () => string;
}

/**
 * The only code that parses argv, catches errors, prints them and picks the exit code
 * (STYLE.md "A command"). Every bx-* main() is `cli(name, spec, argv)`.
 */
export async function cli<O>(prog: string, spec: CommandSpec<O>, argv: string[], proc: ProcessLike = process): Promise<ExitCode> {
  const env = proc.env;
  const earlyVerbosity: Verbosity = argv.includes('-q') || argv.includes('--quiet') ? 0 : argv.some((a) => /^-v+$|^--verbose$/.test(a)) ? 2 : 1;
  const earlyFormat: LogFormat = argv.includes('--log-format=json') || argv.join(' ').includes('--log-format json') || env.BX_LOG_FORMAT === 'json' ? 'json' : 'human';
  let log = new Logger(prog, proc.stderr, { format: earlyFormat, verbosity: earlyVerbosity, tty: Boolean(proc.stderr.isTTY) });
  addSecret(env.PGPASSWORD);
  addSecret(env.BX_HASH_KEY);
  // A reader leaving early (| head) is normal; never let EPIPE become an uncaught exception.
  proc.stdout.on('error', () => {});

  let a: RawArgs;
  try {
    a = (await quickArgs(prog, spec, argv, env)) ?? (await parseArgs(prog, spec, argv, env, proc));
  } catch (err) {
    // yargs words some errors over several lines ("Invalid values:\n  Argument: …"): one line here.
    log.error(redact((err instanceof Error ? err.message : String(err)).replace(/:?\s*\n\s*/g, ': ')));
    log.error(`try '${prog} --help'`);
    return ExitCode.Usage;
  }
  if (a.help || a.version) return ExitCode.Ok;

  const verbosity: Verbosity = a.quiet ? 0 : a.verbose ? 2 : 1;
  log = new Logger(prog, proc.stderr, { format: a['log-format'] as LogFormat, verbosity, tty: Boolean(proc.stderr.isTTY) });
  if (argv.some(hasPassword)) {
    log.warn('a password on the command line is visible to every user of this machine (ps); use PGPASSWORD, ~/.pgpass or DATABASE_URL instead');
  }

  const stats = new RunStats();
  const ac = new AbortController();
  const sealEnv = env.BX_SEAL === '1' || env.BX_SEAL === 'true';
  const io: Io = {
    stdin: proc.stdin,
    stdout: proc.stdout,
    stderr: proc.stderr,
    env,
    cwd: proc.cwd(),
    log,
    stats,
    signal: ac.signal,
    seal: {
      seal: Boolean(a.seal) || sealEnv,
      expectSealed: (Boolean(a.seal) || sealEnv) && !a['accept-unsealed'],
    },
  };

  const onSignal = (sig: NodeJS.Signals) => {
    log.warn(`${sig} received; stopping`);
    ac.abort(new InterruptedError(sig));
  };
  if (spec.handlesSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const ticker = log.opts.tty && verbosity > 0 ? setInterval(() => log.progress(progressText(stats)), 1000) : undefined;
  ticker?.unref();

  try {
    const opts = spec.normalize(a);
    const code = await spec.run(io, opts);
    if (ticker) clearInterval(ticker);
    // Row counts mean nothing for a command that moves no records (bx-db).
    if (spec.stream !== 'none') summarize(log, stats, code === ExitCode.Ok ? 'ok' : 'failed');
    return code;
  } catch (err) {
    if (ticker) clearInterval(ticker);
    if (err instanceof InterruptedError) {
      log.error(`interrupted by ${err.signal}`);
      return (err.signal === 'SIGINT' ? 130 : 143) as ExitCode;
    }
    const known = classify(err);
    if (known instanceof PipeClosed) {
      // `| head` is a normal end, as for cat: nothing to say unless asked.
      log.debug(`output closed by its reader after ${stats.rowsIn} rows in`);
      return ExitCode.Ok;
    }
    if (known instanceof BxError) {
      log.error(known.message);
      if (log.verbose) {
        proc.stderr.write(redact(String((err as Error).stack)) + '\n');
        summarize(log, stats, 'failed');
      }
      return known.exitCode;
    }
    const msg = err instanceof Error ? err.message : String(err);
    log.error(`internal error: ${msg}${log.verbose ? '' : ' (run with -v for the stack trace)'}`);
    if (log.verbose) proc.stderr.write(redact(String((err as Error)?.stack ?? err)) + '\n');
    return ExitCode.Software;
  } finally {
    if (spec.handlesSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

export class InterruptedError extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/** The options every command has, after its own. */
function commonOptions<O>(spec: CommandSpec<O>, env: Record<string, string | undefined>): [string, Options][] {
  const common: [string, Options][] = [
    ['quiet', { alias: 'q', type: 'boolean', describe: 'print errors only' }],
    ['verbose', { alias: 'v', type: 'boolean', describe: 'more detail; stack traces on internal errors' }],
    ['log-format', { choices: ['human', 'json'], default: env.BX_LOG_FORMAT === 'json' ? 'json' : 'human', describe: 'stderr as sentences or as JSON lines (env BX_LOG_FORMAT)', defaultDescription: 'human' }],
  ];
  if (spec.stream !== 'none') {
    common.push(
      ['seal', { type: 'boolean', describe: 'sealed stream: end output with an end-of-stream mark and require one on input (env BX_SEAL=1)' }],
      ['accept-unsealed', { type: 'boolean', describe: 'read plain NDJSON input inside a sealed pipeline' }],
    );
  }
  return common;
}

const PARSER_CONFIGURATION = { 'greedy-arrays': false, 'strip-aliased': true, 'strip-dashed': false };

/**
 * argv parsed without loading yargs (~35 modules, half of a command's start-up CPU): by
 * yargs-parser, the parser yargs itself runs, with the same options and configuration, then
 * checked as yargs checks it (strictOptions, choices, demandOption). undefined sends the argv
 * to yargs instead: --help, --version, and anything yargs would refuse, so that messages stay
 * yargs' own. A test compares both on the argv of every command.
 */
export async function quickArgs<O>(prog: string, spec: CommandSpec<O>, argv: string[], env: Record<string, string | undefined>): Promise<RawArgs | undefined> {
  if (argv.some((t) => t === '-h' || t === '--help' || t === '-V' || t === '--version' || /^-[a-zA-Z]*[hV]/.test(t))) return undefined;
  const declared: [string, Options][] = [];
  const recorder = {
    option(name: string, o: Options) {
      declared.push([name, o]);
      return recorder;
    },
    // Outside a command yargs only takes a positional's default (as an option's).
    positional(name: string, o: Options) {
      if (o.default !== undefined) declared.push([name, { default: o.default }]);
      return recorder;
    },
    strict: () => recorder,
    strictOptions: () => recorder,
  };
  spec.options(recorder as unknown as Argv);
  declared.push(...commonOptions(spec, env));
  const byType: Record<'boolean' | 'string' | 'number' | 'array', string[]> = { boolean: [], string: [], number: [], array: [] };
  const alias: Record<string, string[]> = {};
  const defaults: Record<string, unknown> = {};
  const known = new Set<string>(['_', '$0']);
  for (const [name, o] of declared) {
    if (o.type === 'boolean' || o.type === 'string' || o.type === 'number') byType[o.type].push(name);
    if (o.array) byType.array.push(name);
    const aliases = o.alias === undefined ? [] : Array.isArray(o.alias) ? o.alias : [o.alias];
    if (aliases.length) alias[name] = aliases;
    if (o.default !== undefined) defaults[name] = o.default;
    for (const n of [name, ...aliases]) known.add(n).add(n.replace(/-([a-z])/g, (_: string, c: string) => c.toUpperCase()));
  }
  const { default: parser } = await import('yargs-parser');
  const parsed = parser.detailed(argv, { ...byType, alias, default: defaults, configuration: PARSER_CONFIGURATION });
  if (parsed.error) return undefined;
  const a = parsed.argv as RawArgs;
  for (const k of Object.keys(a)) if (!known.has(k)) return undefined;
  for (const [name, o] of declared) {
    const v = a[name];
    if (o.demandOption && v === undefined) return undefined;
    if (o.choices && v !== undefined && ![v].flat().every((x) => (o.choices as unknown[]).includes(x))) return undefined;
  }
  a.$0 = prog;
  return a;
}

export async function parseArgs<O>(prog: string, spec: CommandSpec<O>, argv: string[], env: Record<string, string | undefined>, proc: ProcessLike): Promise<RawArgs> {
  const { default: yargs } = await import('yargs');
  const [first, ...more] = spec.examples;
  let y = yargs(argv)
    .scriptName(prog)
    .usage(`Usage: ${prog} ${spec.usage}\nExample: ${first[0]}\n\n${spec.describe}`)
    .parserConfiguration(PARSER_CONFIGURATION)
    .strict()
    .exitProcess(false)
    .wrap(Math.min(110, proc.stdout.columns ?? 100))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  y = spec.options(y);
  for (const [name, o] of commonOptions(spec, env)) y = y.option(name, o);
  for (const [cmd, what] of [first, ...more]) y = y.example(cmd, what);
  y = y.help('help').alias('help', 'h').version('version', 'show the version', VERSION).alias('version', 'V');
  return (await y.parseAsync()) as RawArgs;
}

function rate(stats: RunStats): { seconds: number; perSecond: number } {
  const seconds = (Date.now() - stats.started) / 1000;
  const rows = Math.max(stats.rowsIn, stats.rowsOut);
  return { seconds, perSecond: seconds > 0 ? Math.round(rows / seconds) : rows };
}

function progressText(stats: RunStats) {
  const r = rate(stats);
  return `${stats.rowsIn} rows in, ${stats.rowsOut} out, ${stats.rejected} rejected, ${r.perSecond} rows/s`;
}

function summarize(log: Logger, stats: RunStats, status: 'ok' | 'failed') {
  const r = rate(stats);
  const text = `${status === 'ok' ? 'done' : 'failed'}: ${stats.rowsIn} rows in, ${stats.rowsOut} out, ${stats.rejected} rejected, ${r.seconds.toFixed(2)} s, ${r.perSecond} rows/s${stats.note ? `; ${stats.note}` : ''}`;
  log.info(text, {
    event: 'summary',
    status,
    rows_in: stats.rowsIn,
    rows_out: stats.rowsOut,
    rejected: stats.rejected,
    seconds: Number(r.seconds.toFixed(3)),
    rows_per_second: r.perSecond,
  });
}
