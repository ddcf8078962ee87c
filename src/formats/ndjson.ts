// NDJSON / JSON lines. The source is a file, not a bx stream: it needs no end-of-stream mark,
// but one left in it (a saved sealed stream) is checked and stripped, never passed on as a record.
import { readRecordBatches } from '../lib/records.js';
import { decodeText } from '../lib/text.js';
import type { Reader } from './index.js';

export const ndjsonReader: Reader = (input, opts, ctx) =>
  readRecordBatches(decodeText(input.stream, input.name, opts.encoding), input.name, {
    expectSealed: false,
    maxLine: opts.maxRecordSize,
    maxDepth: opts.maxDepth,
    onTrailer: opts.onTrailer,
    onMalformed: (err, line) => ctx.reject(line.length > 1000 ? line.slice(0, 1000) : line, { rule: 'json', message: err.detail }, err.at!),
  });
