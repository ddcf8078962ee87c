import type { Writable } from 'node:stream';
import { redact } from './redact.js';

export type LogFormat = 'human' | 'json';
export type Level = 'error' | 'warn' | 'info' | 'debug';

/** 0 quiet (errors only), 1 normal, 2 verbose. */
export type Verbosity = 0 | 1 | 2;

export interface LoggerOptions {
  format: LogFormat;
  verbosity: Verbosity;
  /** Progress lines only when stderr is a terminal (DESIGN.md "Logging"). */
  tty: boolean;
  /** Terminal width: a progress line longer than this would wrap, and \r would no longer rewrite it. */
  columns?: number;
  /** The run and pipeline ids on every JSON line, so a log shipper can join the stages of a run. */
  ids?: () => { run_id: string; pipeline_id: string };
}

const rank: Record<Level, Verbosity> = { error: 0, warn: 1, info: 1, debug: 2 };

/**
 * Everything a command says goes to stderr through here: one line per message, human or JSON,
 * always redacted. stdout is for records only.
 */
export class Logger {
  private progressShown = false;

  constructor(
    readonly prog: string,
    private readonly out: Writable,
    readonly opts: LoggerOptions,
  ) {}

  get verbose() {
    return this.opts.verbosity >= 2;
  }

  error(msg: string, fields?: Record<string, unknown>) {
    this.emit('error', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>) {
    this.emit('warn', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>) {
    this.emit('info', msg, fields);
  }
  debug(msg: string, fields?: Record<string, unknown>) {
    this.emit('debug', msg, fields);
  }

  /** Does progress() draw anything? Only on a terminal, not with -q, not for JSON lines. */
  get showsProgress() {
    return this.opts.tty && this.opts.verbosity > 0 && this.opts.format !== 'json';
  }

  /** A line that rewrites itself on a terminal; nothing at all elsewhere. */
  progress(text: string) {
    if (!this.showsProgress) return;
    let line = `${this.prog}: ${text}`;
    const width = (this.opts.columns ?? 80) - 1;
    if (line.length > width) line = line.slice(0, Math.max(0, width));
    this.out.write(`\r\x1b[K${line}`);
    this.progressShown = true;
  }

  /** Wipes the progress line, so that the terminal is left as it was (or for the next message). */
  clearProgress() {
    if (this.progressShown) {
      this.out.write('\r\x1b[K');
      this.progressShown = false;
    }
  }

  emit(level: Level, msg: string, fields?: Record<string, unknown>) {
    if (rank[level] > this.opts.verbosity) return;
    this.clearProgress();
    if (this.opts.format === 'json') {
      // Keys: time, level, command, run_id, pipeline_id, message, then the event's own fields.
      const rec = {
        time: new Date().toISOString(),
        level,
        command: this.prog,
        ...this.opts.ids?.(),
        message: msg,
        ...fields,
      };
      this.out.write(redact(JSON.stringify(rec)) + '\n');
      return;
    }
    const tag = level === 'warn' ? 'warning: ' : level === 'debug' ? 'debug: ' : '';
    // A message is one line: an embedded newline (a value quoted in an error) must not split it.
    this.out.write(redact(`${this.prog}: ${tag}${msg}`.replace(/\r?\n/g, '\\n')) + '\n');
  }
}
