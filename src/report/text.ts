// The two text renderings of a report: GitHub-flavoured Markdown (for a PR comment or a wiki
// page) and an aligned terminal table. Charts are left out of both with a one-line note.
import { chartPoints, cutNotes, metaLine, runFields, runsLine, stamp } from './html.js';
import type { Report, SectionData } from './model.js';
import { cellText, columnsOf, displayWidth, truncate, visibleControls, type Column } from './values.js';

const chartNote = (s: SectionData) =>
  `(${s.spec.kind === 'line' ? 'line' : s.spec.kind === 'hbar' ? 'horizontal bar' : 'bar'} chart of ${s.spec.y} by ${s.spec.x} left out: ${chartPoints(s).length} points; --format html draws it)`;

const shownFields = (s: SectionData) => (s.spec.kind === 'table' ? s.fields : [s.spec.x!, s.spec.y!]);

// ---------------------------------------------------------------- Markdown

/**
 * A cell as GFM text: `|` escaped, a newline a <br>, and `<`, `>`, `&` as entities, because a
 * Markdown renderer passes raw HTML through (`<script>` in a value must stay text there too).
 * A backslash is doubled so that a value never escapes the next character of the table.
 */
export function mdCell(s: string): string {
  const escaped = s.replace(/[\\`*_[\]|<>&]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '\\' + c,
  );
  return visibleControls(escaped.replace(/\r\n|\r|\n/g, '<br>'));
}

export function renderMarkdown(r: Report): string {
  const out: string[] = [`# ${mdCell(r.title)}`, '', `Generated ${stamp(r.generated)}.`, ''];
  for (const s of r.sections) {
    out.push(`## ${mdCell(s.spec.heading)}`, '');
    if (s.spec.caption) out.push(mdCell(s.spec.caption), '');
    out.push(`_${mdCell(metaLine(s))}_`, '');
    if (s.spec.kind !== 'table') out.push(`_${mdCell(chartNote(s))}_`, '');
    if (s.rows.length === 0) out.push('No records.', '');
    else out.push(...mdTable(s.rows, shownFields(s), r.raw), '');
    for (const n of cutNotes(s, r.maxRows)) out.push(`_${mdCell(n)}_`, '');
  }
  if (r.runs) {
    out.push('## Runs', '', `${mdCell(runsLine(r.runs.records))} (from ${mdCell(r.runs.file)})`, '');
    if (r.runs.records.length)
      out.push(...mdTable(r.runs.records, runFields(r.runs.records), new Set(['exit_code', 'code', 'id'])), '');
  }
  return out.join('\n').trimEnd() + '\n';
}

function mdTable(rows: Record<string, unknown>[], fields: string[], raw: Set<string>): string[] {
  const cols = columnsOf(fields, rows, raw);
  const lines = [
    `| ${cols.map((c) => mdCell(c.name)).join(' | ')} |`,
    `| ${cols.map((c) => (c.numeric ? '---:' : '---')).join(' | ')} |`,
  ];
  for (const r of rows) lines.push(`| ${cols.map((c) => mdCell(cellText(r[c.name], c))).join(' | ')} |`);
  return lines;
}

// ---------------------------------------------------------------- terminal table

export interface Terminal {
  /** Columns of the terminal when stdout is one; undefined for a pipe or a file (no cutting). */
  columns?: number;
  /** Bold headings; only on a TTY, and never with NO_COLOR. */
  color: boolean;
}

export function renderTable(r: Report, term: Terminal): string {
  const bold = (s: string) => (term.color ? `\x1b[1m${s}\x1b[22m` : s);
  const dim = (s: string) => (term.color ? `\x1b[2m${s}\x1b[22m` : s);
  const out: string[] = [bold(visibleControls(r.title)), dim(`Generated ${stamp(r.generated)}`), ''];
  for (const s of r.sections) {
    out.push(bold(visibleControls(s.spec.heading)));
    if (s.spec.caption) out.push(visibleControls(s.spec.caption));
    out.push(dim(visibleControls(metaLine(s))));
    if (s.spec.kind !== 'table') out.push(dim(visibleControls(chartNote(s))));
    if (s.rows.length === 0) out.push('No records.');
    else out.push(...textTable(s.rows, shownFields(s), r.raw, term, bold));
    for (const n of cutNotes(s, r.maxRows)) out.push(dim(n));
    out.push('');
  }
  if (r.runs) {
    out.push(bold('Runs'), visibleControls(`${runsLine(r.runs.records)} (from ${r.runs.file})`));
    if (r.runs.records.length)
      out.push(
        ...textTable(r.runs.records, runFields(r.runs.records), new Set(['exit_code', 'code', 'id']), term, bold),
      );
    out.push('');
  }
  return out.join('\n').trimEnd() + '\n';
}

const GAP = 2;

/**
 * Columns padded to their widest cell (display width: a CJK character takes two), numbers
 * right-aligned. On a terminal narrower than the table, the widest text columns give way first
 * and their cells end in "…"; numbers are never cut. When even that does not fit, the columns
 * on the right are left out, with a line that names them. A pipe gets every character.
 */
export function textTable(
  rows: Record<string, unknown>[],
  fields: string[],
  raw: Set<string>,
  term: Terminal,
  bold = (s: string) => s,
): string[] {
  let cols: Column[] = columnsOf(fields, rows, raw);
  let head = cols.map((c) => visibleControls(c.name));
  let body = rows.map((r) => cols.map((c) => visibleControls(cellText(r[c.name], c))));
  let widths = head.map((h, j) => Math.max(displayWidth(h), ...body.map((b) => displayWidth(b[j]))));
  let hidden: string[] = [];
  if (term.columns !== undefined) {
    const room = term.columns;
    const need = (n: number) =>
      widths.slice(0, n).reduce((a, w, j) => a + (cols[j].numeric ? w : Math.min(w, MIN_TEXT)), 0) + GAP * (n - 1);
    let n = cols.length;
    while (n > 1 && need(n) > room) n--;
    if (n < cols.length) {
      hidden = cols.slice(n).map((c) => c.name);
      cols = cols.slice(0, n);
      head = head.slice(0, n);
      body = body.map((b) => b.slice(0, n));
      widths = widths.slice(0, n);
    }
    fit(widths, cols, room - GAP * (cols.length - 1));
  }
  const pad = (s: string, j: number) => {
    const t = truncate(s, widths[j]);
    const fill = ' '.repeat(Math.max(0, widths[j] - displayWidth(t)));
    return cols[j].numeric ? fill + t : t + fill;
  };
  const sep = ' '.repeat(GAP);
  const lines = [bold(head.map(pad).join(sep).trimEnd()), widths.map((w) => '─'.repeat(w)).join(sep)];
  for (const b of body) lines.push(b.map(pad).join(sep).trimEnd());
  if (hidden.length) {
    lines.push(
      ...wrap(
        `(${hidden.length} more ${hidden.length === 1 ? 'column' : 'columns'} left out to fit ${term.columns} columns: ${hidden.map(visibleControls).join(', ')}; --format md shows all)`,
        term.columns!,
      ),
    );
  }
  return lines;
}

/** A text column is not cut below this width (a number column is never cut). */
const MIN_TEXT = 6;

/** Shrinks the widest text columns until the sum fits `room`. */
function fit(widths: number[], cols: Column[], room: number) {
  let total = widths.reduce((a, b) => a + b, 0);
  while (total > room) {
    let j = -1;
    for (let k = 0; k < widths.length; k++)
      if (!cols[k].numeric && widths[k] > MIN_TEXT && (j < 0 || widths[k] > widths[j])) j = k;
    if (j < 0) break;
    widths[j]--;
    total--;
  }
}

/** Words wrapped to `width` columns (a word longer than a line is cut). */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (displayWidth(next) <= width) line = next;
    else {
      if (line) out.push(line);
      line = truncate(word, width);
    }
  }
  if (line) out.push(line);
  return out;
}
