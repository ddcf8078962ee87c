// NDJSON files: the records as every bx stage writes them (stringifyRecord keeps the key order
// a record carries), one write() per batch. A batch that arrives as NDJSON bytes goes out as
// it is: those bytes are already one record a line.
import type { Writable } from 'node:stream';
import { stringifyRecord } from '../lib/json.js';
import type { Batch } from '../lib/stream.js';
import { put, type FormatWriter, type WriteOptions, type Writer } from './writer.js';

export const ndjsonWriter: Writer = (out: Writable, _opts: WriteOptions): FormatWriter => ({
  async write(b: Batch) {
    if (b.ndjson) return put(out, b.ndjson);
    const recs = b.records;
    if (recs.length === 0) return;
    // One string and one write() per batch: each write() is a syscall on a pipe.
    const lines = new Array<string>(recs.length);
    for (let i = 0; i < recs.length; i++) lines[i] = stringifyRecord(recs[i]);
    await put(out, lines.join('\n') + '\n');
  },
  async end() {},
});
