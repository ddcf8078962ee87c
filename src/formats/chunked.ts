// What the streaming readers share: records gathered with the line each starts on, handed on
// as one RecordBatch per piece of input, and the decode → feed → take loop around a parser.
import type { NamedInput } from '../lib/io.js';
import type { Rec, RecordBatch } from '../lib/records.js';
import { decodeText, type Encoding } from '../lib/text.js';
import type { ReadBatch } from './index.js';

export abstract class RecordCollector {
  records: Rec[] = [];
  lines: number[] = [];

  constructor(readonly name: string) {}

  /** The records gathered since the last take(), as one batch. */
  take(): ReadBatch {
    const b = { name: this.name, lines: this.lines, records: this.records };
    this.records = [];
    this.lines = [];
    return b;
  }
}

/** A parser fed decoded text piece by piece; end() checks that the input ended cleanly. */
export interface TextParser extends RecordCollector {
  feed(text: string): void;
  end(): void;
}

export async function* readParsed(input: NamedInput, encoding: Encoding, p: TextParser): AsyncGenerator<ReadBatch> {
  for await (const chunk of decodeText(input.stream, input.name, encoding)) {
    p.feed(chunk);
    if (p.records.length > 0) yield p.take();
  }
  p.end();
  if (p.records.length > 0) yield p.take();
}
