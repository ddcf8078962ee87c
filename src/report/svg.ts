// bx-report's charts: a small SVG writer of our own (NEXT-STACK.md §5). No dependency, no DOM,
// and byte-stable: the same points give the same bytes, so a report can be diffed and golden-
// tested. Positions are floats rounded to 0.1 px; every label is exact decimal text, never a
// float printed back (tick labels are built from the tick step's digits).
import { escapeHtml as esc, groupDigits, truncate } from './values.js';

export type ChartKind = 'bar' | 'hbar' | 'line';

export interface Point {
  /** The x (category or time) as the reader sees it. */
  label: string;
  /** The value's exact decimal text, for labels and tooltips. */
  text: string;
  /** The same value as a float, for positions only. */
  value: number;
  /** Milliseconds since the epoch when every x of a line chart is a date or a timestamp. */
  time?: number;
}

export interface ChartSpec {
  kind: ChartKind;
  points: Point[];
  xName: string;
  yName: string;
  /** Accessible title: "Revenue by category". */
  title: string;
}

const W = 760;
const FONT = 12;
/** A DejaVu/system sans glyph is about 0.6 em wide on average: enough to size margins. */
const charW = (n: number, size = FONT) => n * size * 0.6;
const r1 = (n: number) => String(Math.round(n * 10) / 10);

export function chartSvg(c: ChartSpec, id: string): string {
  if (c.points.length === 0) return '';
  if (c.kind === 'hbar') return hbar(c, id);
  if (c.kind === 'line') return line(c, id);
  return bar(c, id);
}

/** Round ticks for [lo, hi]: steps of 1, 2 or 5 × 10^e, labels from the step's own digits. */
export function niceTicks(
  lo: number,
  hi: number,
  want = 5,
): { lo: number; hi: number; ticks: { v: number; label: string }[] } {
  if (!(hi > lo)) {
    if (hi === 0 && lo === 0) hi = 1;
    else if (lo === hi) {
      const pad = Math.abs(hi) * 0.1 || 1;
      lo -= pad;
      hi += pad;
    }
  }
  const raw = (hi - lo) / want;
  let e = Math.floor(Math.log10(raw));
  let m = raw / 10 ** e;
  m = m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10;
  if (m === 10) {
    m = 1;
    e++;
  }
  const step = m * 10 ** e;
  const k0 = Math.floor(lo / step + 1e-9);
  const k1 = Math.ceil(hi / step - 1e-9);
  const ticks: { v: number; label: string }[] = [];
  for (let k = k0; k <= k1; k++) ticks.push({ v: k * step, label: groupDigits(shift(BigInt(k * m), e)) });
  return { lo: k0 * step, hi: k1 * step, ticks };
}

/** The decimal text of n × 10^e, by placing the point in n's digits. */
function shift(n: bigint, e: number): string {
  const neg = n < 0n;
  let d = (neg ? -n : n).toString();
  if (e >= 0) d = d === '0' ? '0' : d + '0'.repeat(e);
  else {
    d = d.padStart(-e + 1, '0');
    d = d.slice(0, d.length + e) + '.' + d.slice(d.length + e);
    d = d.replace(/\.?0+$/, '');
  }
  return (neg && d !== '0' ? '-' : '') + d;
}

function open(c: ChartSpec, id: string, h: number): string {
  const desc = `${c.kind === 'line' ? 'Line' : 'Bar'} chart of ${c.yName} by ${c.xName}, ${c.points.length} ${c.points.length === 1 ? 'point' : 'points'}`;
  return (
    `<svg class="chart chart-${c.kind}" id="${id}" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-labelledby="${id}-t ${id}-d" xmlns="http://www.w3.org/2000/svg">` +
    `<title id="${id}-t">${esc(c.title)}</title><desc id="${id}-d">${esc(desc)}</desc>`
  );
}

/** Vertical bars, one per category, from a zero baseline (negative values hang below it). */
function bar(c: ChartSpec, id: string): string {
  const pts = c.points;
  const { lo, hi, ticks } = niceTicks(Math.min(0, ...pts.map((p) => p.value)), Math.max(0, ...pts.map((p) => p.value)));
  const left = 16 + Math.max(...ticks.map((t) => charW(t.label.length))) + 22;
  const right = 16;
  const plotW = W - left - right;
  const slot = plotW / pts.length;
  const longest = Math.max(...pts.map((p) => p.label.length));
  // Labels turn 40° when they would not fit their slot, and are cut at 24 characters.
  // (0.55 em: category names are mostly lower case, narrower than the 0.6 em margin estimate.)
  const slanted = Math.min(longest, 24) * FONT * 0.55 > slot - 6;
  const bottom = 44 + (slanted ? charW(Math.min(longest, 24)) * 0.64 : 0);
  const top = 24;
  const plotH = 260;
  const h = Math.round(top + plotH + bottom);
  const y = (v: number) => top + ((hi - v) / (hi - lo)) * plotH;
  const out: string[] = [open(c, id, h)];
  out.push(yGrid(ticks, y, left, W - right), `<g class="bars">`);
  const bw = Math.max(1, Math.min(slot * 0.72, 90));
  const showValues = pts.length <= 24 && Math.max(...pts.map((p) => charW(groupDigits(p.text).length, 11))) < slot - 2;
  pts.forEach((p, i) => {
    const x = left + i * slot + (slot - bw) / 2;
    const y0 = y(0);
    const yv = y(p.value);
    const top = Math.min(y0, yv);
    const height = Math.abs(y0 - yv);
    const shown = groupDigits(p.text);
    out.push(
      `<rect class="bar${p.value < 0 ? ' neg' : ''}" x="${r1(x)}" y="${r1(top)}" width="${r1(bw)}" height="${r1(height)}" data-x="${esc(p.label)}" data-value="${esc(p.text)}"><title>${esc(p.label)}: ${esc(shown)}</title></rect>`,
    );
    if (showValues)
      out.push(
        `<text class="value" x="${r1(x + bw / 2)}" y="${r1(p.value < 0 ? top + height + 13 : top - 5)}" text-anchor="middle">${esc(shown)}</text>`,
      );
  });
  out.push('</g>', `<line class="axis" x1="${r1(left)}" x2="${r1(W - right)}" y1="${r1(y(0))}" y2="${r1(y(0))}"/>`);
  // Slanted labels need ~22 px each: with more bars than that, every k-th bar is labelled
  // (each bar's <title> still names it).
  const every = slanted ? Math.max(1, Math.ceil(22 / slot)) : 1;
  out.push('<g class="xlabels">');
  pts.forEach((p, i) => {
    if (i % every !== 0) return;
    const cx = left + i * slot + slot / 2;
    const ty = top + plotH + 16;
    const label = esc(truncate(p.label, 24));
    out.push(
      slanted
        ? `<text x="${r1(cx)}" y="${r1(ty)}" text-anchor="end" transform="rotate(-40 ${r1(cx)} ${r1(ty)})">${label}</text>`
        : `<text x="${r1(cx)}" y="${r1(ty)}" text-anchor="middle">${label}</text>`,
    );
  });
  out.push('</g>', axisNames(c, left, W - right, top, top + plotH, h), '</svg>');
  return out.join('');
}

/** Horizontal bars: long category names read better down the side. */
function hbar(c: ChartSpec, id: string): string {
  const pts = c.points;
  const { lo, hi, ticks } = niceTicks(Math.min(0, ...pts.map((p) => p.value)), Math.max(0, ...pts.map((p) => p.value)));
  const labels = pts.map((p) => truncate(p.label, 32));
  // The x field's name sits above the labels, right-aligned with them: the margin holds both.
  const left = 12 + Math.max(charW(c.xName.length), ...labels.map((l) => charW(l.length))) + 12;
  const right = 24 + charW(Math.max(...ticks.map((t) => t.label.length))) / 2;
  const band = 26;
  const top = 16;
  const plotH = band * pts.length;
  const h = Math.round(top + plotH + 58);
  const plotW = W - left - right;
  const x = (v: number) => left + ((v - lo) / (hi - lo)) * plotW;
  const out: string[] = [open(c, id, h), '<g class="grid">'];
  for (const t of ticks) {
    out.push(`<line x1="${r1(x(t.v))}" x2="${r1(x(t.v))}" y1="${top}" y2="${top + plotH}"/>`);
  }
  out.push('</g><g class="ticks">');
  for (const t of ticks)
    out.push(`<text x="${r1(x(t.v))}" y="${top + plotH + 16}" text-anchor="middle">${esc(t.label)}</text>`);
  out.push('</g><g class="bars">');
  const bh = band * 0.68;
  const longestValue = Math.max(...pts.map((p) => charW(groupDigits(p.text).length, 11)));
  pts.forEach((p, i) => {
    const y = top + i * band + (band - bh) / 2;
    const x0 = x(0);
    const xv = x(p.value);
    const shown = groupDigits(p.text);
    const width = Math.abs(xv - x0);
    out.push(
      `<rect class="bar${p.value < 0 ? ' neg' : ''}" x="${r1(Math.min(x0, xv))}" y="${r1(y)}" width="${r1(width)}" height="${r1(bh)}" data-x="${esc(p.label)}" data-value="${esc(p.text)}"><title>${esc(p.label)}: ${esc(shown)}</title></rect>`,
    );
    out.push(
      `<text class="cat" x="${r1(left - 8)}" y="${r1(y + bh / 2 + 4)}" text-anchor="end">${esc(labels[i])}</text>`,
    );
    // The value sits inside a long bar, beside a short one.
    if (width > longestValue + 12 && p.value >= 0)
      out.push(
        `<text class="value inside" x="${r1(xv - 6)}" y="${r1(y + bh / 2 + 4)}" text-anchor="end">${esc(shown)}</text>`,
      );
    else if (p.value >= 0 && xv + 6 + charW(shown.length, 11) < W)
      out.push(`<text class="value" x="${r1(xv + 6)}" y="${r1(y + bh / 2 + 4)}">${esc(shown)}</text>`);
  });
  out.push('</g>', `<line class="axis" x1="${r1(x(0))}" x2="${r1(x(0))}" y1="${top}" y2="${top + plotH}"/>`);
  out.push(
    `<text class="axis-name" x="${r1(left + plotW / 2)}" y="${h - 10}" text-anchor="middle">${esc(c.yName)}</text>`,
  );
  out.push(
    `<text class="axis-name" x="${r1(left - 8)}" y="${top - 4}" text-anchor="end">${esc(c.xName)}</text>`,
    '</svg>',
  );
  return out.join('');
}

/** A line over time (or over categories in their order), with a soft area below. */
function line(c: ChartSpec, id: string): string {
  const timed = c.points.every((p) => p.time !== undefined);
  const pts = timed ? [...c.points].sort((a, b) => a.time! - b.time!) : c.points;
  const { lo, hi, ticks } = niceTicks(
    Math.min(...pts.map((p) => p.value), lo0(pts)),
    Math.max(...pts.map((p) => p.value)),
  );
  const left = 16 + Math.max(...ticks.map((t) => charW(t.label.length))) + 22;
  const right = 24;
  const top = 24;
  const plotH = 260;
  const plotW = W - left - right;
  const h = top + plotH + 56;
  const t0 = timed ? pts[0].time! : 0;
  const t1 = timed ? pts[pts.length - 1].time! : pts.length - 1;
  const px = (p: Point, i: number) =>
    left + (t1 === t0 ? plotW / 2 : (((timed ? p.time! : i) - t0) / (t1 - t0)) * plotW);
  const py = (v: number) => top + ((hi - v) / (hi - lo)) * plotH;
  const out: string[] = [open(c, id, h), yGrid(ticks, py, left, W - right)];
  const xy = pts.map((p, i) => `${r1(px(p, i))},${r1(py(p.value))}`);
  const base = r1(py(Math.max(lo, Math.min(0, hi))));
  out.push(
    `<path class="area" d="M${r1(px(pts[0], 0))},${base}L${xy.join('L')}L${r1(px(pts[pts.length - 1], pts.length - 1))},${base}Z"/>`,
  );
  out.push(`<path class="line" d="M${xy.join('L')}"/>`);
  if (pts.length <= 120) {
    out.push('<g class="points">');
    pts.forEach((p, i) => {
      out.push(
        `<circle cx="${r1(px(p, i))}" cy="${r1(py(p.value))}" r="3" data-x="${esc(p.label)}" data-value="${esc(p.text)}"><title>${esc(p.label)}: ${esc(groupDigits(p.text))}</title></circle>`,
      );
    });
    out.push('</g>');
  }
  out.push(
    `<line class="axis" x1="${r1(left)}" x2="${r1(W - right)}" y1="${r1(top + plotH)}" y2="${r1(top + plotH)}"/>`,
  );
  // At most ~7 x labels, spread evenly over the points, each an x as the data wrote it.
  const room = Math.max(2, Math.min(8, Math.floor(plotW / (charW(Math.max(...pts.map((p) => p.label.length))) + 24))));
  const every = Math.max(1, Math.ceil((pts.length - 1) / (room - 1)));
  out.push('<g class="xlabels">');
  for (let i = 0; i < pts.length; i += every) {
    out.push(
      `<line class="tick" x1="${r1(px(pts[i], i))}" x2="${r1(px(pts[i], i))}" y1="${top + plotH}" y2="${top + plotH + 4}"/>`,
    );
    // The first and last labels keep inside the plot, clear of the value axis' labels.
    const xi = px(pts[i], i);
    const text = truncate(pts[i].label, 24);
    const anchor =
      xi - charW(text.length) / 2 < left - 4 ? 'start' : xi + charW(text.length) / 2 > W - 2 ? 'end' : 'middle';
    out.push(`<text x="${r1(xi)}" y="${top + plotH + 20}" text-anchor="${anchor}">${esc(text)}</text>`);
  }
  out.push('</g>', axisNames(c, left, W - right, top, top + plotH, h), '</svg>');
  return out.join('');
}

/** A line chart's value axis starts at zero when every value is positive and zero is near. */
const lo0 = (pts: Point[]) => {
  const min = Math.min(...pts.map((p) => p.value));
  const max = Math.max(...pts.map((p) => p.value));
  return min >= 0 && min < (max - min) * 2 ? 0 : min;
};

function yGrid(ticks: { v: number; label: string }[], y: (v: number) => number, x0: number, x1: number): string {
  const out = ['<g class="grid">'];
  for (const t of ticks) out.push(`<line x1="${r1(x0)}" x2="${r1(x1)}" y1="${r1(y(t.v))}" y2="${r1(y(t.v))}"/>`);
  out.push('</g><g class="ticks">');
  for (const t of ticks)
    out.push(`<text x="${r1(x0 - 8)}" y="${r1(y(t.v) + 4)}" text-anchor="end">${esc(t.label)}</text>`);
  out.push('</g>');
  return out.join('');
}

function axisNames(c: ChartSpec, x0: number, x1: number, y0: number, y1: number, h: number): string {
  const cy = (y0 + y1) / 2;
  return (
    `<text class="axis-name" x="${r1((x0 + x1) / 2)}" y="${h - 8}" text-anchor="middle">${esc(c.xName)}</text>` +
    `<text class="axis-name" x="14" y="${r1(cy)}" text-anchor="middle" transform="rotate(-90 14 ${r1(cy)})">${esc(c.yName)}</text>`
  );
}
