// The one temp-file-then-rename write of the family: rejects files, file sinks, Parquet parts,
// state files, metrics files. A reader sees the old file or the whole new one, never a part.
import { once } from 'node:events';
import { createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CantCreateError } from './errors.js';

export interface AtomicOptions {
  /** The new file's mode: 0o600 for files that may hold personal data (rejects). Default 0o644. */
  mode?: number;
  /** What the file is, for the error message: "the rejects file". */
  what?: string;
}

/**
 * A file written under a hidden temp name beside its target (same file system, so rename is
 * atomic), fsynced and renamed on commit(), removed on abort(). A target that exists and is not
 * a regular file (/dev/null, a FIFO) is written in place: renaming over /dev/null would replace
 * the device with a plain file.
 */
// The temp name's suffix comes from Math.random, not node:crypto: crypto costs ~40 ms of every
// command's start-up (measured for the run log), and pid + 'wx' already rule out a clash.
export class AtomicFile {
  private done = false;

  private constructor(
    readonly path: string,
    readonly tmpPath: string | undefined,
    /** The bytes go here; wait for 'drain' as with any stream (or use write()). */
    readonly stream: WriteStream,
  ) {}

  static async open(path: string, opts: AtomicOptions = {}): Promise<AtomicFile> {
    const what = opts.what ?? 'the output file';
    try {
      const st = await fsp.stat(path).catch(() => undefined);
      if (st && st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      const tmpPath =
        st && !st.isFile()
          ? undefined
          : join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
      const stream = createWriteStream(tmpPath ?? path, {
        flags: tmpPath ? 'wx' : 'w',
        mode: opts.mode ?? 0o644,
        highWaterMark: 256 * 1024,
      });
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
      return new AtomicFile(path, tmpPath, stream);
    } catch (err) {
      throw new CantCreateError(`cannot create ${what} ${path}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}`);
    }
  }

  /** Writes one block, waiting when the file is behind. */
  async write(block: string | Uint8Array): Promise<void> {
    if (!this.stream.write(block)) await once(this.stream, 'drain');
  }

  /** Flushes, fsyncs and renames into place (then fsyncs the directory, so the rename survives a crash). */
  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const closed = once(this.stream, 'close');
    this.stream.end();
    await closed;
    if (!this.tmpPath) return;
    const fh = await fsp.open(this.tmpPath, 'r+');
    await fh.sync();
    await fh.close();
    await fsp.rename(this.tmpPath, this.path);
    await syncDir(dirname(this.path));
  }

  /** Removes the temp file; the target keeps what it held. Safe to call after a failed commit. */
  async abort(): Promise<void> {
    if (this.done && !this.tmpPath) return;
    this.done = true;
    if (!this.stream.destroyed) {
      const closed = once(this.stream, 'close').catch(() => {});
      this.stream.destroy();
      await closed;
    }
    if (this.tmpPath) await fsp.rm(this.tmpPath, { force: true });
  }
}

/** Writes a small file atomically in one go (state files, metrics). */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: AtomicOptions = {},
): Promise<void> {
  const f = await AtomicFile.open(path, opts);
  try {
    await f.write(data);
    await f.commit();
  } catch (err) {
    await f.abort();
    throw err;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const d = await fsp.open(dir, 'r').catch(() => undefined);
  if (!d) return;
  await d.sync().catch(() => {});
  await d.close();
}
