// NDJSON on stdout, the sink of every middle stage: batched writes, 'drain', the trailer.
import type { Writable } from 'node:stream';
import type { Batch, Sink, Trailer } from '../lib/stream.js';
import { LineWriter } from '../lib/write.js';

export class StdoutSink implements Sink {
  readonly writer: LineWriter;

  constructor(out: Writable, seal: boolean) {
    this.writer = new LineWriter(out, seal);
  }

  async write(b: Batch): Promise<void> {
    if (b.ndjson) await this.writer.text(b.ndjson, b.lines.length);
    else await this.writer.records(b.records);
  }

  async end(t: Trailer): Promise<{ rows: number }> {
    await this.writer.end(t.checkpoint);
    return { rows: this.writer.count };
  }

  /** What went out is out: a pipe cannot take it back; the missing trailer tells the next stage. */
  async abort(): Promise<void> {}
}
