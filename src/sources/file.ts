// Files (and stdin) through a format reader: the source every command had, now one module.
import { promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import { canonicalFormat, formatNames, formatOfPath, readerFor, type ReadOptions } from '../formats/index.js';
import { classify, UsageError } from '../lib/errors.js';
import { gunzipped, openInput, type Io, type NamedInput } from '../lib/io.js';
import { addLineage } from '../lib/lineage.js';
import type { Batch, Checkpoint, Source, StageContext } from '../lib/stream.js';
import { checkS3Input, isS3, objectStream } from '../lib/s3.js';
import type { SourceOpener, SourceRequest } from './index.js';

/** The format of a file source: --format, else the file name's extension. */
export function fileFormat(path: string, forced: string | undefined): string {
  const format = forced === undefined ? formatOfPath(path) : canonicalFormat(forced);
  if (!format) {
    throw new UsageError(
      path === '-'
        ? 'cannot tell the format of stdin; give --format'
        : `cannot tell the format of ${path} from its name; give --format (${formatNames().join(', ')})`,
    );
  }
  return format;
}

/** Fails with exit 66 unless `path` is a readable file (or -): every input is checked before the first record goes out. */
export async function checkFile(path: string): Promise<void> {
  if (path === '-') return;
  try {
    const st = await fsp.stat(path);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR', path });
  } catch (err) {
    throw classify(err) ?? err;
  }
}

export class FileSource implements Source {
  private upstream: Checkpoint[] = [];

  constructor(
    private readonly io: Io,
    readonly name: string,
    private readonly format: string,
    private readonly read: ReadOptions,
    /** Add _file and _line to each record. */
    private readonly lineage: boolean,
  ) {}

  async *batches(ctx: StageContext): AsyncGenerator<Batch> {
    const read = await readerFor(this.format);
    const input =
      this.name === '-'
        ? await stdinInput(this.io)
        : isS3(this.name)
          ? await s3Input(this.io, this.name)
          : await openInput(this.io, this.name);
    const opts: ReadOptions = { ...this.read, onTrailer: (t) => (this.upstream = t.checkpoint ?? []) };
    for await (const b of read(input, opts, ctx)) {
      if (this.lineage && !b.ndjson) addLineage(b.records, b.name, b.lines);
      yield b;
    }
  }

  checkpoints(): Checkpoint[] {
    return this.upstream;
  }
}

export const open: SourceOpener = async (req: SourceRequest, io: Io) => {
  const format = fileFormat(req.target, req.format);
  if (isS3(req.target)) await checkS3Input(req.target, io.env, true);
  else await checkFile(req.target);
  return new FileSource(io, req.target, format, req.read, Boolean(req.read.lineage));
};

/** stdin, gunzipped when it starts with the gzip magic bytes (`bx-extract -f csv - < x.csv.gz`). */
async function stdinInput(io: Io): Promise<NamedInput> {
  const it = io.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const first = await it.next();
  async function* all() {
    if (first.done) return;
    yield first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  const stream: Readable = Readable.from(all(), { objectMode: false });
  const head = first.done ? undefined : first.value;
  const gz = head !== undefined && typeof head !== 'string' && head[0] === 0x1f && head[1] === 0x8b;
  return { name: 'stdin', stream: gz ? gunzipped(stream) : stream };
}

/** An S3 object as one GetObject stream (bounded by the stream's backpressure), gunzipped for a .gz key. */
async function s3Input(io: Io, url: string): Promise<NamedInput> {
  const { stream, size } = await objectStream(url, io.env);
  io.stats.countInput(stream, size);
  return { name: url, stream: /\.gz$/i.test(url) ? gunzipped(stream) : stream };
}
