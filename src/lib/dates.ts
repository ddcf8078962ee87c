// Dates, datetimes and times as real files write them, parsed strictly: 2026-02-30 is invalid,
// never rolled over to March (no Date object is ever asked to "fix" a date). Formats are
// strptime patterns, as Frictionless Table Schema uses them (`%d/%m/%y`); "default" is ISO 8601.
// Parsed values come back as ISO text: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`, `HH:MM:SS[.fff]`.

export type TemporalType = 'date' | 'datetime' | 'time';

/** Parses one value; undefined when the text is not a valid value in the format. */
export type TemporalParser = (text: string) => string | undefined;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH_NAMES = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

export const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
export function daysInMonth(y: number, m: number): number {
  return m === 2 ? (isLeap(y) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

/**
 * Two-digit years (%y) as POSIX strptime reads them: 69–99 are 1969–1999, 00–68 are 2000–2068.
 */
export const fullYear = (yy: number) => (yy < 69 ? 2000 + yy : 1900 + yy);

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const pad4 = (n: number) => (n < 10 ? `000${n}` : n < 100 ? `00${n}` : n < 1000 ? `0${n}` : String(n));

interface Parts {
  y: number;
  m: number;
  d: number;
  H: number;
  M: number;
  S: number;
  frac: string;
  zone: string | undefined;
  pm?: boolean;
}

type Setter = (p: Parts, s: string) => boolean;

interface Directive {
  re: string;
  set: Setter;
}

const num =
  (key: 'y' | 'm' | 'd' | 'H' | 'M' | 'S'): Setter =>
  (p, s) => ((p[key] = Number(s)), true);

// One- or two-digit fields accept "3/1/2019" as well as "03/01/2019", as strptime does.
const DIRECTIVES: Record<string, Directive> = {
  Y: { re: '(\\d{4})', set: num('y') },
  y: { re: '(\\d{2})', set: (p, s) => ((p.y = fullYear(Number(s))), true) },
  m: { re: '(\\d{1,2})', set: num('m') },
  d: { re: '(\\d{1,2})', set: num('d') },
  e: { re: ' ?(\\d{1,2})', set: num('d') },
  H: { re: '(\\d{1,2})', set: num('H') },
  I: { re: '(\\d{1,2})', set: (p, s) => ((p.H = Number(s) + 100), true) }, // +100 marks a 12-hour clock until %p
  M: { re: '(\\d{2})', set: num('M') },
  S: { re: '(\\d{2})', set: num('S') },
  f: { re: '(\\d{1,9})', set: (p, s) => ((p.frac = s), true) },
  p: { re: '([AaPp][Mm])', set: (p, s) => ((p.pm = /p/i.test(s)), true) },
  b: { re: '([A-Za-z]{3})', set: (p, s) => ((p.m = MONTHS.indexOf(s.toLowerCase()) + 1), p.m > 0) },
  B: { re: '([A-Za-z]{3,9})', set: (p, s) => ((p.m = MONTH_NAMES.indexOf(s.toLowerCase()) + 1), p.m > 0) },
  z: { re: '(Z|[+-]\\d{2}(?::?\\d{2})?)', set: (p, s) => ((p.zone = normalizeZone(s)), p.zone !== undefined) },
};

function normalizeZone(s: string): string | undefined {
  if (s === 'Z' || s === 'z') return 'Z';
  const h = Number(s.slice(1, 3));
  const m = s.length > 3 ? Number(s.slice(-2)) : 0;
  if (h > 23 || m > 59) return undefined;
  return `${s[0]}${pad2(h)}:${pad2(m)}`;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Which parts a pattern sets, to check it suits the field type. */
export interface PatternInfo {
  date: boolean;
  time: boolean;
  zone: boolean;
}

/** Checks a strptime pattern; returns what it holds, or a message saying what is wrong. */
export function patternInfo(format: string): PatternInfo | string {
  let date = false;
  let time = false;
  let zone = false;
  for (let i = 0; i < format.length; i++) {
    if (format[i] !== '%') continue;
    const c = format[++i];
    if (c === '%') continue;
    if (c === undefined || !DIRECTIVES[c])
      return `unknown directive "%${c ?? ''}" in date format "${format}" (known: %Y %y %m %d %e %b %B %H %I %p %M %S %f %z %%)`;
    if ('YymdebB'.includes(c)) date = true;
    else if (c === 'z') zone = true;
    else time = true;
  }
  return { date, time, zone };
}

function compilePattern(format: string, type: TemporalType): TemporalParser {
  const setters: Setter[] = [];
  let re = '^';
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%') {
      re += c === ' ' ? '\\s+' : escapeRe(c);
      continue;
    }
    const d = format[++i];
    if (d === '%') {
      re += '%';
      continue;
    }
    const dir = DIRECTIVES[d];
    if (!dir) throw new Error(`unknown directive %${d}`);
    re += dir.re;
    setters.push(dir.set);
  }
  const rx = new RegExp(re + '$');
  return (text: string) => {
    const m = rx.exec(text);
    if (!m) return undefined;
    const p: Parts = { y: 1900, m: 1, d: 1, H: 0, M: 0, S: 0, frac: '', zone: undefined };
    for (let k = 0; k < setters.length; k++) if (!setters[k](p, m[k + 1])) return undefined;
    if (p.H >= 100) {
      // %I: 1–12, with %p deciding the half of the day
      const h = p.H - 100;
      if (h < 1 || h > 12) return undefined;
      p.H = (h % 12) + (p.pm ? 12 : 0);
    }
    return build(p, type);
  };
}

function build(p: Parts, type: TemporalType): string | undefined {
  if (type !== 'time') {
    if (p.m < 1 || p.m > 12 || p.d < 1 || p.d > daysInMonth(p.y, p.m)) return undefined;
  }
  if (type !== 'date') {
    // 24:00:00 is ISO's end of day; 60 seconds a leap second, as PostgreSQL accepts.
    if (p.H > 24 || p.M > 59 || p.S > 60 || (p.H === 24 && (p.M > 0 || p.S > 0 || /[1-9]/.test(p.frac))))
      return undefined;
  }
  const date = `${pad4(p.y)}-${pad2(p.m)}-${pad2(p.d)}`;
  if (type === 'date') return date;
  const time = `${pad2(p.H)}:${pad2(p.M)}:${pad2(p.S)}${p.frac ? `.${p.frac}` : ''}`;
  if (type === 'time') return time + (p.zone ?? '');
  return `${date}T${time}${p.zone ?? ''}`;
}

const ISO_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const ISO_TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

// Values already in the form we write (most of them, in practice) are checked digit by digit
// and returned as they are: no captures, no rebuilt string (datetimes were the dearest type).
const CANON_DATE = /^\d{4}-\d{2}-\d{2}$/;
const CANON_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?$/;
const d2 = (s: string, i: number) => (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;
const validDate = (s: string) => {
  const y = d2(s, 0) * 100 + d2(s, 2);
  const m = d2(s, 5);
  const d = d2(s, 8);
  return m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
};

function isoParser(type: TemporalType): TemporalParser {
  if (type === 'date') {
    return (text) => (CANON_DATE.test(text) && validDate(text) ? text : undefined);
  }
  if (type === 'datetime') {
    return (text) => {
      if (CANON_DATETIME.test(text)) {
        const H = d2(text, 11);
        const sign = text[text.length - 6];
        const z = sign === '+' || sign === '-' ? text.length - 6 : -1;
        const zoneOk = z < 0 || (d2(text, z + 1) <= 23 && d2(text, z + 4) <= 59);
        if (validDate(text) && zoneOk && H < 24 && d2(text, 14) <= 59 && d2(text, 17) <= 60) return text;
      }
      const m = ISO_DATETIME.exec(text);
      if (!m) return undefined;
      let zone: string | undefined;
      if (m[8] !== undefined && (zone = normalizeZone(m[8])) === undefined) return undefined;
      return build(
        {
          y: Number(m[1]),
          m: Number(m[2]),
          d: Number(m[3]),
          H: Number(m[4]),
          M: Number(m[5]),
          S: Number(m[6] ?? 0),
          frac: m[7] ?? '',
          zone,
        },
        'datetime',
      );
    };
  }
  return (text) => {
    const m = ISO_TIME.exec(text);
    if (!m) return undefined;
    let zone: string | undefined;
    if (m[5] !== undefined && (zone = normalizeZone(m[5])) === undefined) return undefined;
    return build(
      { y: 2000, m: 1, d: 1, H: Number(m[1]), M: Number(m[2]), S: Number(m[3] ?? 0), frac: m[4] ?? '', zone },
      'time',
    );
  };
}

/**
 * A parser for `format`: "default" or "any" (ISO 8601) or a strptime pattern. Throws an Error
 * with a message for a bad pattern; check with patternInfo() first to report it nicely.
 */
export function temporalParser(type: TemporalType, format: string | undefined): TemporalParser {
  if (format === undefined || format === 'default' || format === 'any') return isoParser(type);
  const info = patternInfo(format);
  if (typeof info === 'string') throw new Error(info);
  return compilePattern(format, type);
}

/** Does this ISO datetime text carry a zone? */
export const hasZone = (iso: string) => /(?:Z|[+-]\d{2}:\d{2})$/.test(iso) && iso.length > 19;

// Inference: the formats real files use, most specific first. Where day-first and month-first
// both fit every value (no day above 12 seen), day-first comes first and bx-schema warns.
const DATE_PATTERNS = [
  '%d/%m/%Y',
  '%m/%d/%Y',
  '%d/%m/%y',
  '%m/%d/%y',
  '%d.%m.%Y',
  '%d.%m.%y',
  '%Y/%m/%d',
  '%d-%m-%Y',
  '%m-%d-%Y',
  '%d %b %Y',
  '%d-%b-%Y',
  '%d-%b-%y',
  '%b %d %Y',
  '%d %B %Y',
  '%B %d %Y',
];
const TIME_SUFFIXES = [' %H:%M', ' %H:%M:%S', ' %I:%M %p', ' %I:%M:%S %p'];

export interface Candidate {
  type: TemporalType;
  /** "default" for ISO 8601. */
  format: string;
  parse: TemporalParser;
}

let candidates: Candidate[] | undefined;

/** Every date/datetime/time format inference tries, in order of preference. */
export function temporalCandidates(): Candidate[] {
  if (candidates) return candidates;
  const list: Candidate[] = [
    { type: 'date', format: 'default', parse: isoParser('date') },
    { type: 'datetime', format: 'default', parse: isoParser('datetime') },
    { type: 'time', format: 'default', parse: isoParser('time') },
  ];
  for (const f of DATE_PATTERNS) list.push({ type: 'date', format: f, parse: compilePattern(f, 'date') });
  for (const f of DATE_PATTERNS)
    for (const t of TIME_SUFFIXES)
      list.push({ type: 'datetime', format: f + t, parse: compilePattern(f + t, 'datetime') });
  return (candidates = list);
}

/** Two candidates that differ only in day/month order: proof is needed to tell them apart. */
export function swapsDayMonth(a: string, b: string): boolean {
  return a !== b && a.replace(/%d/g, '\0').replace(/%m/g, '%d').replace(/\0/g, '%m') === b;
}

// ---- parts of ISO values, for the expression language ----

/** `YYYY-MM-DD` from an ISO date or datetime (in the datetime's own offset). */
export function datePart(iso: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:$|[T ])/.exec(iso);
  return m ? m[1] : undefined;
}

/** Hour 0–23 from an ISO datetime or time. */
export function hourPart(iso: string): number | undefined {
  const m = /^(?:\d{4}-\d{2}-\d{2}[T ])?(\d{2}):\d{2}/.exec(iso);
  return m ? Number(m[1]) : undefined;
}

/** ISO weekday, Monday 1 … Sunday 7, of an ISO date or datetime. */
export function weekdayOf(iso: string): number | undefined {
  const d = datePart(iso);
  if (!d || isoParser('date')(d) === undefined) return undefined;
  const [y, m, day] = d.split('-').map(Number);
  // Days since 1970-01-01 by the civil-from-days inverse (Howard Hinnant), no Date object.
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  // 1970-01-01 was a Thursday (4)
  return ((((days + 3) % 7) + 7) % 7) + 1;
}
