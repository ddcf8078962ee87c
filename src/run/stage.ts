// The loop every record stage shares (docs/design.md "The stage runner"): sources → a per-batch
// step → a sink, with the counts, the rejects file's lifecycle, --max-rejects, the checkpoints
// and the sink's end or abort in one place.
import { classify, DataError, type Origin } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import { Rejects, type MaxRejects, type RuleFailure } from '../lib/rejects.js';
import type { Batch, Checkpoint, Sink, Source, StageContext } from '../lib/stream.js';

export type RejectFn = (record: unknown, failures: RuleFailure[], at: Origin) => void;

export interface Stage {
  /** Read one after another. A function is called per source, so that each opens only when its turn comes. */
  sources: (Source | (() => Promise<Source>))[];
  sink: Sink;
  /** `open`: a rejects file the caller opened, shared with its sink (bx-load's server refusals). */
  rejects: { path?: string; max?: MaxRejects; open?: Rejects };
  /** Readers that can hand on NDJSON bytes do so (bx-extract). */
  json?: { lineage: boolean };
  /**
   * The stage's work on one batch (bx-clean's steps, bx-agg's accumulation): returns what goes
   * to the sink, or undefined for nothing. Per batch, never per record. Rejects go to `reject`.
   */
  each?: (b: Batch, reject: RejectFn) => Batch | undefined | Promise<Batch | undefined>;
  /** Called after the last source, before the sink ends: batches still to write (bx-agg's groups). */
  finish?: () => AsyncIterable<Batch>;
  /** Words for the summary line after the rejects' ("spilled 3 runs to disk"). */
  note?: () => string | undefined;
}

/**
 * Runs a stage to its end. A data error keeps the rejects file (the rejects written so far
 * explain it); any other failure removes it. Either way the sink is aborted, so nothing
 * half-written stays visible, and the error goes on to cli().
 */
export async function runStage(io: Io, s: Stage): Promise<void> {
  const stats = io.stats;
  const rejects = s.rejects.open ?? (await Rejects.open(s.rejects.path, s.rejects.max));
  const reject: RejectFn = (record, failures, at) => {
    rejects.add(record, failures, at);
    stats.rejected++;
  };
  const ctx: StageContext = {
    log: io.log,
    signal: io.signal,
    json: s.json,
    // A record the reader refused was read all the same.
    reject: (record, failure, at) => {
      stats.rowsIn++;
      reject(record, [failure], at);
    },
  };
  const checkpoints: Checkpoint[] = [];
  try {
    for (const entry of s.sources) {
      const source = typeof entry === 'function' ? await entry() : entry;
      for await (const b of source.batches(ctx)) {
        stats.rowsIn += b.lines.length;
        const out = s.each ? await s.each(b, reject) : b;
        if (out && out.lines.length > 0) {
          await s.sink.write(out);
          stats.rowsOut += out.lines.length;
        }
        await rejects.flush();
      }
      checkpoints.push(...(source.checkpoints?.() ?? []));
    }
    rejects.checkRatio(stats.rowsIn);
    if (s.finish) {
      for await (const b of s.finish()) {
        await s.sink.write(b);
        stats.rowsOut += b.lines.length;
      }
    }
    const r = await s.sink.end({ records: stats.rowsOut, checkpoint: checkpoints });
    stats.rowsOut = r.rows;
    if (checkpoints.length) stats.checkpoint = checkpoints;
    const notes = [
      r.note,
      rejects.count > 0 ? `rejects to ${s.rejects.path}, by rule: ${rejects.summary()}` : undefined,
      s.note?.(),
    ].filter(Boolean);
    if (notes.length) stats.note = notes.join('; ');
  } catch (err) {
    await s.sink.abort(err).catch(() => {});
    if (classify(err) instanceof DataError) await rejects.close();
    else await rejects.abort();
    throw err;
  }
  await rejects.close();
}
