// How bx-report shows values. A number is shown from its decimal text, digit by digit, never
// through a float: bx decimals arrive as JSON strings ("754747.7613", or longer than a double
// holds) or as JSON numbers whose shortest round-trip text is the text the producer wrote.

/** A plain decimal: sign, integer digits, optional fraction. No exponent, no spaces. */
const PLAIN = /^([+-]?)(\d+)(?:\.(\d+))?$/;
const EXP = /^([+-]?)(\d+)(?:\.(\d*))?[eE]([+-]?\d+)$/;

/**
 * The plain decimal text of a value that is a number (a JSON number, or a string holding one),
 * else undefined. Exponents are expanded by moving the point in the digits, not by arithmetic.
 */
export function decimalText(v: unknown): string | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    v = String(v); // shortest round-trip text: 0.1 is "0.1", 1e21 is "1e+21"
  } else if (typeof v === 'bigint') return v.toString();
  if (typeof v !== 'string' || v.length === 0 || v.length > 400) return undefined;
  if (PLAIN.test(v)) return v.startsWith('+') ? v.slice(1) : v;
  const m = EXP.exec(v);
  if (!m) return undefined;
  const exp = Number(m[4]);
  if (Math.abs(exp) > 300) return undefined;
  const frac = m[3] ?? '';
  const digits = m[2] + frac;
  const point = m[2].length + exp; // where the point goes in `digits`
  let int: string;
  let fr: string;
  if (point <= 0) {
    int = '0';
    fr = '0'.repeat(-point) + digits;
  } else if (point >= digits.length) {
    int = digits + '0'.repeat(point - digits.length);
    fr = '';
  } else {
    int = digits.slice(0, point);
    fr = digits.slice(point);
  }
  int = int.replace(/^0+(?=\d)/, '');
  return (m[1] === '-' ? '-' : '') + int + (fr ? '.' + fr : '');
}

/**
 * "1234567.891" → "1,234,567.891": thousands separators in the integer part only, the fraction
 * kept as written (its trailing zeros too).
 */
export function groupDigits(text: string, sep = ','): string {
  const m = PLAIN.exec(text);
  if (!m) return text;
  let int = m[2];
  const out: string[] = [];
  for (let end = int.length; end > 0; end -= 3) out.unshift(int.slice(Math.max(0, end - 3), end));
  int = out.join(sep);
  return (m[1] === '-' ? '-' : '') + int + (m[3] !== undefined ? '.' + m[3] : '');
}

/** The float a chart uses to place a value (bar heights may be floats; labels never are). */
export function toFloat(v: unknown): number | undefined {
  const t = decimalText(v);
  return t === undefined ? undefined : Number(t);
}

/**
 * Fields whose integers are names, not quantities (an id, a postal code, a year): shown as
 * written, without separators. A leading zero ("02134") also says the digits are a code.
 */
const CODE_NAME = /(^|[^a-z])(id|ids|code|zip|postal|year|no|nr|number|phone|sku|ean|isbn)([^a-z]|$)|(id|code|year)$/i;

export interface Column {
  name: string;
  /** Every shown value is a number: right-aligned, with separators unless `code`. */
  numeric: boolean;
  code: boolean;
}

/** Decides how each field of the shown rows is displayed. */
export function columnsOf(fields: string[], rows: Record<string, unknown>[], raw: Set<string>): Column[] {
  return fields.map((name) => {
    let numeric = true;
    let any = false;
    let leadingZero = false;
    let fraction = false;
    for (const r of rows) {
      const v = r[name];
      if (v === null || v === undefined || v === '') continue;
      const t = decimalText(v);
      if (t === undefined) {
        numeric = false;
        break;
      }
      any = true;
      if (/^-?0\d/.test(t)) leadingZero = true;
      if (t.includes('.')) fraction = true;
    }
    numeric = numeric && any;
    const code = raw.has(name) || leadingZero || (numeric && !fraction && CODE_NAME.test(splitWords(name)));
    // A column of codes with a leading zero keeps its text exactly: "02134" is not a number.
    return { name, numeric: numeric && !leadingZero, code };
  });
}

/** camelCase and snake_case split into words, so that "customerId" and "order_id" read as ids. */
const splitWords = (name: string) => name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/_/g, ' ');

/** A value as the text a reader sees in a cell. */
export function cellText(v: unknown, col: Column | undefined): string {
  if (v === null || v === undefined) return '';
  if (col?.numeric) {
    const t = decimalText(v);
    if (t !== undefined) return col.code ? t : groupDigits(t);
  }
  const text =
    typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  // A report stays small whatever a record holds: a 64 MiB field is a line of it.
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL)}… (${count(text.length)} characters)` : text;
}

const MAX_CELL = 1000;

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]);
}
const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Control characters shown as visible symbols: an ESC in a value must not reach a terminal as
 * an escape sequence (it could retitle the window, or worse), nor a newline break a table row.
 */
export function visibleControls(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const n = c.charCodeAt(0);
    if (n === 0x0a) return '\u2424';
    if (n === 0x09) return ' ';
    if (n < 0x20) return String.fromCharCode(0x2400 + n);
    if (n === 0x7f) return '\u2421';
    return '\ufffd';
  });
}

/** Columns a string takes in a terminal: wide East Asian characters 2, combining marks 0. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if ((c >= 0x300 && c <= 0x36f) || (c >= 0x200b && c <= 0x200f) || (c >= 0xfe00 && c <= 0xfe0f)) continue;
    w += isWide(c) ? 2 : 1;
  }
  return w;
}

function isWide(c: number): boolean {
  return (
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0xa4cf && c !== 0x303f) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x1f300 && c <= 0x1f64f) ||
    (c >= 0x1f900 && c <= 0x1f9ff) ||
    (c >= 0x20000 && c <= 0x3fffd)
  );
}

/** Cuts `s` to at most `width` columns, ending with "…" when cut. */
export function truncate(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = displayWidth(ch);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return out + '…';
}

/** n with thousands separators (counts in notes: "showing 1,000 of 10,000 rows"). */
export const count = (n: number) => groupDigits(String(n));
