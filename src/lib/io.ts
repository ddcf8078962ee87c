import { promises as fsp } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { classify } from './errors.js';
import type { Logger } from './log.js';
import type { Checkpoint } from './stream.js';

/** Counters every command keeps; cli() prints them as the closing summary. */
export class RunStats {
  readonly started = Date.now();
  rowsIn = 0;
  rowsOut = 0;
  rejected = 0;
  /** Extra words for the summary, e.g. "into public.sales" or "by rule: integer 3". */
  note = '';
  /** The sources' positions this run passed on or committed (the trailer's checkpoint). */
  checkpoint: Checkpoint[] | undefined;
}

export interface SealOptions {
  /** End our output with the trailer `{"@bx":"end","records":N}`. */
  seal: boolean;
  /** Refuse input that ends without its trailer (BX_SEAL=1 without --accept-unsealed). */
  expectSealed: boolean;
}

/** A readable byte stream with the name errors should use for it (`stdin` for -). */
export interface NamedInput {
  name: string;
  stream: Readable;
}

/**
 * Everything a command's run() may touch. run() never reads `process`: tests build an Io from
 * in-memory streams.
 */
export interface Io {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: Record<string, string | undefined>;
  cwd: string;
  log: Logger;
  stats: RunStats;
  seal: SealOptions;
  /** Aborted on SIGINT/SIGTERM, so a command can roll back before it exits. */
  signal: AbortSignal;
}

export const READ_CHUNK = 256 * 1024;

/**
 * Opens `-` (stdin) or a file. A `.gz` name is decompressed on the fly, and so is any input
 * starting with the gzip magic bytes when `sniffGzip` is set. A missing file fails here, before
 * anything is written, with exit 66.
 */
export async function openInput(io: Pick<Io, 'stdin'>, path: string, opts: { gunzip?: boolean } = {}): Promise<NamedInput> {
  let stream: Readable;
  let name: string;
  if (path === '-') {
    stream = io.stdin;
    name = 'stdin';
  } else {
    name = path;
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(path, 'r');
      const st = await handle.stat();
      if (st.isDirectory()) {
        await handle.close();
        throw Object.assign(new Error('is a directory'), { code: 'EISDIR', path });
      }
    } catch (err) {
      throw classify(err) ?? err;
    }
    // The stream closes the handle itself. (Closing the handle again on 'close' could close a
    // reused fd number: the next file opened got EBADF.)
    stream = handle.createReadStream({ highWaterMark: READ_CHUNK });
  }
  const gz = opts.gunzip ?? /\.gz$/i.test(path);
  if (gz) {
    const gunzip = createGunzip({ chunkSize: READ_CHUNK });
    stream.on('error', (e) => gunzip.destroy(e));
    stream = stream.pipe(gunzip);
  }
  return { name, stream };
}
