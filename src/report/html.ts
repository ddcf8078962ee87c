// The HTML report: one self-contained file. No script, no fetch of any kind (inline CSS and
// inline SVG, system fonts), a Content-Security-Policy that forbids scripts outright, every
// value escaped. Readable printed, and in light or dark mode.
import type { Report, SectionData } from './model.js';
import { chartSvg, type Point } from './svg.js';
import {
  cellText,
  columnsOf,
  count,
  decimalText,
  escapeHtml as esc,
  groupDigits,
  toFloat,
  type Column,
} from './values.js';

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const CSS = `
:root{--bg:#f7f7f5;--card:#fff;--fg:#1d2125;--muted:#5f6670;--line:#e3e4e6;--grid:#eceef0;--accent:#2f6fb3;--accent-soft:rgba(47,111,179,.12);--neg:#c0504d;--zebra:#fafafa;--on-accent:#fff;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#15181c;--card:#1d2126;--fg:#e4e6e9;--muted:#9aa2ad;--line:#30353c;--grid:#2a2f35;--accent:#6ea8e8;--accent-soft:rgba(110,168,232,.16);--neg:#e58a87;--zebra:#21262c;--on-accent:#0f1419}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;-webkit-font-smoothing:antialiased}
main{max-width:880px;margin:0 auto;padding:32px 20px 48px}
header h1{font-size:28px;line-height:1.2;margin:0 0 4px;letter-spacing:-.01em}
header p{margin:0;color:var(--muted);font-size:13px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:20px 22px;margin:20px 0;break-inside:avoid}
h2{font-size:18px;margin:0 0 2px}
.caption{margin:0 0 4px;color:var(--fg)}
.meta{margin:0 0 12px;color:var(--muted);font-size:13px}
.note{margin:10px 0 0;color:var(--muted);font-size:13px;font-style:italic}
svg.chart{display:block;width:100%;height:auto;margin:8px 0 4px;font-size:12px;font-family:inherit}
svg .bar{fill:var(--accent)}svg .bar.neg{fill:var(--neg)}svg .bar:hover{opacity:.85}
svg .grid line{stroke:var(--grid);stroke-width:1}
svg .axis,svg .tick{stroke:var(--muted);stroke-width:1}
svg text{fill:var(--muted)}svg .value{fill:var(--fg);font-size:11px}svg .value.inside{fill:var(--on-accent)}
svg .axis-name{fill:var(--fg);font-weight:600}svg .cat{fill:var(--fg)}
svg .line{fill:none;stroke:var(--accent);stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
svg .area{fill:var(--accent-soft)}svg circle{fill:var(--card);stroke:var(--accent);stroke-width:2}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top;white-space:pre-wrap;overflow-wrap:anywhere}
th{font-weight:600;border-bottom:2px solid var(--line);white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
tbody tr:nth-child(even){background:var(--zebra)}
details{margin-top:10px}details table{width:auto;min-width:50%}summary{cursor:pointer;color:var(--muted);font-size:13px}
footer{color:var(--muted);font-size:13px;margin-top:28px}
footer h2{font-size:15px;color:var(--fg)}
footer table{font-size:12.5px}
@media print{:root{--bg:#fff;--card:#fff;--fg:#000;--muted:#444;--line:#bbb;--grid:#ddd;--accent:#2f5f99;--zebra:#fff}
body{font-size:11pt}main{max-width:none;padding:0}section{border:0;border-top:1px solid #bbb;border-radius:0;padding:12px 0;margin:12px 0}
svg.chart{max-width:17cm}tr,svg{break-inside:avoid}thead{display:table-header-group}}
`
  .trim()
  .replace(/\n/g, '');

export function renderHtml(r: Report): string {
  const out: string[] = [];
  out.push(
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    '<meta name="referrer" content="no-referrer">',
    `<meta name="generator" content="bx-report">`,
    `<title>${esc(r.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    '<header>',
    `<h1>${esc(r.title)}</h1>`,
    `<p>Generated <time datetime="${r.generated.toISOString()}">${esc(stamp(r.generated))}</time> · ${r.sections.length} ${r.sections.length === 1 ? 'section' : 'sections'}</p>`,
    '</header>',
  );
  r.sections.forEach((s, i) => out.push(section(r, s, i)));
  if (r.runs) out.push(footer(r.runs));
  out.push('</main>', '</body>', '</html>', '');
  return out.join('\n');
}

/** "2026-12-02 14:50 UTC": the same text for every reader, whatever their time zone. */
export const stamp = (d: Date) => d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

function section(r: Report, s: SectionData, i: number): string {
  const { spec } = s;
  const out: string[] = [`<section id="s${i + 1}" class="kind-${spec.kind}">`, `<h2>${esc(spec.heading)}</h2>`];
  if (spec.caption) out.push(`<p class="caption">${esc(spec.caption)}</p>`);
  out.push(`<p class="meta">${esc(metaLine(s))}</p>`);
  if (s.rows.length === 0) {
    out.push('<p class="note">No records.</p>', '</section>');
    return out.join('\n');
  }
  if (spec.kind === 'table') {
    out.push(table(s.rows, s.fields, r.raw));
  } else {
    const points = chartPoints(s);
    out.push(
      chartSvg({ kind: spec.kind, points, xName: spec.x!, yName: spec.y!, title: spec.heading }, `c${i + 1}`) ||
        '<p class="note">Nothing to chart.</p>',
    );
    const fields = [spec.x!, spec.y!];
    const data = table(s.rows, fields, r.raw);
    // A short data table is part of the chart (exact values, and readable printed); a long one folds away.
    out.push(
      s.rows.length <= OPEN_ROWS
        ? `<details open><summary>Data</summary>${data}</details>`
        : `<details><summary>Data (${count(s.rows.length)} rows)</summary>${data}</details>`,
    );
  }
  const notes = cutNotes(s, r.maxRows);
  for (const n of notes) out.push(`<p class="note">${esc(n)}</p>`);
  out.push('</section>');
  return out.join('\n');
}

/** A chart's data table shows unfolded up to this many rows (a bar chart's few categories). */
const OPEN_ROWS = 12;

export function metaLine(s: SectionData): string {
  const what =
    s.spec.kind === 'table'
      ? 'Table'
      : `${s.spec.kind === 'line' ? 'Line' : s.spec.kind === 'hbar' ? 'Horizontal bar' : 'Bar'} chart of ${s.spec.y} by ${s.spec.x}`;
  return `${what} · ${count(s.total)} ${s.total === 1 ? 'record' : 'records'} from ${s.sources.join(', ')}`;
}

/** Why fewer rows are shown than were read. */
export function cutNotes(s: SectionData, maxRows: number): string[] {
  const notes: string[] = [];
  if (s.total > s.rows.length)
    notes.push(`Showing the first ${count(s.rows.length)} of ${count(s.total)} records (--max-rows ${maxRows}).`);
  if (s.skipped > 0)
    notes.push(
      `${count(s.skipped)} ${s.skipped === 1 ? 'record' : 'records'} with no ${s.spec.x} or ${s.spec.y} left out of the chart.`,
    );
  return notes;
}

export function chartPoints(s: SectionData): Point[] {
  const { x, y } = s.spec;
  const pts: Point[] = [];
  for (const r of s.rows) {
    const xv = r[x!];
    const yv = r[y!];
    const text = decimalText(yv);
    if (xv === null || xv === undefined || text === undefined) continue;
    const label =
      typeof xv === 'string' ? xv : typeof xv === 'number' ? (decimalText(xv) ?? String(xv)) : JSON.stringify(xv);
    pts.push({ label, text, value: toFloat(text)!, time: s.spec.kind === 'line' ? timeOf(label) : undefined });
  }
  return pts;
}

/** A date or timestamp in ISO form ("2026-11-23", "2026-11-23T08:00:00Z", "2026-11-23 08:00"), as ms; else undefined. */
function timeOf(label: string): number | undefined {
  if (!/^\d{4}-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(label))
    return undefined;
  let iso = label.replace(' ', 'T');
  if (/T\d{2}$/.test(iso) || /T\d{2}(?=Z|[+-])/.test(iso)) iso = iso.replace(/(T\d{2})/, '$1:00');
  // No zone: read as UTC, so that the chart is the same on every machine.
  if (/T/.test(iso) && !/(Z|[+-]\d{2}:?\d{2})$/.test(iso)) iso += 'Z';
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

export function table(rows: Record<string, unknown>[], fields: string[], raw: Set<string>): string {
  const cols = columnsOf(fields, rows, raw);
  const out: string[] = ['<div class="scroll"><table>', '<thead><tr>'];
  for (const c of cols) out.push(`<th${c.numeric ? ' class="num"' : ''} scope="col">${esc(c.name)}</th>`);
  out.push('</tr></thead>', '<tbody>');
  for (const r of rows) {
    out.push('<tr>');
    for (const c of cols) out.push(cell(r[c.name], c));
    out.push('</tr>');
  }
  out.push('</tbody></table></div>');
  return out.join('');
}

function cell(v: unknown, c: Column): string {
  const text = cellText(v, c);
  if (c.numeric && decimalText(v) !== undefined)
    return `<td class="num" data-value="${esc(decimalText(v)!)}">${esc(text)}</td>`;
  return `<td>${esc(text)}</td>`;
}

/** The run records' preferred columns first (a BX_RUN_LOG line), then any others they carry. */
export const RUN_FIELDS = ['command', 'status', 'rows_in', 'rows_out', 'rejected', 'seconds'];

export function runFields(records: Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) seen.add(k);
  const first = RUN_FIELDS.filter((f) => seen.has(f));
  // Long or nested fields (arguments, error text) stay in the run log; the footer shows counts.
  const rest = [...seen].filter(
    (f) => !RUN_FIELDS.includes(f) && ['exit_code', 'code', 'start', 'started', 'end', 'id'].includes(f),
  );
  return [...first, ...rest];
}

function footer(runs: { file: string; records: Record<string, unknown>[] }): string {
  const fields = runFields(runs.records);
  return [
    '<footer>',
    `<h2>Runs</h2>`,
    `<p>${esc(runsLine(runs.records))} (from ${esc(runs.file)})</p>`,
    runs.records.length ? table(runs.records, fields, new Set(['exit_code', 'code', 'id'])) : '',
    '</footer>',
  ].join('\n');
}

/** "3 runs: 3 ok; 10,194 rows in, 9,990 out, 12 rejected": totals summed exactly from the digits. */
export function runsLine(records: Record<string, unknown>[]): string {
  const statuses = new Map<string, number>();
  for (const r of records) {
    const s = typeof r.status === 'string' ? r.status : 'unknown';
    statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  const parts = [...statuses].map(([s, n]) => `${count(n)} ${s}`).join(', ');
  const sums = ['rows_in', 'rows_out', 'rejected'].map((f) => {
    let total = 0n;
    let any = false;
    for (const r of records) {
      const t = decimalText(r[f]);
      if (t !== undefined && /^-?\d+$/.test(t)) {
        total += BigInt(t);
        any = true;
      }
    }
    return any
      ? `${groupDigits(total.toString())} ${f === 'rows_in' ? 'rows in' : f === 'rows_out' ? 'out' : 'rejected'}`
      : undefined;
  });
  const counts = sums.filter(Boolean).join(', ');
  return `${count(records.length)} ${records.length === 1 ? 'run' : 'runs'}${parts ? `: ${parts}` : ''}${counts ? `; ${counts}` : ''}`;
}
