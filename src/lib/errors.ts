// sysexits(3) codes, the only exit statuses a bx command returns (DESIGN.md "Exit codes").
export enum ExitCode {
  Ok = 0,
  Usage = 64,
  DataErr = 65,
  NoInput = 66,
  Unavailable = 69,
  Software = 70,
  CantCreate = 73,
  IoErr = 74,
  TempFail = 75,
  NoPerm = 77,
  Config = 78,
}

/** Where a record or a line came from: the stream's name (`stdin` for -) and a 1-based line. */
export interface Origin {
  file: string;
  line: number;
}

export const originText = (at: Origin) => `${at.file}:${at.line}`;

/** Every error a user can cause is a BxError: it carries its exit code and a one-line message. */
export abstract class BxError extends Error {
  abstract readonly exitCode: ExitCode;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class UsageError extends BxError {
  readonly exitCode = ExitCode.Usage;
}

/** Bad data. The message names the place (file:line) and, when known, the field. */
export class DataError extends BxError {
  readonly exitCode = ExitCode.DataErr;
  constructor(
    readonly at: Origin | undefined,
    readonly field: string | undefined,
    readonly detail: string,
  ) {
    super((at ? `${originText(at)}: ` : '') + (field !== undefined ? `field ${JSON.stringify(field)}: ` : '') + detail);
  }
}

export class InputMissingError extends BxError {
  readonly exitCode = ExitCode.NoInput;
}

export class UnavailableError extends BxError {
  readonly exitCode = ExitCode.Unavailable;
}

export class CantCreateError extends BxError {
  readonly exitCode = ExitCode.CantCreate;
}

export class IoError extends BxError {
  readonly exitCode = ExitCode.IoErr;
}

export class TempFailError extends BxError {
  readonly exitCode = ExitCode.TempFail;
}

/** Permission denied by a server (a role without SELECT on a table, a broker ACL): sysexits EX_NOPERM. */
export class NoPermError extends BxError {
  readonly exitCode = ExitCode.NoPerm;
}

export class ConfigError extends BxError {
  readonly exitCode = ExitCode.Config;
}

export class InternalError extends BxError {
  readonly exitCode = ExitCode.Software;
}

/** The reader of our stdout went away (`| head`). Not a failure: the run ends with 0. */
export class PipeClosed extends Error {
  constructor() {
    super('output closed by its reader');
  }
}

interface SystemError extends Error {
  code?: string;
  path?: string;
  syscall?: string;
}

/** Turns an error from Node or a library into the BxError a user should see, when we know one. */
export function classify(err: unknown): BxError | PipeClosed | undefined {
  if (err instanceof BxError || err instanceof PipeClosed) return err;
  const e = err as SystemError;
  if (!e || typeof e !== 'object' || typeof e.code !== 'string') return undefined;
  const path = e.path ? `${e.path}: ` : '';
  switch (e.code) {
    case 'EPIPE':
    case 'ERR_STREAM_DESTROYED':
      return new PipeClosed();
    case 'ENOENT':
      return new InputMissingError(`${path}no such file or directory`);
    case 'EISDIR':
      return new InputMissingError(`${path}is a directory`);
    case 'EACCES':
    case 'EPERM':
      return e.syscall === 'open' && /w/.test(String((e as { flags?: string }).flags ?? ''))
        ? new CantCreateError(`${path}permission denied`)
        : new InputMissingError(`${path}permission denied`);
    case 'ENOSPC':
      return new IoError(`${path}no space left on device`);
    case 'EIO':
      return new IoError(`${path}input/output error`);
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return new UnavailableError(`${e.message}`);
    case 'ECONNRESET':
      return new TempFailError(`connection reset (${e.message}); worth a retry`);
    case 'Z_DATA_ERROR':
    case 'Z_BUF_ERROR':
      return new DataError(undefined, undefined, `corrupt gzip data (${e.message})`);
    default:
      return undefined;
  }
}
