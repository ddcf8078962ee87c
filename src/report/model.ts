// What a report is once its inputs are read: sections of rows, ready for any of the three
// renderers (HTML, Markdown, terminal table). Rendering never reads input; reading never renders.
import type { Rec } from '../lib/stream.js';

export type SectionKind = 'bar' | 'hbar' | 'line' | 'table';
export const SECTION_KINDS: readonly SectionKind[] = ['bar', 'hbar', 'line', 'table'];

/** Where a section's records come from: a file (`-` for stdin) or a SQL query. */
export type InputRef = { kind: 'file'; path: string } | { kind: 'query'; sql: string };

export const inputKey = (i: InputRef) => (i.kind === 'file' ? `file:${i.path}` : `query:${i.sql}`);
export const inputName = (i: InputRef) =>
  i.kind === 'file'
    ? i.path === '-'
      ? 'stdin'
      : i.path
    : `query ${JSON.stringify(i.sql.length > 60 ? i.sql.slice(0, 57) + '...' : i.sql)}`;

export interface SectionSpec {
  heading: string;
  kind: SectionKind;
  x?: string;
  y?: string;
  /** A line under the heading (--title after --section). */
  caption?: string;
  inputs: InputRef[];
}

export interface ReportSpec {
  title: string;
  sections: SectionSpec[];
  maxRows: number;
  /** Fields whose numbers are shown as written, without thousands separators (ids, codes). */
  raw: Set<string>;
}

/** A section with its rows read: at most maxRows kept, all counted. */
export interface SectionData {
  spec: SectionSpec;
  rows: Rec[];
  /** Records read for the section, shown or not. */
  total: number;
  /** Fields in the order first seen. */
  fields: string[];
  /** Records left out of a chart because their x or y was null or missing. */
  skipped: number;
  /** Inputs, by name, for the "from …" line. */
  sources: string[];
}

/** One run-log record (BX_RUN_LOG line) for the footer. */
export type RunRecord = Rec;

export interface Report {
  title: string;
  generated: Date;
  sections: SectionData[];
  runs?: { file: string; records: RunRecord[] };
  maxRows: number;
  raw: Set<string>;
}
