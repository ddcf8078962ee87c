// PostgreSQL and driver errors → the BxError (and so the exit code) a user should see.
// Choices, documented in bx-load(1) "EXIT STATUS":
//   69 the server cannot be reached (refused, no such host, timeout);
//   75 worth a retry: serialization failure, deadlock, lock timeout, connection reset, the
//      server starting up, shutting down or out of connections;
//   77 a missing privilege (SQLSTATE 42501, sysexits EX_NOPERM), as the database sources say it;
//   78 configuration: bad credentials, unknown database or role, TLS set-up,
//      a table or constraint that does not fit the requested load;
//   65 the data: type errors, constraint violations, bad encoding.
import {
  BxError,
  ConfigError,
  DataError,
  InternalError,
  NoPermError,
  TempFailError,
  UnavailableError,
  classify,
  type Origin,
} from '../lib/errors.js';
import { redact } from '../lib/redact.js';
import type { RuleFailure } from '../lib/rejects.js';

/** The fields node-postgres puts on a server error (ErrorResponse). */
export interface PgServerError extends Error {
  code?: string;
  detail?: string;
  hint?: string;
  where?: string;
  column?: string;
  table?: string;
  constraint?: string;
  severity?: string;
}

export interface PgErrorContext {
  /** user@host:port/db, for connection-level messages. */
  target?: string;
  /** For an error inside COPY: map COPY's own line number back to the record's origin. */
  copyOrigin?: (copyLine: number) => { at: Origin; source?: string } | undefined;
  /** Field names by column name, when they differ (they do not, today). */
}

const isServerError = (e: unknown): e is PgServerError =>
  e instanceof Error &&
  typeof (e as PgServerError).code === 'string' &&
  /^[0-9A-Z]{5}$/.test((e as PgServerError).code!);

/** A server error in one line: message, then its detail and hint when it has them. */
export function serverText(e: PgServerError): string {
  return redact([e.message, e.detail, e.hint ? `hint: ${e.hint}` : ''].filter(Boolean).join('; '));
}

export function pgError(err: unknown, ctx: PgErrorContext = {}): BxError {
  if (err instanceof BxError) return err;
  const where = ctx.target ? `${ctx.target}: ` : '';
  if (isServerError(err)) return serverError(err, ctx, where);
  const e = err as NodeJS.ErrnoException & { errors?: Error[] };
  const code = e?.code ?? e?.errors?.[0]?.['code' as keyof Error];
  const msg = e instanceof Error ? e.message || String(code ?? '') : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return new UnavailableError(`${where}connection refused; is the server running? (bx-db start runs a local one)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UnavailableError(`${where}no such host`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return new UnavailableError(`${where}server unreachable (${code})`);
    case 'ENOENT':
      return new UnavailableError(`${where}no server socket (${redact(msg)})`);
    case 'ECONNRESET':
    case 'EPIPE':
      return new TempFailError(`${where}connection reset by the server; worth a retry`);
  }
  if (/timeout expired|Connection terminated due to connection timeout/i.test(msg))
    return new UnavailableError(`${where}connection timed out`);
  if (/Connection terminated/i.test(msg))
    return new TempFailError(`${where}connection to the server was lost; worth a retry`);
  if (
    /self[- ]signed|certificate|Hostname\/IP does not match|altnames|unable to verify|ERR_TLS|SSL/i.test(
      msg + String(code ?? ''),
    )
  ) {
    return new ConfigError(`${where}TLS: ${redact(msg)}`);
  }
  if (/SASL|password must be a string|client password/i.test(msg)) {
    return new ConfigError(
      `${where}the server asks for a password and none was given (PGPASSWORD, ~/.pgpass or the URL)`,
    );
  }
  const known = classify(err);
  if (known instanceof BxError) return known;
  return new InternalError(`${where}${redact(msg)}`);
}

function serverError(e: PgServerError, ctx: PgErrorContext, where: string): BxError {
  const code = e.code!;
  const text = serverText(e);
  const cls = code.slice(0, 2);
  if (code === '28P01' || code === '28000') return new ConfigError(`${where}authentication failed: ${text}`);
  if (code === '3D000' || code === '3F000') return new ConfigError(`${where}${text}`);
  // Too many columns (over 1600): the data's shape, not the configuration.
  if (code === '54011') return new DataError(undefined, undefined, text);
  if (code === '42501') return new NoPermError(`${where}${text}`);
  if (code === '40001' || code === '40P01' || code === '55P03' || code === '57014')
    return new TempFailError(`${text}; worth a retry`);
  if (cls === '08' || cls === '53' || code === '57P01' || code === '57P02' || code === '57P03')
    return new TempFailError(`${where}${text}; worth a retry`);
  if (cls === '22' || cls === '23' || code === '42804') return dataError(e, ctx, text);
  if (cls === '42' || cls === '0A' || cls === '55') return new ConfigError(text);
  return new InternalError(`${where}${text} (SQLSTATE ${code})`);
}

/**
 * A COPY error names COPY's line and column in `where` ("COPY t, line 3, column qty: "abc"");
 * the message names the record instead: `stdin:3: field "qty": invalid input syntax …`.
 */
function dataError(e: PgServerError, ctx: PgErrorContext, text: string): DataError {
  const m = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?/.exec(e.where ?? '');
  let at: Origin | undefined;
  let source: string | undefined;
  let field = e.column;
  if (m && ctx.copyOrigin) {
    const o = ctx.copyOrigin(Number(m[1]));
    at = o?.at;
    source = o?.source;
    field ??= m[2];
  }
  return new DataError(at, field, source ? `${text} (record from ${source})` : text);
}

/** A refusal of one row's data, which --rejects takes: data exceptions (22) and integrity constraints (23). */
export function rowRefusal(err: unknown): err is PgServerError {
  if (!isServerError(err)) return false;
  const cls = err.code!.slice(0, 2);
  return cls === '22' || cls === '23';
}

/** The condition names of the refusals seen most (PostgreSQL's appendix A), for the rejects file's rule. */
const CONDITIONS: Record<string, string> = {
  '23502': 'not_null_violation',
  '23503': 'foreign_key_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '23P01': 'exclusion_violation',
  '22P02': 'invalid_text_representation',
  '22003': 'numeric_value_out_of_range',
  '22007': 'invalid_datetime_format',
  '22008': 'datetime_field_overflow',
  '22001': 'string_data_right_truncation',
  '22021': 'character_not_in_repertoire',
  '22P05': 'untranslatable_character',
  '22023': 'invalid_parameter_value',
  '22012': 'division_by_zero',
};

/**
 * A refused row as a rejects entry: the server's message (with its detail), its SQLSTATE, and
 * the constraint, column and value when the server names them (COPY's CONTEXT names the column
 * and value of a type error).
 */
export function refusalOf(e: PgServerError): RuleFailure {
  const m = /COPY [^,]+, line \d+, column ([^:]+)(?:: "(.*)")?$/m.exec(e.where ?? '');
  const f: RuleFailure = {
    field: e.column ?? m?.[1],
    rule: CONDITIONS[e.code!] ?? `sqlstate_${e.code}`,
    message: serverText(e),
    sqlstate: e.code,
  };
  if (m && m[2] !== undefined) f.value = m[2];
  if (e.constraint) f.constraint = e.constraint;
  if (f.field === undefined) delete f.field;
  return f;
}
