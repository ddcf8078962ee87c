import { promises as fsp } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { classify } from './errors.js';
import type { Logger } from './log.js';
import type { Checkpoint } from './stream.js';

/** A stream that counts its own bytes: fs.ReadStream and net.Socket (pipes, TTYs) do. */
type Counted = { bytesRead?: number };

/**
 * Counters every command keeps; cli() prints them as the closing summary, shows them on the
 * progress line, and writes them to the run log and the metrics file (src/run/summary.ts).
 */
export class RunStats {
  readonly started = Date.now();
  rowsIn = 0;
  rowsOut = 0;
  rejected = 0;
  /** Extra words for the summary, e.g. "into public.sales" or "by rule: integer 3". */
  note = '';
  /** This run's id (random; in the run log, the JSON log lines and bx_state.run_id). Set by cli(). */
  runId = '';
  /** BX_PIPELINE_ID, else one derived per shell pipe (src/run/summary.ts). Set by cli(). */
  pipelineId = '';
  /** Bytes of input in all, when whoever opens the inputs knows it (file sizes): the progress line's % done. */
  totalBytes?: number;
  /** The table the run wrote to (bx-load): a label of the metrics, a column of the run log. */
  table?: string;
  /** The sources' positions this run passed on or committed (the trailer's checkpoint), for the run log. */
  checkpoint?: Checkpoint[];
  /** Bytes counted besides the input streams (a source that is not a byte stream, say). */
  extraBytesIn = 0;
  private readonly inputs: Counted[] = [];
  private output?: { bytesWritten?: number; counted?: number };

  /** Counts `stream`'s bytes as input (its own bytesRead); `size`, when known, adds to totalBytes. */
  countInput(stream: unknown, size?: number): void {
    if (stream && typeof (stream as Counted).bytesRead === 'number' && !this.inputs.includes(stream as Counted))
      this.inputs.push(stream as Counted);
    if (size !== undefined && size >= 0) this.totalBytes = (this.totalBytes ?? 0) + size;
  }

  /**
   * Counts what goes to `out` (stdout). A socket (pipe, TTY) counts itself (bytesWritten); a file
   * (Node's SyncWriteStream) does not, so its write() is wrapped to count.
   */
  countOutput(out: Writable): void {
    const o = out as Writable & { bytesWritten?: number };
    if (typeof o.bytesWritten === 'number') {
      this.output = o;
      return;
    }
    const counter = { counted: 0 };
    const write = o.write;
    o.write = function (this: Writable, chunk: unknown, ...rest: unknown[]) {
      counter.counted +=
        typeof chunk === 'string' ? Buffer.byteLength(chunk) : ((chunk as Uint8Array)?.byteLength ?? 0);
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Writable['write'];
    this.output = counter;
  }

  get bytesIn(): number {
    let n = this.extraBytesIn;
    for (const s of this.inputs) n += s.bytesRead ?? 0;
    return n;
  }

  get bytesOut(): number {
    return this.output?.bytesWritten ?? this.output?.counted ?? 0;
  }
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

/**
 * Bytes per read of a file (and per gunzip output chunk). Larger reads are faster but not flat:
 * every line consumer pays a fixed cost per chunk, and 1 MiB against 256 KiB (five runs each, 1 M
 * sales rows) took bx-agg 0.55 -> 0.46 s, bx-clean --schema 0.82 -> 0.70 s and bx-load's CPU
 * 0.76 -> 0.64 s, but bx-agg's peak RSS on 10 M rows went 73 -> 104 MB (512 KiB: 90 MB) and the
 * dedupe of 20 M keys under --memory 256MB peaked at 317 MB instead of 261. Flat memory is the
 * contract (issue 21), so reads stay at 256 KiB.
 */
export const READ_CHUNK = 256 * 1024;

/**
 * Opens `-` (stdin) or a file. A `.gz` name is decompressed on the fly, and so is any input
 * starting with the gzip magic bytes when `sniffGzip` is set. A missing file fails here, before
 * anything is written, with exit 66.
 */
export async function openInput(
  io: Pick<Io, 'stdin'> & Partial<Pick<Io, 'stats'>>,
  path: string,
  opts: { gunzip?: boolean } = {},
): Promise<NamedInput> {
  let stream: Readable;
  let name: string;
  if (path === '-') {
    stream = io.stdin;
    name = 'stdin';
    io.stats?.countInput(stream);
  } else {
    name = path;
    let handle: fsp.FileHandle;
    let size: number | undefined;
    try {
      handle = await fsp.open(path, 'r');
      const st = await handle.stat();
      if (st.isFile()) size = st.size;
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
    // The file's own bytes (before any gunzip) against its size: the progress line's % done.
    io.stats?.countInput(stream, size);
  }
  const gz = opts.gunzip ?? /\.gz$/i.test(path);
  return { name, stream: gz ? gunzipped(stream) : stream };
}

/** A compressed stream's bytes, READ_CHUNK at a time; the source's error ends the output too. */
export function gunzipped(stream: Readable): Readable {
  const gunzip = createGunzip({ chunkSize: READ_CHUNK });
  stream.on('error', (e) => gunzip.destroy(e));
  return stream.pipe(gunzip);
}
