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

  /** A line that rewrites itself on a terminal; nothing at all elsewhere. */
  progress(text: string) {
    if (!this.opts.tty || this.opts.verbosity === 0 || this.opts.format === 'json') return;
    this.out.write(`\r\x1b[K${this.prog}: ${text}`);
    this.progressShown = true;
  }

  private clearProgress() {
    if (this.progressShown) {
      this.out.write('\r\x1b[K');
      this.progressShown = false;
    }
  }

  emit(level: Level, msg: string, fields?: Record<string, unknown>) {
    if (rank[level] > this.opts.verbosity) return;
    this.clearProgress();
    if (this.opts.format === 'json') {
      const rec = { ts: new Date().toISOString(), level, cmd: this.prog, msg, ...fields };
      this.out.write(redact(JSON.stringify(rec)) + '\n');
      return;
    }
    const tag = level === 'warn' ? 'warning: ' : level === 'debug' ? 'debug: ' : '';
    // A message is one line: an embedded newline (a value quoted in an error) must not split it.
    this.out.write(redact(`${this.prog}: ${tag}${msg}`.replace(/\r?\n/g, '\\n')) + '\n');
  }
}
