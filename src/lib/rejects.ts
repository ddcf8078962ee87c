import { AtomicFile } from './atomic-file.js';
import { DataError, originText, UsageError, type Origin } from './errors.js';
import { stringifyRecord } from './json.js';

/** One failed rule of one record (DESIGN.md "Rejects"). */
export interface RuleFailure {
  field?: string;
  rule: string;
  value?: unknown;
  message: string;
  /** A refusal by a database server (bx-load): its SQLSTATE and the constraint it names. */
  sqlstate?: string;
  constraint?: string;
}

/** `--max-rejects N` or `--max-rejects 0.5%`. */
export type MaxRejects = { count: number } | { percent: number };

export function parseMaxRejects(text: string): MaxRejects {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  if (pct) return { percent: Number(pct[1]) };
  if (/^\d+$/.test(text.trim())) return { count: Number(text) };
  throw new UsageError(`--max-rejects: expected a count (100) or a percentage (0.5%), got "${text}"`);
}

/**
 * `--rejects FILE` and `--max-rejects N|P%` as every command takes them. A limit without a file
 * is a usage error: without a file the first reject already stops the run.
 */
export function rejectsArgs(args: object): { rejects: string | undefined; maxRejects: MaxRejects | undefined } {
  const a = args as { rejects?: unknown; 'max-rejects'?: unknown };
  const rejects = a.rejects === undefined ? undefined : String(a.rejects);
  const max = a['max-rejects'];
  if (max !== undefined && rejects === undefined)
    throw new UsageError('--max-rejects needs --rejects FILE (without it the first reject stops the run)');
  return { rejects, maxRejects: max === undefined ? undefined : parseMaxRejects(String(max)) };
}

/**
 * The rejects file: one NDJSON line per rejected record, `{"record":…,"errors":[…],"source":"f:l"}`.
 * Written 0600 (it may hold personal data) under a temporary name and renamed into place at the
 * end. Without a file, the first reject stops the run with exit 65 naming its line and field:
 * a record is never dropped silently.
 */
export class Rejects {
  count = 0;
  readonly byRule = new Map<string, number>();
  private buf: string[] = [];

  private constructor(
    private readonly path: string | undefined,
    private readonly file: AtomicFile | undefined,
    private readonly max: MaxRejects | undefined,
  ) {}

  static async open(path: string | undefined, max?: MaxRejects): Promise<Rejects> {
    if (!path) return new Rejects(undefined, undefined, max);
    return new Rejects(path, await AtomicFile.open(path, { mode: 0o600, what: 'the rejects file' }), max);
  }

  get enabled() {
    return this.file !== undefined;
  }

  /** Records a rejected record. Without a rejects file this throws the first failure as a DataError. */
  add(record: unknown, errors: RuleFailure[], source?: Origin): void {
    if (!this.file) {
      const e = errors[0];
      throw new DataError(source, e.field, e.message);
    }
    this.count++;
    for (const e of errors) this.byRule.set(e.rule, (this.byRule.get(e.rule) ?? 0) + 1);
    // The record in its own key order (stringifyRecord), as the stream would have carried it.
    const rec =
      record !== null && typeof record === 'object' && !Array.isArray(record)
        ? stringifyRecord(record as Record<string, unknown>)
        : JSON.stringify(record);
    this.buf.push(
      `{"record":${rec ?? 'null'},"errors":${JSON.stringify(errors)}${source ? `,"source":${JSON.stringify(originText(source))}` : ''}}`,
    );
    if (this.max && 'count' in this.max && this.count > this.max.count) {
      throw new DataError(
        source,
        undefined,
        `too many rejects: more than --max-rejects ${this.max.count} (see ${this.path})`,
      );
    }
  }

  /** Writes what is buffered; call once per batch. */
  async flush(): Promise<void> {
    if (!this.file || this.buf.length === 0) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    await this.file.write(text);
  }

  /** The percentage limit can only be judged against all rows read: call at the end. */
  checkRatio(rowsIn: number): void {
    if (this.max && 'percent' in this.max && rowsIn > 0 && (this.count / rowsIn) * 100 > this.max.percent) {
      const pct = ((this.count / rowsIn) * 100).toFixed(2);
      throw new DataError(
        undefined,
        undefined,
        `too many rejects: ${this.count} of ${rowsIn} rows (${pct}%) exceed --max-rejects ${this.max.percent}% (see ${this.path})`,
      );
    }
  }

  /** "integer 3, required 1", for the summary line. */
  summary(): string {
    return [...this.byRule].map(([rule, n]) => `${rule} ${n}`).join(', ');
  }

  /**
   * Puts the file in place. Called on success and on a data failure too: the user needs the
   * rejects to see what went wrong. abort() is for everything else.
   */
  async close(): Promise<void> {
    if (!this.file) return;
    await this.flush();
    await this.file.commit();
  }

  async abort(): Promise<void> {
    await this.file?.abort();
  }
}
