// The load modes of bx-load, each one transaction (DESIGN.md "PostgreSQL"): after any failure,
// a signal or a kill, the target holds exactly what it held before.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Client } from 'pg';
import type { Writable } from 'node:stream';
import { ConfigError, DataError, UsageError, type Origin } from '../lib/errors.js';
import { columnNameProblem, qualified, quoteIdent, quoteLiteral, type TableName } from '../lib/ident.js';
import type { Logger } from '../lib/log.js';
import { lineText, parseRecord, type LineRecordBatch, type Rec } from '../lib/records.js';
import { CopyEncoder, MAX_IDENT_BYTES, truncateIdent, type ColumnKind, type PartitionCheck } from './copy-text.js';
import { pgError, rowRefusal, refusalOf, type PgServerError } from './errors.js';
import { storeCheckpoints } from './state.js';
import type { Checkpoint } from '../lib/stream.js';
import type { RuleFailure } from '../lib/rejects.js';
import { originOfRecord } from '../lib/lineage.js';

import type { Mode } from './modes.js';
export { MODES, type Mode } from './modes.js';

export interface Partition {
  column: string;
  /** The value as text: what each record's field must encode to, and the literal for DELETE. */
  value: string;
}

export interface LoadPlan {
  table: TableName;
  mode: Mode;
  /** upsert: the conflict key columns. */
  key?: string[];
  /** replace-where: the partition to replace. */
  partition?: Partition;
  ignoreExtra: boolean;
  /** --create: builds the DDL for a missing table from the first records (or a schema file). */
  create?: (first: Rec[], primaryKey: string[] | undefined) => Promise<string>;
  /** How many records --create may look at before it must decide. */
  inferRows: number;
  /** The sources' positions the input's trailer carried, read once the input has ended: stored in bx_state before COMMIT. */
  checkpoints?: () => Checkpoint[];
  /** --mode replace may empty the table when the input has no records. */
  allowEmpty?: boolean;
  /** The run id stored beside each checkpoint. */
  runId?: string;
  /**
   * --rejects: rows the server refuses (classes 22 and 23) go here instead of failing the load.
   * Each batch is COPYed inside a SAVEPOINT and re-sent without the refused row.
   */
  rejects?: RowRejects;
}

/** Where refused rows go (the stage's Rejects, counted in the run's stats). */
export interface RowRejects {
  add(record: unknown, failures: RuleFailure[], at: Origin): void;
  /** --max-rejects P%: judged against the rows read, before COMMIT. */
  checkRatio(rowsIn: number): void;
}

export interface LoadResult {
  rows: number;
  table: string;
  /** What else happened, for the summary: "replaced 10194 rows", "deleted 3". */
  note: string;
}

/** `col=value` → a Partition. The column is a name as written (quoted with "…" to hold '='). */
export function parsePartition(text: string): Partition {
  let column: string;
  let rest: string;
  if (text.startsWith('"')) {
    const end = /^"((?:[^"]|"")*)"\s*=/.exec(text);
    if (!end) throw new UsageError(`--replace-where ${JSON.stringify(text)}: expected "column"=value`);
    column = end[1].replace(/""/g, '"');
    rest = text.slice(end[0].length);
  } else {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new UsageError(`--replace-where ${JSON.stringify(text)}: expected column=value`);
    column = text.slice(0, eq).trim();
    rest = text.slice(eq + 1);
  }
  // A value may be quoted to keep spaces: sale_date='2026-11-23'.
  let value = rest.trim();
  const q = /^'((?:[^']|'')*)'$/.exec(value);
  if (q) value = q[1].replace(/''/g, "'");
  if (column === '') throw new UsageError(`--replace-where ${JSON.stringify(text)}: no column name`);
  return { column, value };
}

interface Column {
  name: string;
  type: string;
  notNull: boolean;
  /** bytea and array columns: their JSON values are converted (base64 → bytes, JSON array → array). */
  kind?: ColumnKind;
}

const tempName = (what: string) => `bx_${what}_${randomBytes(5).toString('hex')}`;

/**
 * Loads the batches into the table and commits; on any error the transaction is abandoned
 * (the connection is closed, so the server rolls back even if we cannot say so).
 */
export async function loadBatches(
  client: Client,
  batches: AsyncIterator<LineRecordBatch>,
  plan: LoadPlan,
  log: Logger,
  signal: AbortSignal,
  /** Ends the input, so that a wait for more stops when the server has failed the COPY. */
  stopInput: () => void = () => {},
): Promise<LoadResult> {
  const { table } = plan;
  checkNameLength(table.name, 'table');
  if (table.schema !== undefined) checkNameLength(table.schema, 'schema');
  const target = qualified(table);
  const q = (sql: string, params?: unknown[]) => {
    log.debug(`sql: ${sql}`);
    return client.query(sql, params);
  };

  await q('BEGIN');
  // With --rejects a deferred constraint must fail in the statement that broke it, where the row can still be found.
  if (plan.rejects) await q('SET CONSTRAINTS ALL IMMEDIATE');
  // Two loads of the same target (replace) or partition (replace-where) take turns: the second
  // one sees the first one's result and replaces it, never adding to it.
  if (plan.mode === 'replace' || plan.mode === 'replace-where') {
    const lockKey = `bx-load ${target}${plan.partition ? ` ${plan.partition.column}=${plan.partition.value}` : ''}`;
    await q('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey]);
  }

  // Lines read ahead (for --create's inference and the first column list) are loaded first.
  const ahead: LineRecordBatch[] = [];
  const aheadRecords: Rec[][] = [];
  const readAhead = async () => {
    const next = await batches.next();
    if (next.done) return false;
    ahead.push(next.value);
    const b = next.value;
    aheadRecords.push(
      b.lines.map((line, i) => {
        try {
          return parseRecord(lineText(b, i), { file: b.name, line });
        } catch (err) {
          // --rejects: the encoder meets the line again and rejects it.
          if (plan.rejects && err instanceof DataError) return {};
          throw err;
        }
      }),
    );
    return true;
  };
  let oid = await relationOid(client, target);
  let created = false;
  if (oid === undefined) {
    if (!plan.create) throw new ConfigError(`table ${target} does not exist (add --create to create it)`);
    if (
      table.schema !== undefined &&
      (await client.query('SELECT to_regnamespace($1) AS n', [table.schema])).rows[0].n === null
    ) {
      throw new ConfigError(
        `schema ${quoteIdent(table.schema)} does not exist (CREATE SCHEMA it first, or name another)`,
      );
    }
    const first: Rec[] = [];
    while (first.length < plan.inferRows && (await readAhead())) {
      for (const r of aheadRecords[aheadRecords.length - 1]) if (first.length < plan.inferRows) first.push(r);
    }
    checkFieldNames(ahead, aheadRecords);
    const ddl = await plan.create(first, plan.mode === 'upsert' ? plan.key : undefined);
    log.debug(`creating ${target}: ${ddl.replace(/\n\s*/g, ' ')}`, { event: 'ddl', sql: ddl });
    await client.query(ddl);
    oid = await relationOid(client, target);
    if (oid === undefined) throw new ConfigError(`table ${target} was not found after CREATE TABLE`);
    created = true;
  }
  // The first batch decides the first COPY column list.
  if (ahead.length === 0) await readAhead();
  // An empty input would empty the table: nightly, that is an upstream failure far more often than a wish.
  if (plan.mode === 'replace' && ahead.length === 0 && !plan.allowEmpty) {
    throw new DataError(
      undefined,
      undefined,
      `no records to load: --mode replace would empty ${target} (give --allow-empty to do that)`,
    );
  }
  const columns = await tableColumns(client, oid);
  const byName = new Map(columns.map((c) => [c.name, c]));

  let into = target;
  let note = '';
  let finish: (rows: number, cols: string[]) => Promise<void> = async () => {};
  let encoderRowNumber = false;
  let check: PartitionCheck | undefined;

  switch (plan.mode) {
    case 'append':
      break;
    case 'replace': {
      if (created) break;
      // Neither a swap nor TRUNCATE can take the rows from under a foreign key, and DELETE
      // would cascade or fail row by row: say so before loading anything.
      const refs = (
        await client.query<{ ref: string }>(
          `SELECT DISTINCT conrelid::regclass::text || ' (' || conname || ')' AS ref FROM pg_constraint WHERE confrelid = $1 AND contype = 'f' ORDER BY 1`,
          [oid],
        )
      ).rows;
      if (refs.length > 0) {
        throw new ConfigError(
          `--mode replace: ${target} is referenced by foreign keys from ${refs.map((r) => r.ref).join(', ')}; replacing all its rows would break them (use --mode upsert --key … or --replace-where)`,
        );
      }
      const blocker = await swapBlocker(client, oid);
      if (blocker) {
        log.debug(`replace: ${blocker}; truncating and loading ${target} in one transaction instead of swapping`);
        await q(`TRUNCATE ${target}`);
        note = 'replaced (truncate and load)';
        break;
      }
      const fresh = tempName('new');
      const old = tempName('old');
      const schema = table.schema ?? (await currentSchemaOf(client, oid));
      const freshQ = qualified({ schema, name: fresh });
      const { unlogged, comment } = (
        await client.query<{ unlogged: boolean; comment: string | null }>(
          `SELECT relpersistence = 'u' AS unlogged, obj_description(oid, 'pg_class') AS comment FROM pg_class WHERE oid = $1`,
          [oid],
        )
      ).rows[0];
      await q(`CREATE ${unlogged ? 'UNLOGGED ' : ''}TABLE ${freshQ} (LIKE ${target} INCLUDING ALL)`);
      into = freshQ;
      note = 'replaced (swapped in)';
      finish = async () => {
        // The new table's indexes (and the constraints they back) take the old ones' names, so
        // that a nightly replace keeps sales_pkey instead of a new bx_new_… name each night.
        const names = await indexNamePairs(client, oid, freshQ);
        await q(`ALTER TABLE ${target} RENAME TO ${quoteIdent(old)}`);
        await q(`ALTER TABLE ${freshQ} RENAME TO ${quoteIdent(table.name)}`);
        await q(`DROP TABLE ${qualified({ schema, name: old })}`);
        for (const { from, to } of names)
          await q(`ALTER INDEX ${qualified({ schema, name: from })} RENAME TO ${quoteIdent(to)}`);
        if (comment !== null) await q(`COMMENT ON TABLE ${target} IS ${quoteLiteral(comment)}`);
      };
      break;
    }
    case 'upsert': {
      const key = plan.key ?? [];
      if (key.length === 0) throw new UsageError('--mode upsert needs --key');
      for (const k of key)
        if (!byName.has(k)) throw new UsageError(`--key ${JSON.stringify(k)}: no column of that name in ${target}`);
      if (byName.has('__bx_row'))
        throw new ConfigError(`${target} has a column named "__bx_row", which bx-load's upsert uses itself`);
      const stage = tempName('stage');
      await q(`CREATE TEMPORARY TABLE ${quoteIdent(stage)} (LIKE ${target} INCLUDING DEFAULTS) ON COMMIT DROP`);
      await q(`ALTER TABLE ${quoteIdent(stage)} ADD COLUMN "__bx_row" bigint`);
      into = quoteIdent(stage);
      encoderRowNumber = true;
      finish = async (rows, cols) => {
        await duplicateKeys(client, quoteIdent(stage), key, encoder);
        const list = cols.map(quoteIdent).join(', ');
        const rest = cols.filter((c) => !key.includes(c));
        const action =
          rest.length === 0
            ? 'DO NOTHING'
            : `DO UPDATE SET ${rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`;
        const insert = `INSERT INTO ${target} (${list}) SELECT ${list} FROM ${quoteIdent(stage)}`;
        const conflict = `ON CONFLICT (${key.map(quoteIdent).join(', ')}) ${action}`;
        try {
          if (plan.rejects) {
            const n = await insertRejecting(insert, conflict, quoteIdent(stage), cols, encoder.rows);
            note = `upserted ${n} rows`;
          } else {
            const r = await q(`${insert} ${conflict}`);
            note = `upserted ${r.rowCount ?? rows} rows`;
          }
        } catch (err) {
          if ((err as { code?: string }).code === '42P10') {
            throw new ConfigError(
              `--key ${key.join(',')}: ${target} has no primary key or unique index on exactly (${key.join(', ')}), which upsert needs`,
            );
          }
          throw pgError(err);
        }
      };
      break;
    }
    case 'replace-where': {
      const p = plan.partition!;
      if (!byName.has(p.column))
        throw new UsageError(`--replace-where: no column ${JSON.stringify(p.column)} in ${target}`);
      const r = await q(`DELETE FROM ${target} WHERE ${quoteIdent(p.column)} = ${quoteLiteral(p.value)}`);
      note = `replaced partition ${p.column}=${p.value} (${r.rowCount ?? 0} rows deleted)`;
      check = p;
      break;
    }
  }

  // The COPY list starts with the table columns the first records name, and grows (a new COPY
  // statement in the same transaction) when a later record names another one.
  const copyable = new Set(columns.map((c) => c.name));
  let cols = initialColumns(aheadRecords, copyable);
  aheadRecords.length = 0;
  if (cols.length === 0) cols = [...copyable];
  const kinds = new Map(columns.filter((c) => c.kind).map((c) => [c.name, c.kind!]));
  const encoder = new CopyEncoder(cols, copyable, plan.ignoreExtra, encoderRowNumber, check, kinds);
  const rejects = plan.rejects;
  /** Rows the server refused (--rejects). */
  let refused = 0;
  /** Records bx-load could not send (--rejects): never counted as encoded rows. */
  let unsent = 0;
  // Without --rejects one COPY streams every batch. With it, batches stream into a COPY inside a
  // savepoint, a group of them at a time, kept until the group has gone in.
  let copy: CopyIn | undefined = rejects
    ? undefined
    : await startCopy(client, into, cols, encoderRowNumber, log, stopInput);
  // One COPY stream: each write carries ~256 KiB of rows, not one input batch's (a pipe's 64 KiB
  // read makes ~25 KiB of rows): each write is a CopyData message, two socket writes and a
  // stream's bookkeeping, ~4,000 of them per 1 M sales rows.
  if (!rejects) encoder.holdBelow = COPY_WRITE;
  let group: Piece[] = [];
  let groupRows = 0;
  let groupBytes = 0;

  /** --rejects: one more piece of COPY rows into the open group (opening one if need be). */
  const addPiece = async (piece: Piece) => {
    if (group.length === 0) {
      await q('SAVEPOINT bx_rows');
      copy = await startCopy(client, into, cols, encoderRowNumber, log, () => {});
    }
    group.push(piece);
    groupRows += piece.count;
    groupBytes += piece.text.length;
    if (!copy!.error) {
      try {
        await copy!.write(piece.text);
      } catch {
        // the server's refusal, kept in copy.error: the group ends here
      }
    }
    if (copy!.error || groupRows >= GROUP_ROWS || groupBytes >= GROUP_BYTES) await closeGroup();
  };

  /** --rejects: ends the group's COPY; if the server refused a row of it, sorts the group out row by row. */
  const closeGroup = async () => {
    if (group.length === 0) return;
    const pieces = group;
    group = [];
    groupRows = 0;
    groupBytes = 0;
    let err: unknown;
    try {
      await copy!.end();
    } catch (e) {
      err = copy!.error ?? e;
    }
    if (err === undefined) {
      await q('RELEASE SAVEPOINT bx_rows');
      return;
    }
    if (signal.aborted || !rowRefusal(err)) throw err;
    await q('ROLLBACK TO SAVEPOINT bx_rows');
    await copyRejecting(pieces, err);
  };

  /** One COPY of `rows` in a savepoint: undefined when it went in, else the server's refusal (rolled back). */
  const tryCopy = async (rows: Buffer): Promise<PgServerError | undefined> => {
    await q('SAVEPOINT bx_rows');
    copy = await startCopy(client, into, cols, encoderRowNumber, log, () => {});
    try {
      await copy.write(rows);
      await copy.end();
    } catch (err) {
      const e = copy.error ?? err;
      if (signal.aborted || !rowRefusal(e)) throw e;
      await q('ROLLBACK TO SAVEPOINT bx_rows');
      return e;
    }
    await q('RELEASE SAVEPOINT bx_rows');
    return undefined;
  };

  /**
   * --rejects: the rows of a group the server refused (`first`, its refusal of the whole group)
   * go in, but for those it refuses. A refusal that names its COPY line rejects that row; the
   * rows before it go in as one COPY, the rows after it are tried again. One that names no line
   * (a foreign key, checked at the end of the statement) splits the rows in halves until it does.
   */
  const copyRejecting = async (pieces: Piece[], first: PgServerError) => {
    const text = pieces.length === 1 ? pieces[0].text : Buffer.concat(pieces.map((p) => p.text));
    const pieceAt: number[] = []; // the group row each piece starts at
    let count = 0;
    for (const p of pieces) {
      pieceAt.push(count);
      count += p.count;
    }
    const starts = [0]; // byte offset of each row, and of the end
    for (let p = text.indexOf(0x0a); p >= 0; p = text.indexOf(0x0a, p + 1)) starts.push(p + 1);
    const todo: [number, number][] = [[0, count]];
    // The server meets errors out of order (it inserts in buffered groups): rejects go in line order.
    const bad: [number, PgServerError][] = [];
    let known: PgServerError | undefined = first;
    while (todo.length > 0) {
      const [a, b] = todo.shift()!;
      const err = known ?? (await tryCopy(text.subarray(starts[a], starts[b])));
      known = undefined;
      if (!err) continue;
      const m = /COPY [^,]+, line (\d+)/.exec(err.where ?? '');
      const line = m ? Number(m[1]) : 0;
      let k = -1;
      if (line >= 1 && line <= b - a) k = a + line - 1;
      else if (b - a === 1) k = a;
      if (k < 0) {
        const mid = (a + b) >> 1;
        todo.unshift([a, mid], [mid, b]);
        continue;
      }
      bad.push([k, err]);
      const next: [number, number][] = [];
      if (k > a) next.push([a, k]);
      if (k + 1 < b) next.push([k + 1, b]);
      todo.unshift(...next);
    }
    bad.sort((x, y) => x[0] - y[0]);
    let n = 0;
    for (const [k, err] of bad) {
      while (n + 1 < pieces.length && pieceAt[n + 1] <= k) n++;
      refuse(pieces[n].batch, pieces[n].from + k - pieceAt[n], err);
    }
  };

  /** Line i of the batch, refused by the server: to the rejects file, with its origin (its lineage when it has one). */
  const refuse = (batch: LineRecordBatch, i: number, err: PgServerError) => {
    let rec: unknown;
    let at: Origin = { file: batch.name, line: batch.lines[i] };
    try {
      const r = parseRecord(lineText(batch, i), at);
      rec = r;
      at = originOfRecord(r, batch.name, batch.lines[i]);
    } catch {
      rec = lineText(batch, i);
    }
    refused++;
    rejects!.add(rec, [refusalOf(err)], at);
  };

  /**
   * --rejects with upsert: the staged rows go in by ranges of their row numbers, each in a
   * savepoint; a range the server refuses is halved until the refused row is alone, and that
   * row (as staged) goes to the rejects file. Returns the rows inserted or updated.
   */
  const insertRejecting = async (insert: string, conflict: string, stage: string, names: string[], last: number) => {
    let done = 0;
    const todo: [number, number][] = [[1, last]];
    while (todo.length > 0) {
      const [a, b] = todo.shift()!;
      await q('SAVEPOINT bx_rows');
      try {
        const r = await q(`${insert} WHERE "__bx_row" BETWEEN ${a} AND ${b} ${conflict}`);
        await q('RELEASE SAVEPOINT bx_rows');
        done += r.rowCount ?? 0;
        continue;
      } catch (err) {
        if (signal.aborted || !rowRefusal(err)) throw err;
        await q('ROLLBACK TO SAVEPOINT bx_rows');
        if (a < b) {
          const mid = Math.floor((a + b) / 2);
          todo.unshift([a, mid], [mid + 1, b]);
          continue;
        }
        const row = (
          await client.query<{ rec: Rec }>(
            `SELECT json_build_object(${recordOf(names)}) AS rec FROM ${stage} WHERE "__bx_row" = $1`,
            [a],
          )
        ).rows[0]?.rec;
        const o = encoder.originOfRow(a);
        const at = o ? (o.source ? lineageOrigin(o.source) : o.at) : { file: 'stdin', line: a };
        refused++;
        rejects!.add(row ?? null, [refusalOf(err as PgServerError)], at);
      }
    }
    return done;
  };

  const onAbort = () => copy?.stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const send = async (batch: LineRecordBatch) => {
      let from = 0;
      while (from < batch.lines.length) {
        let r;
        try {
          r = encoder.encodeLines(batch, from);
        } catch (err) {
          // --rejects: a record bx-load itself cannot send (not JSON, a NUL byte, no such column)
          // is a reject too; the rows before it go in, the rest of the batch after it.
          const at = encoder.failedLine;
          if (!rejects || !(err instanceof DataError) || at < from) throw err;
          const before = encoder.pending();
          if (at > from) await addPiece({ text: before, batch, from, count: at - from });
          // The group goes in (or is sorted out) first, so that the rejects file stays in line order.
          await closeGroup();
          let rec: unknown = lineText(batch, at);
          try {
            rec = parseRecord(rec as string, { file: batch.name, line: batch.lines[at] });
          } catch {
            // not JSON: the line as text
          }
          unsent++;
          rejects.add(
            rec,
            [{ field: err.field, rule: 'record', message: err.detail }],
            err.at ?? { file: batch.name, line: batch.lines[at] },
          );
          from = at + 1;
          continue;
        }
        if (r.text.length > 0) {
          if (rejects) await addPiece({ text: r.text, batch, from, count: r.count });
          else await copy!.write(r.text);
        }
        from += r.count;
        if (r.needs) {
          if (rejects) await closeGroup();
          else await copy!.end();
          const more = r.needs.filter((n) => !cols.includes(n));
          cols = [...cols, ...more];
          log.debug(
            `record at ${batch.name}:${batch.lines[from]} names column(s) ${more.join(', ')}: continuing with a wider COPY`,
          );
          encoder.widen(cols);
          if (!rejects) copy = await startCopy(client, into, cols, encoderRowNumber, log, stopInput);
        }
      }
    };
    for (const b of ahead) await send(b);
    ahead.length = 0;
    // Rows kept back wait for more input only while it comes: a stream that trickles (a broker
    // followed live, a slow upstream stage) has its rows sent within IDLE_FLUSH_MS, so that the
    // COPY's progress (pg_stat_progress_copy) shows them and the server works meanwhile.
    const flushHeld = async () => {
      const held = encoder.rest();
      if (held.length > 0) await copy!.write(held);
    };
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const pending = batches.next();
      const next = !rejects && encoder.held > 0 ? await nextOrFlush(pending, flushHeld) : await pending;
      if (next.done) break;
      await send(next.value);
    }
    if (rejects) await closeGroup();
    else {
      await flushHeld();
      await copy!.end();
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw pgError(rejects ? err : (copy?.error ?? err), { copyOrigin: (line) => encoder.originOf(line) });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (signal.aborted) throw signal.reason;
  await finish(encoder.rows, cols);
  rejects?.checkRatio(encoder.rows);
  // The position goes in with the rows, or neither does: a re-run after a failure reads the same records again.
  const checkpoints = plan.checkpoints?.() ?? [];
  if (checkpoints.length) {
    await storeCheckpoints(client, checkpoints, plan.runId);
    note += `${note ? ', ' : ''}checkpoint ${checkpoints.map((c) => c.key).join(', ')}`;
  }
  if (signal.aborted) throw signal.reason;
  await q('COMMIT');
  if (refused > 0) note += `${note ? ', ' : ''}${refused} rows refused by the server`;
  if (unsent > 0) note += `${note ? ', ' : ''}${unsent} records rejected before sending`;
  return { rows: encoder.rows - refused, table: target, note };
}

/** json_build_object's arguments for the columns: 'name', "name", … */
function recordOf(names: string[]): string {
  return names.map((c) => `${quoteLiteral(c)}, ${quoteIdent(c)}`).join(', ');
}

/** "file:line" (the lineage text) → an Origin. */
function lineageOrigin(text: string): Origin {
  const m = /^(.*):(\d+)$/.exec(text);
  return m ? { file: m[1], line: Number(m[2]) } : { file: text, line: 0 };
}

function checkNameLength(name: string, what: string) {
  if (Buffer.byteLength(name) > MAX_IDENT_BYTES) {
    throw new UsageError(
      `${what} name ${JSON.stringify(name)} is ${Buffer.byteLength(name)} bytes; PostgreSQL would cut it to ${JSON.stringify(truncateIdent(name))} (the limit is ${MAX_IDENT_BYTES} bytes)`,
    );
  }
}

/**
 * PostgreSQL cuts names to 63 bytes: a long field would become a column of another name, or
 * two would collide. Say so instead of creating (and loading into) the wrong column.
 */
function checkFieldNames(batches: LineRecordBatch[], records: Rec[][]) {
  const first = new Map<string, Origin>();
  batches.forEach((b, n) => {
    for (let i = 0; i < records[n].length; i++)
      for (const k in records[n][i]) if (!first.has(k)) first.set(k, { file: b.name, line: b.lines[i] });
  });
  // Every name problem at once (an empty name, all names over 63 bytes, more than 1600 columns).
  const problem = columnNameProblem(first);
  if (problem) throw problem;
}

/** The table columns named by the first records, in table order; all columns if none. */
function initialColumns(ahead: Rec[][], copyable: Set<string>): string[] {
  const named = new Set<string>();
  for (const b of ahead) for (const r of b) for (const k in r) if (copyable.has(k)) named.add(k);
  return [...copyable].filter((c) => named.has(c));
}

async function relationOid(client: Client, target: string): Promise<number | undefined> {
  const r = await client.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', [target]);
  return r.rows[0].oid ?? undefined;
}

async function currentSchemaOf(client: Client, oid: number): Promise<string> {
  const r = await client.query<{ nspname: string }>(
    'SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1',
    [oid],
  );
  return r.rows[0].nspname;
}

async function tableColumns(client: Client, oid: number): Promise<Column[]> {
  const r = await client.query<{ name: string; type: string; notnull: boolean; generated: string; kind: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull, a.attgenerated AS generated,
            CASE WHEN b.oid = 'bytea'::regtype THEN 'bytea'
                 WHEN b.typcategory = 'A' AND b.typelem <> 0 AND b.typdelim = ',' AND b.typsubscript = 'array_subscript_handler'::regproc
                   THEN CASE WHEN b.typelem = 'bytea'::regtype THEN 'bytea[]' ELSE 'array' END
                 ELSE '' END AS kind
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [oid],
  );
  // COPY cannot write a generated column.
  return r.rows
    .filter((c) => c.generated === '')
    .map((c) => ({ name: c.name, type: c.type, notNull: c.notnull, kind: (c.kind || undefined) as ColumnKind }));
}

/**
 * The indexes of the new table `fresh` (made LIKE the table `oid`) paired with the index of the
 * old table each copies: same columns, operator classes, collations, options, uniqueness,
 * expressions and predicate; in creation order where several are alike.
 */
async function indexNamePairs(client: Client, oid: number, fresh: string): Promise<{ from: string; to: string }[]> {
  const r = await client.query<{ from: string; to: string }>(
    `WITH ix AS (
       SELECT i.indrelid AS rel, c.relname AS name,
              concat_ws('|', i.indkey::text, i.indclass::text, i.indcollation::text, i.indoption::text, i.indisunique, i.indisprimary,
                        c.relam, pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid)) AS shape,
              row_number() OVER (PARTITION BY i.indrelid, i.indkey::text, i.indclass::text, i.indcollation::text, i.indoption::text,
                                   i.indisunique, i.indisprimary, c.relam, pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid)
                                 ORDER BY c.oid) AS n
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid IN ($1, $2::regclass))
     SELECT f.name AS "from", o.name AS "to"
       FROM ix o JOIN ix f ON f.shape = o.shape AND f.n = o.n AND f.rel = $2::regclass
      WHERE o.rel = $1 AND f.name <> o.name`,
    [oid, fresh],
  );
  return r.rows;
}

/**
 * Why the table cannot be swapped for a new one: a swap would break views that point at it
 * (foreign keys that do are refused before), drop the foreign keys, rules or publication membership it has, lose its
 * grants, triggers, policies, owner, tablespace or storage parameters, or restart the sequence
 * of a serial or identity column. undefined when a swap is safe. (CREATE TABLE … LIKE …
 * INCLUDING ALL copies columns, defaults, NOT NULL, CHECK constraints, indexes, statistics and
 * column comments; the table's comment and index names are carried over after the swap.)
 */
async function swapBlocker(client: Client, oid: number): Promise<string | undefined> {
  const r = await client.query<{ why: string | null }>(
    `SELECT CASE
       WHEN EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite w ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                    WHERE d.refobjid = c.oid AND w.ev_class <> c.oid) THEN 'a view depends on it'
       WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = c.oid AND contype = 'f') THEN 'it has foreign keys'
       WHEN EXISTS (SELECT 1 FROM pg_depend d WHERE d.refobjid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype = 'a'
                    AND (SELECT relkind FROM pg_class s WHERE s.oid = d.objid) = 'S') THEN 'a serial column owns a sequence'
       WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND attidentity <> '') THEN 'it has an identity column'
       WHEN c.relacl IS NOT NULL THEN 'it has grants'
       WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.oid AND attacl IS NOT NULL) THEN 'it has column grants'
       WHEN c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) THEN 'another role owns it'
       WHEN EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal) THEN 'it has triggers'
       WHEN EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = c.oid) THEN 'it has rules'
       WHEN EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid = c.oid) THEN 'it is in a publication'
       WHEN c.reltablespace <> 0 THEN 'it is in its own tablespace'
       WHEN c.reloptions IS NOT NULL THEN 'it has storage parameters'
       WHEN c.relrowsecurity OR c.relkind <> 'r' OR c.relhassubclass OR c.relispartition THEN 'it is not a plain table'
       WHEN EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid) THEN 'it inherits from another table'
       END AS why
     FROM pg_class c WHERE c.oid = $1`,
    [oid],
  );
  return r.rows[0]?.why ?? undefined;
}

/**
 * ON CONFLICT fails when one statement holds a key twice, without naming a row. Find such
 * keys in the staging table first and name the records.
 */
async function duplicateKeys(client: Client, stage: string, key: string[], encoder: CopyEncoder) {
  const cols = key.map(quoteIdent).join(', ');
  const shown = key.map((k) => `${quoteLiteral(k)}, ${quoteIdent(k)}`).join(', ');
  const r = await client.query<{ rows: string[]; k: string }>(
    `SELECT array_agg("__bx_row" ORDER BY "__bx_row")::text[] AS rows, json_build_object(${shown})::text AS k
       FROM ${stage} GROUP BY ${cols} HAVING count(*) > 1 LIMIT 3`,
  );
  if (r.rows.length === 0) return;
  const first = r.rows[0];
  const where = first.rows.slice(0, 5).map((n) => {
    const o = encoder.originOfRow(Number(n));
    return o ? `${o.at.file}:${o.at.line}${o.source ? ` (${o.source})` : ''}` : `row ${n}`;
  });
  const at = encoder.originOfRow(Number(first.rows[0]))?.at;
  throw new DataError(
    at,
    undefined,
    `key ${first.k} appears ${first.rows.length} times in this load (records at ${where.join(', ')}); an upsert must hold each key once`,
  );
}

/** --rejects: COPY rows of lines from..from+count-1 of a batch, kept until they have gone in. */
interface Piece {
  text: Buffer;
  batch: LineRecordBatch;
  from: number;
  count: number;
}

/** Bytes of COPY rows per write of a load without --rejects (encoder.holdBelow). */
const COPY_WRITE = 256 << 10;

/** An input batch this late sends the rows kept back first (bx-load on a trickling stream). */
const IDLE_FLUSH_MS = 200;

const IDLE = Symbol('idle');

/** The next batch; if it is not there within IDLE_FLUSH_MS, `flush` runs while it is awaited. */
async function nextOrFlush<T>(next: Promise<T>, flush: () => Promise<void>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<typeof IDLE>((r) => (timer = setTimeout(r, IDLE_FLUSH_MS, IDLE)));
  // A rejection while flush() runs is seen by the caller's await below, not reported as unhandled.
  next.catch(() => {});
  const first = await Promise.race([next, idle]);
  clearTimeout(timer);
  if (first !== IDLE) return first as T;
  await flush();
  return next;
}

/** --rejects: a savepoint and its COPY hold at most this many rows or bytes. */
const GROUP_ROWS = 50_000;
const GROUP_BYTES = 16 << 20;

interface CopyIn {
  stream: Writable;
  /** The server's error, once it failed the COPY. */
  error?: Error;
  write(rows: Buffer): Promise<void>;
  end(): Promise<void>;
}

/**
 * Resolves on `event`, rejects on 'error'; both listeners are removed either way. (A
 * Promise.race against one long-lived "failed" promise would keep every batch alive: each race
 * adds a reaction to it that is never released.)
 */
function settle(stream: Writable, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      stream.off('error', fail);
      resolve();
    };
    const fail = (e: Error) => {
      stream.off(event, done);
      reject(e);
    };
    stream.once(event, done);
    stream.once('error', fail);
  });
}

async function startCopy(
  client: Client,
  into: string,
  cols: string[],
  rowNumber: boolean,
  log: Logger,
  onError: () => void,
): Promise<CopyIn> {
  const { from: copyFrom } = await import('pg-copy-streams');
  const list = [...cols.map(quoteIdent), ...(rowNumber ? ['"__bx_row"'] : [])];
  const sql = `COPY ${into} (${list.join(', ')}) FROM STDIN`;
  log.debug(`sql: ${sql}`);
  const stream = client.query(copyFrom(sql));
  const copy: CopyIn = {
    stream,
    async write(rows: Buffer) {
      if (copy.error) throw copy.error;
      if (!stream.write(rows)) await settle(stream, 'drain');
    },
    async end() {
      if (copy.error) throw copy.error;
      const finished = settle(stream, 'finish');
      stream.end();
      await finished;
    },
  };
  stream.on('error', (e: Error) => {
    copy.error ??= e;
    // A wait for input must stop too: the caller ends its input stream.
    onError();
  });
  return copy;
}

/**
 * The --create hook: CREATE TABLE from a Table Schema file, or from types inferred over the
 * first records. Inferred from a sample, a field is never NOT NULL (a later record may hold
 * null); lineage fields (_file, _line) get no column.
 */
export function tableCreator(table: TableName, schemaFile: string | undefined): LoadPlan['create'] {
  return async (first, primaryKey) => {
    const { readSchemaFile, SchemaInferrer, createTableSql } = await import('../lib/schema.js');
    let schema;
    if (schemaFile) {
      schema = await readSchemaFile(schemaFile);
      for (const f of schema.fields) {
        if (Buffer.byteLength(f.name) > MAX_IDENT_BYTES) {
          throw new ConfigError(
            `${schemaFile}: field ${JSON.stringify(f.name)} is ${Buffer.byteLength(f.name)} bytes; PostgreSQL would cut it to ${JSON.stringify(truncateIdent(f.name))} (the limit is ${MAX_IDENT_BYTES} bytes)`,
          );
        }
      }
    } else {
      if (first.length === 0)
        throw new DataError(
          undefined,
          undefined,
          'no records to infer the table from; give --schema FILE to create an empty table',
        );
      const inferrer = new SchemaInferrer({ copyCompatible: true });
      for (const r of first) inferrer.add(r);
      schema = inferrer.result();
      schema.fields = schema.fields
        .filter((f) => f.name !== '_file' && f.name !== '_line')
        .map((f) => ({ ...f, constraints: undefined }));
    }
    if (primaryKey) schema = { ...schema, primaryKey };
    return createTableSql(schema, table);
  };
}
