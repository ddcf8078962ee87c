// bx-load --to csv|tsv|ndjson|xml --path FILE: a format writer (formats/writer.ts) around one
// output. A file is written under a temp name beside it (lib/atomic-file.ts) and renamed into
// place by end(), so a reader of FILE sees the old file or the whole new one; abort() (a bad
// record, a failed or unsealed input, a signal) removes the temp file and FILE keeps what it
// held. A path ending in .gz is gzip-compressed on the way. --path - writes to stdout: nothing
// to rename, and a reader that leaves (EPIPE) ends the run with 0, as for every bx stage.
// --path s3://bucket/key uploads instead (S3Output): the object appears only when complete.
import { finished } from 'node:stream/promises';
import { PassThrough, type Writable } from 'node:stream';
import { createGzip, type Gzip } from 'node:zlib';
import { AtomicFile } from '../lib/atomic-file.js';
import { UsageError } from '../lib/errors.js';
import { isS3, parseS3Url, s3, upload } from '../lib/s3.js';
import type { Io } from '../lib/io.js';
import type { Batch, Sink } from '../lib/stream.js';
import { writerFor, type FormatWriter, type WriteOptions } from '../formats/writer.js';
import type { SinkOpener, SinkRequest } from './index.js';

const CSV_ONLY: [keyof SinkRequest, string][] = [
  ['bom', 'bom'],
  ['csvSafe', 'csv-safe'],
  ['delimiter', 'delimiter'],
];

export const open: SinkOpener = async (req: SinkRequest, io: Io): Promise<Sink> => {
  checkFlags(req);
  const make = await writerFor(req.to);
  const opts: WriteOptions = {
    header: req.header,
    delimiter: req.delimiter,
    bom: req.bom,
    csvSafe: req.csvSafe,
    xmlRoot: req.xmlRoot,
    xmlRecord: req.xmlRecord,
  };
  // yargs-parser reads `--path -` as --path '' and a positional '-' (it takes a lone - for a
  // positional stdin); an empty name is no file, so '' is stdout too (see the report's load.ts fix).
  if (req.path === '-' || req.path === '')
    return new FileSink(io, 'stdout', undefined, io.stdout, undefined, (out) => make(out, opts));
  const file: Output = isS3(req.path)
    ? await S3Output.open(req.path, io)
    : await AtomicFile.open(req.path, { what: `the ${req.to.toUpperCase()} file` });
  try {
    // An unlistened 'error' would crash the process; put() reads it from stream.errored instead.
    file.stream.on('error', () => {});
    let out: Writable = file.stream;
    let gz: Gzip | undefined;
    if (/\.gz$/i.test(req.path)) {
      gz = createGzip();
      gz.on('error', () => {});
      // A failed file (ENOSPC) fails the gzip stream too, so no write waits for a 'drain' that never comes.
      file.stream.once('error', (e) => gz!.destroy(e));
      gz.pipe(file.stream, { end: false });
      out = gz;
    }
    return new FileSink(io, req.path, file, out, gz, (o) => make(o, opts));
  } catch (err) {
    await file.abort();
    throw err;
  }
};

/** Flags of another format are a usage error, not silently ignored. */
function checkFlags(req: SinkRequest) {
  const delimited = req.to === 'csv' || req.to === 'tsv';
  if (!delimited) {
    for (const [k, flag] of CSV_ONLY)
      if (req[k] !== undefined && req[k] !== false)
        throw new UsageError(`--${flag} is for --to csv or tsv, not --to ${req.to}`);
    if (!req.header) throw new UsageError(`--no-header is for --to csv or tsv, not --to ${req.to}`);
  }
  if (req.to !== 'xml' && (req.xmlRoot !== 'records' || req.xmlRecord !== 'record')) {
    throw new UsageError(
      `--${req.xmlRoot !== 'records' ? 'xml-root' : 'xml-record'} is for --to xml, not --to ${req.to}`,
    );
  }
}

class FileSink implements Sink {
  private readonly writer: FormatWriter;
  private rows = 0;
  private readonly onAbort: () => void;

  constructor(
    private readonly io: Io,
    private readonly label: string,
    private readonly file: Output | undefined,
    private readonly out: Writable,
    private readonly gz: Gzip | undefined,
    make: (out: Writable) => FormatWriter,
  ) {
    if (!file) out.on('error', ignore);
    try {
      this.writer = make(out);
    } catch (err) {
      this.release();
      throw err;
    }
    // SIGINT/SIGTERM: the temp file goes at once, whatever the stage is waiting for.
    this.onAbort = () => void this.file?.abort();
    io.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  async write(b: Batch): Promise<void> {
    if (this.io.signal.aborted) throw this.io.signal.reason;
    await this.writer.write(b);
    this.rows += b.lines.length;
  }

  async end(): Promise<{ rows: number; note: string }> {
    if (this.io.signal.aborted) throw this.io.signal.reason;
    await this.writer.end();
    if (this.gz) {
      this.gz.end();
      await finished(this.gz, { writable: true, readable: true });
    }
    if (this.file) {
      if (this.file.stream.errored) throw this.file.stream.errored;
      await this.file.commit();
    }
    this.release();
    return { rows: this.rows, note: `wrote ${this.label}${this.gz ? ' (gzip)' : ''}` };
  }

  async abort(): Promise<void> {
    this.gz?.destroy();
    await this.file?.abort();
    this.release();
  }

  private release() {
    this.io.signal.removeEventListener('abort', this.onAbort);
    if (!this.file) this.out.off('error', ignore);
  }
}

const ignore = () => {};

/** Where a file sink's bytes go: a temp file renamed on commit() (AtomicFile), or an S3 upload. */
interface Output {
  readonly stream: Writable;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * An s3:// object, written by one upload (lib/s3.ts): S3 shows an object only once its PUT or
 * multipart upload completes, so a reader sees the old object or the whole new one, as with a
 * rename; abort() cancels the upload (and its parts) and the old object stays.
 */
class S3Output implements Output {
  private constructor(
    readonly stream: PassThrough,
    private readonly up: { done: Promise<void>; abort: () => Promise<void> },
  ) {}

  static async open(url: string, io: Io): Promise<S3Output> {
    const { key } = parseS3Url(url);
    if (key === '' || key.endsWith('/')) throw new UsageError(`--path ${url}: name an object, not a prefix`);
    const client = await s3(io.env);
    const stream = new PassThrough({ highWaterMark: 256 * 1024 });
    const up = await upload(client, url, stream, { contentType: contentTypeOf(url) });
    // A failed upload (S3 gone, access denied) fails the stream, so no write waits for a 'drain' that never comes.
    up.done.catch((err: unknown) => stream.destroy(err as Error));
    return new S3Output(stream, up);
  }

  async commit(): Promise<void> {
    this.stream.end();
    await this.up.done;
  }

  async abort(): Promise<void> {
    await this.up.abort();
    this.stream.destroy();
  }
}

function contentTypeOf(url: string): string {
  if (/\.gz$/i.test(url)) return 'application/gzip';
  if (/\.csv$/i.test(url)) return 'text/csv; charset=utf-8';
  if (/\.tsv$/i.test(url)) return 'text/tab-separated-values; charset=utf-8';
  if (/\.xml$/i.test(url)) return 'application/xml';
  return 'application/x-ndjson';
}
