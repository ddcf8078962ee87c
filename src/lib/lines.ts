import { DataError } from './errors.js';

/** 64 MiB: the default maximum line, record and field size (DESIGN.md "limits"). */
export const DEFAULT_MAX_LINE = 64 * 1024 * 1024;

/** Lines of one stream: `lines[i]` is physical line `first + i` of `name`. */
export interface LineBatch {
  name: string;
  first: number;
  lines: string[];
}

/**
 * Splits decoded text into batches of lines, one batch per input chunk. Our own splitter:
 * split2 slows quadratically on long lines, and we need line numbers and a length limit.
 * A long line is gathered as pieces and joined once, so a 64 MiB line costs linear time.
 */
export async function* splitLines(
  text: AsyncIterable<string>,
  name: string,
  maxLine = DEFAULT_MAX_LINE,
): AsyncGenerator<LineBatch> {
  let pending: string[] = [];
  let pendingLength = 0;
  let lineNo = 1;
  for await (const chunk of text) {
    const nl = chunk.indexOf('\n');
    if (nl === -1) {
      pending.push(chunk);
      pendingLength += chunk.length;
      if (pendingLength > maxLine) throw tooLong(name, lineNo, maxLine);
      continue;
    }
    const joined = pending.length ? pending.join('') + chunk : chunk;
    const lines = joined.split('\n');
    const rest = lines.pop()!;
    pending = rest ? [rest] : [];
    pendingLength = rest.length;
    if (joined.length > maxLine) {
      for (let i = 0; i < lines.length; i++) if (lines[i].length > maxLine) throw tooLong(name, lineNo + i, maxLine);
    }
    if (pendingLength > maxLine) throw tooLong(name, lineNo + lines.length, maxLine);
    yield { name, first: lineNo, lines };
    lineNo += lines.length;
  }
  if (pendingLength > 0) yield { name, first: lineNo, lines: [pending.join('')] };
}

export function tooLong(name: string, line: number, max: number, unit: 'characters' | 'bytes' = 'characters') {
  const limit = max === DEFAULT_MAX_LINE ? ' (the 64 MiB line limit)' : '';
  return new DataError({ file: name, line }, undefined, `line longer than ${max} ${unit}${limit}`);
}
