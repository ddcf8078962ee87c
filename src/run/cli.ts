import { fstatSync, readFileSync } from 'node:fs';
import type { Argv, Options } from 'yargs';
import { BxError, classify, ExitCode, PipeClosed, UsageError } from '../lib/errors.js';
import { pipeStdout } from '../lib/pipe-out.js';
import { RunStats, type Io } from '../lib/io.js';
import { Logger, type LogFormat, type Verbosity } from '../lib/log.js';
import { addSecret, hasPassword, redact } from '../lib/redact.js';
import {
  HINT_LINE_CODES,
  HINTS,
  monitored,
  newRunId,
  pipelineIdFor,
  progressText,
  recordRun,
  summarize,
  type RunContext,
  type RunOutcome,
} from './summary.js';

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
  /** false: no run record, no metrics, no --metrics-file (bx-runs: reading the log must not grow it). */
  record?: boolean;
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
 * (STYLE.md "A command"). Every bx-* main() is `cli(name, spec, argv)`. It is also the one place
 * that watches a run: the progress line, the closing summary, the run record (BX_RUN_LOG) and the
 * metrics file (--metrics-file, BX_METRICS_DIR) all hang off it (src/run/summary.ts), so every
 * command gets them without a line of its own.
 */
export async function cli<O>(
  prog: string,
  spec: CommandSpec<O>,
  argv: string[],
  proc: ProcessLike = process,
): Promise<ExitCode> {
  const env = proc.env;
  // A blocking pipe on fd 1 is written from the thread pool (src/lib/pipe-out.ts): the next stage
  // is fed while this one computes. process.stdout is then never created (creating it would make
  // the pipe non-blocking).
  const pipeOut = proc === process ? pipeStdout(env) : undefined;
  if (pipeOut) proc = withStdout(proc, pipeOut);
  const stats = new RunStats();
  stats.runId = newRunId();
  let idsDerived = false;
  // Derived at once when wanted: a later stage must still find the group leader in /proc.
  const ids = () => {
    if (!idsDerived) {
      stats.pipelineId = pipelineIdFor(env, stats.runId);
      idsDerived = true;
    }
    return { run_id: stats.runId, pipeline_id: stats.pipelineId };
  };
  const earlyVerbosity: Verbosity =
    argv.includes('-q') || argv.includes('--quiet') ? 0 : argv.some((a) => /^-v+$|^--verbose$/.test(a)) ? 2 : 1;
  const earlyFormat: LogFormat =
    argv.includes('--log-format=json') || argv.join(' ').includes('--log-format json') || env.BX_LOG_FORMAT === 'json'
      ? 'json'
      : 'human';
  const tty = Boolean(proc.stderr.isTTY);
  let log = new Logger(prog, proc.stderr, {
    format: earlyFormat,
    verbosity: earlyVerbosity,
    tty,
    columns: proc.stderr.columns,
    ids,
  });
  addSecret(env.PGPASSWORD);
  addSecret(env.BX_HASH_KEY);
  // A password in a URL or a key=value string is redacted by pattern; registered as well, it is
  // also hidden where a library quotes it bare (an error echoing a connection parameter).
  for (const text of [env.DATABASE_URL, env.BX_RUN_LOG, ...argv]) for (const pw of passwordsIn(text)) addSecret(pw);
  if (earlyFormat === 'json' || monitored(env, argv.some((a) => a.startsWith('--metrics-file')) ? 'yes' : undefined))
    ids();
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
  log = new Logger(prog, proc.stderr, {
    format: a['log-format'] as LogFormat,
    verbosity,
    tty,
    columns: proc.stderr.columns,
    ids,
  });
  if (argv.some(hasPassword)) {
    const mysql = argv.some((t) => /(mysql|mariadb):\/\//i.test(t));
    log.warn(
      `a password on the command line is visible to every user of this machine (ps); use ${mysql ? 'MYSQL_PWD or ~/.my.cnf' : 'PGPASSWORD, ~/.pgpass or DATABASE_URL'} instead`,
    );
  }

  const metricsFile = spec.record === false || a['metrics-file'] === undefined ? undefined : String(a['metrics-file']);
  const ctx: RunContext = { prog, argv, env, stats, log, metricsFile };
  const watched = spec.record !== false && monitored(env, metricsFile);
  if (watched || log.opts.format === 'json') ids();
  stats.countInput(proc.stdin);
  stats.countOutput(proc.stdout);

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
  // A command that does not roll back itself dies of the signal at once, as before; when the
  // run is watched it first records "interrupted", then dies of the same signal (so a shell
  // still sees 128+n).
  const onSignalRecord = (sig: NodeJS.Signals) => {
    stopTicker();
    log.clearProgress();
    const code = 128 + (sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15);
    const done = recordRun(ctx, {
      status: 'interrupted',
      exitCode: code,
      error: `interrupted by ${sig}`,
      ended: Date.now(),
    });
    const die = () => {
      removeSignalHandlers();
      process.kill(process.pid, sig);
    };
    // A database run log gets two seconds; the signal is not held up longer than that.
    const timer = setTimeout(die, 2000);
    done.finally(() => {
      clearTimeout(timer);
      die();
    });
  };
  const signals: NodeJS.Signals[] = [
    'SIGINT',
    'SIGTERM',
    ...(spec.handlesSignals ? [] : (['SIGHUP'] as NodeJS.Signals[])),
  ];
  const handler = spec.handlesSignals ? onSignal : watched ? onSignalRecord : undefined;
  const removeSignalHandlers = () => {
    if (handler) for (const sig of signals) process.off(sig, handler);
  };
  if (handler) for (const sig of signals) process.once(sig, handler);

  // The size of stdin, when it is a file (`< big.csv`): counts toward % done once stdin is read.
  const stdinSize = tty && log.showsProgress ? stdinFileSize(proc.stdin) : undefined;
  const draw = () => {
    const stdinRead = ((proc.stdin as { bytesRead?: number }).bytesRead ?? 0) > 0;
    const total = (stats.totalBytes ?? 0) + (stdinRead && stdinSize ? stdinSize : 0);
    log.progress(progressText(stats, total || undefined));
  };
  // Four updates a second: the figures move visibly without costing the run anything measurable.
  let ticker = log.showsProgress ? setInterval(draw, PROGRESS_MS) : undefined;
  ticker?.unref();
  const stopTicker = () => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
  };

  /** Ends the run: progress away, summary, run record and metrics, then the error and its hint last. */
  const finish = async (outcome: RunOutcome, lines: () => void, summaryWanted: boolean, hint?: () => void) => {
    stopTicker();
    log.clearProgress();
    if (watched) await recordRun(ctx, outcome);
    lines();
    if (summaryWanted) summarize(log, stats, outcome);
    hint?.();
    return outcome.exitCode as ExitCode;
  };

  try {
    const opts = spec.normalize(a);
    const code = await spec.run(io, opts);
    // What the thread still holds is written before the run counts as done: a reader that left
    // meanwhile (| head) is the quiet end it would have been with process.stdout.
    if (pipeOut) await pipeOut.drained();
    // Row counts mean nothing for a command that moves no records (bx-db).
    return await finish(
      { status: code === ExitCode.Ok ? 'ok' : 'failed', exitCode: code, ended: Date.now() },
      () => {},
      spec.stream !== 'none',
    );
  } catch (err) {
    if (err instanceof InterruptedError) {
      const code = err.signal === 'SIGINT' ? 130 : 143;
      return await finish(
        { status: 'interrupted', exitCode: code, error: err.message, ended: Date.now() },
        () => log.error(`interrupted by ${err.signal}`),
        log.verbose,
      );
    }
    const known = classify(err);
    if (known instanceof PipeClosed) {
      // `| head` is a normal end, as for cat: nothing to say unless asked.
      return await finish(
        { status: 'ok', exitCode: ExitCode.Ok, ended: Date.now() },
        () => log.debug(`output closed by its reader after ${stats.rowsIn} rows in`),
        false,
      );
    }
    if (known instanceof BxError) {
      const message = redact(known.message);
      const hint = HINTS[known.exitCode];
      return await finish(
        { status: 'failed', exitCode: known.exitCode, error: message, ended: Date.now() },
        () => {
          log.error(
            message,
            log.opts.format === 'json'
              ? { event: 'error', exit_code: known.exitCode, ...(hint ? { hint } : {}) }
              : undefined,
          );
          if (log.verbose) proc.stderr.write(redact(String((err as Error).stack)) + '\n');
        },
        // The failed run's counts: in JSON always (a log shipper wants them), in sentences with -v.
        log.verbose || log.opts.format === 'json',
        // The last line says what to do (cron mail, a job log); 65 and 78 name the place already.
        () => {
          if (hint && log.opts.format !== 'json' && (HINT_LINE_CODES.has(known.exitCode) || log.verbose))
            log.error(hint);
        },
      );
    }
    const msg = err instanceof Error ? err.message : String(err);
    return await finish(
      { status: 'failed', exitCode: ExitCode.Software, error: redact(`internal error: ${msg}`), ended: Date.now() },
      () => {
        log.error(
          `internal error: ${msg}${log.verbose ? '' : ' (run with -v for the stack trace)'}`,
          log.opts.format === 'json' ? { event: 'error', exit_code: ExitCode.Software } : undefined,
        );
        if (log.verbose) proc.stderr.write(redact(String((err as Error)?.stack ?? err)) + '\n');
      },
      log.opts.format === 'json',
    );
  } finally {
    stopTicker();
    removeSignalHandlers();
  }
}

const PROGRESS_MS = 250;

function withStdout(proc: ProcessLike, stdout: ProcessLike['stdout']): ProcessLike {
  return {
    get stdin() {
      return proc.stdin;
    },
    stdout,
    stderr: proc.stderr,
    env: proc.env,
    cwd: () => proc.cwd(),
  };
}

function stdinFileSize(stdin: unknown): number | undefined {
  const fd = (stdin as { fd?: number }).fd;
  if (fd !== 0) return undefined;
  try {
    const st = fstatSync(0);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** The passwords in a postgres:// (any scheme://user:pw@) URL or a key=value string. */
function passwordsIn(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  for (const m of text.matchAll(/\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:([^@/\s]+)@/gi)) {
    try {
      out.push(decodeURIComponent(m[1]));
    } catch {
      /* a bad %-escape: the raw text is added below */
    }
    out.push(m[1]);
  }
  for (const m of text.matchAll(/\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&;]+)/gi))
    out.push(m[1].replace(/^'(.*)'$/, '$1').replace(/\\(.)/g, '$1'));
  return out;
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
    [
      'log-format',
      {
        choices: ['human', 'json'],
        default: env.BX_LOG_FORMAT === 'json' ? 'json' : 'human',
        describe: 'stderr as sentences or as JSON lines (env BX_LOG_FORMAT)',
        defaultDescription: 'human',
      },
    ],
  ];
  if (spec.record !== false) {
    common.push([
      'metrics-file',
      {
        type: 'string',
        describe: "write this run's figures to FILE.prom (Prometheus textfile format, atomically); env BX_METRICS_DIR",
      },
    ]);
  }
  if (spec.stream !== 'none') {
    common.push(
      [
        'seal',
        {
          type: 'boolean',
          describe: 'sealed stream: end output with an end-of-stream mark and require one on input (env BX_SEAL=1)',
        },
      ],
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
export async function quickArgs<O>(
  prog: string,
  spec: CommandSpec<O>,
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<RawArgs | undefined> {
  if (argv.some((t) => t === '-h' || t === '--help' || t === '-V' || t === '--version' || /^-[a-zA-Z]*[hV]/.test(t)))
    return undefined;
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
  const byType: Record<'boolean' | 'string' | 'number' | 'array', string[]> = {
    boolean: [],
    string: [],
    number: [],
    array: [],
  };
  const alias: Record<string, string[]> = {};
  const defaults: Record<string, unknown> = {};
  const known = new Set<string>(['_', '$0']);
  for (const [name, o] of declared) {
    if (o.type === 'boolean' || o.type === 'string' || o.type === 'number') byType[o.type].push(name);
    if (o.array) byType.array.push(name);
    const aliases = o.alias === undefined ? [] : Array.isArray(o.alias) ? o.alias : [o.alias];
    if (aliases.length) alias[name] = aliases;
    if (o.default !== undefined) defaults[name] = o.default;
    for (const n of [name, ...aliases])
      known.add(n).add(n.replace(/-([a-z])/g, (_: string, c: string) => c.toUpperCase()));
  }
  const { default: parser } = await import('yargs-parser');
  const parsed = parser.detailed(argv, { ...byType, alias, default: defaults, configuration: PARSER_CONFIGURATION });
  if (parsed.error) return undefined;
  const a = parsed.argv as RawArgs;
  for (const k of Object.keys(a)) if (!known.has(k)) return undefined;
  for (const [name, o] of declared) {
    const v = a[name];
    if (o.demandOption && v === undefined) return undefined;
    if (o.choices && v !== undefined && ![v].flat().every((x) => (o.choices as unknown[]).includes(x)))
      return undefined;
  }
  a.$0 = prog;
  return a;
}

export async function parseArgs<O>(
  prog: string,
  spec: CommandSpec<O>,
  argv: string[],
  env: Record<string, string | undefined>,
  proc: ProcessLike,
): Promise<RawArgs> {
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
