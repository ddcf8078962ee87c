// The seams between the parts of a stage (docs/design.md "Adding a source, a sink, a format"):
// types only, so that formats/, sources/, sinks/ and pg/ can implement them and lib/ imports
// nothing above it.
import type { Origin } from './errors.js';
import type { Logger } from './log.js';
import type { RuleFailure } from './rejects.js';

export type Rec = Record<string, unknown>;

/**
 * Records read together, from one stream: record i starts at physical line (or message
 * sequence) `lines[i]` of `name`. A batch holds its records as objects (`records`), as NDJSON
 * bytes (`ndjson`: one line per record, each ending with "\n"), or both. Byte batches let the
 * fast paths (CSV scanner → stdout, NDJSON → COPY) pass through a stage without an object per
 * record. `records` is [] for a bytes-only batch.
 */
export interface Batch {
  name: string;
  lines: number[];
  records: Rec[];
  ndjson?: Buffer;
}

/** A source's position, carried in the sealed trailer to the stage that commits it. */
export interface Checkpoint {
  /** What the position belongs to, stable across runs: `postgres://host:5432/db/public.sales#updated_at`, `nats://host:4222/POS`. */
  key: string;
  /** Where the next run starts after this one commits: a watermark, a stream sequence or id. JSON. */
  position: unknown;
  /** The first position this run read (for the run log and for gap checks), when known. */
  from?: unknown;
  /** How many records this position covers. */
  records?: number;
}

/** What a source or reader may use (formats' ReadContext extends it). */
export interface StageContext {
  log: Logger;
  /** A bad record: to the rejects file, or (without one) thrown as the run's DataError. */
  reject: (record: unknown, failure: RuleFailure, at: Origin) => void;
  /** The consumer only forwards NDJSON: a reader that can may hand batches on as bytes (Batch.ndjson). */
  json?: { lineage: boolean };
  /** Aborted on SIGINT/SIGTERM: a source waiting on a server stops. */
  signal?: AbortSignal;
}

/**
 * Where records come from: a file through a format reader, a query, a broker's stream.
 * batches() is called once. A source holding a connection releases it when its iterator ends,
 * is returned early, or throws.
 */
export interface Source {
  readonly name: string;
  batches(ctx: StageContext): AsyncIterable<Batch>;
  /**
   * Where this source stopped, once batches() has ended: goes into the trailer's checkpoint.
   * A stage's NDJSON input passes on the checkpoints its upstream trailer carried.
   */
  checkpoints?(): Checkpoint[];
}

/** The end of a sealed stream: `{"@bx":"end","records":N,"checkpoint":[…]}`. */
export interface Trailer {
  records: number;
  checkpoint?: Checkpoint[];
}

/**
 * Where records go. write() is called per batch and waits for the destination (backpressure).
 * end() makes the output visible as one step — rename the temp file, COMMIT (storing the
 * trailer's checkpoints in the same transaction when the sink can) — and returns the rows
 * written. abort() leaves nothing behind: the temp file removed, the transaction rolled back.
 * After end() or abort() the sink is not used again; abort() after a failed end() is allowed.
 */
export interface Sink {
  write(b: Batch): Promise<void>;
  end(trailer: Trailer): Promise<{ rows: number; note?: string }>;
  abort(err: unknown): Promise<void>;
}
