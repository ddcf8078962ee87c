// Lineage (docs/design.md "The record stream"): `bx-extract --lineage` adds `_file` and `_line`,
// and every later stage names that place, not its own stdin line, in its errors and rejects.
import type { Origin } from './errors.js';
import type { Rec } from './stream.js';

export const LINEAGE = ['_file', '_line'] as const;

export const isLineageKey = (k: string) => k === '_file' || k === '_line';

/** The lineage a record carries, or undefined: `_file` a string and `_line` a whole number (or its digits). */
export function lineageOf(rec: Rec): Origin | undefined {
  const f = rec._file;
  const l = rec._line;
  if (typeof f !== 'string') return undefined;
  if (typeof l === 'number' && Number.isFinite(l)) return { file: f, line: l };
  if (typeof l === 'string' && /^\d+$/.test(l)) return { file: f, line: Number(l) };
  return undefined;
}

/** The one origin-of-record rule: its lineage when it has one, else where this stage read it. */
export const originOfRecord = (rec: Rec, name: string, line: number): Origin => lineageOf(rec) ?? { file: name, line };

/** Adds lineage to the records of a batch, in place. */
export function addLineage(recs: Rec[], name: string, lines: number[]): void {
  for (let i = 0; i < recs.length; i++) {
    recs[i]._file = name;
    recs[i]._line = lines[i];
  }
}
