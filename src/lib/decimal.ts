// Exact decimal arithmetic on BigInt: value = coef / 10^scale. Money is summed exactly
// (0.1 + 0.2 is 0.3), and rounding is half away from zero, as PostgreSQL's round(numeric, n).

export class Decimal {
  constructor(
    readonly coef: bigint,
    readonly scale: number,
  ) {}

  static readonly ZERO = new Decimal(0n, 0);

  isZero() {
    return this.coef === 0n;
  }

  sign(): -1 | 0 | 1 {
    return this.coef < 0n ? -1 : this.coef > 0n ? 1 : 0;
  }

  neg(): Decimal {
    return new Decimal(-this.coef, this.scale);
  }

  add(o: Decimal): Decimal {
    if (this.scale === o.scale) return new Decimal(this.coef + o.coef, this.scale);
    if (this.scale > o.scale) return new Decimal(this.coef + o.coef * pow10(this.scale - o.scale), this.scale);
    return new Decimal(this.coef * pow10(o.scale - this.scale) + o.coef, o.scale);
  }

  sub(o: Decimal): Decimal {
    return this.add(o.neg());
  }

  mul(o: Decimal): Decimal {
    return new Decimal(this.coef * o.coef, this.scale + o.scale);
  }

  /** this / o, rounded half away from zero to `scale` digits. Throws on division by zero. */
  div(o: Decimal, scale: number): Decimal {
    if (o.coef === 0n) throw new RangeError('division by zero');
    // (a/10^sa) / (b/10^sb) = a*10^(sb - sa + scale) / b, in units of 10^-scale
    const shift = o.scale - this.scale + scale;
    let num = this.coef;
    let den = o.coef;
    if (shift >= 0) num *= pow10(shift);
    else den *= pow10(-shift);
    return new Decimal(divRound(num, den), scale);
  }

  /** Rounds half away from zero to `scale` fraction digits (pads with zeros when finer). */
  round(scale: number): Decimal {
    if (scale >= this.scale) return new Decimal(this.coef * pow10(scale - this.scale), scale);
    return new Decimal(divRound(this.coef, pow10(this.scale - scale)), scale);
  }

  cmp(o: Decimal): -1 | 0 | 1 {
    const d = this.sub(o).coef;
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }

  /** Drops trailing fraction zeros: 1.500 → 1.5, 2.00 → 2. */
  normalize(): Decimal {
    let c = this.coef;
    let s = this.scale;
    while (s > 0 && c % 10n === 0n) {
      c /= 10n;
      s--;
    }
    return s === this.scale ? this : new Decimal(c, s);
  }

  /** Plain notation with exactly `scale` fraction digits; never `-0.00`. */
  toString(): string {
    const neg = this.coef < 0n;
    let digits = (neg ? -this.coef : this.coef).toString();
    if (this.scale > 0) {
      digits = digits.padStart(this.scale + 1, '0');
      digits = `${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}`;
    }
    return neg && this.coef !== 0n ? `-${digits}` : digits;
  }

  /**
   * The value for a JSON record: a number when a double holds it exactly (at most 15
   * significant digits), else the decimal string (DESIGN.md "Exact numbers").
   * Note a number loses trailing zeros (10.50 → 10.5); use toString() to keep the scale.
   */
  toJSONValue(): number | string {
    const n = this.normalize();
    const sig = (n.coef < 0n ? -n.coef : n.coef).toString().length;
    if (sig <= 15) return Number(n.toString());
    return this.toString();
  }

  toNumber(): number {
    return Number(this.toString());
  }
}

const POW10: bigint[] = [];
export function pow10(n: number): bigint {
  if (n < 64) return (POW10[n] ??= 10n ** BigInt(n));
  return 10n ** BigInt(n);
}

function divRound(num: bigint, den: bigint): bigint {
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const q = num / den;
  const r = num % den;
  if (r === 0n) return q;
  const twice = (r < 0n ? -r : r) * 2n;
  if (twice >= den) return num < 0n ? q - 1n : q + 1n;
  return q;
}

const DECIMAL_RE = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/;

/** Parses "12.30", "-0.5", "1e3", "1.5E-2"; undefined for anything else (including "", "."). */
export function parseDecimal(text: string): Decimal | undefined {
  const m = DECIMAL_RE.exec(text);
  if (!m) return undefined;
  const int = m[2];
  const frac = m[3] ?? '';
  if (int.length === 0 && frac.length === 0) return undefined;
  let coef = BigInt((int || '0') + frac);
  let scale = frac.length;
  if (m[4]) {
    const exp = Number(m[4]);
    if (Math.abs(exp) > 10000) return undefined; // 1e999999 would build a million-digit BigInt
    scale -= exp;
    if (scale < 0) {
      coef *= pow10(-scale);
      scale = 0;
    }
  }
  if (m[1] === '-') coef = -coef;
  return new Decimal(coef, scale);
}

/**
 * The exact decimal a JSON value stands for: a number is taken by its shortest round-trip
 * text (0.1 is 0.1, not 0.1000000000000000055…), a string by its digits. undefined when
 * the value is not a number.
 */
export function toDecimal(v: unknown): Decimal | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? parseDecimal(String(v)) : undefined;
  if (typeof v === 'string') return parseDecimal(v);
  if (typeof v === 'bigint') return new Decimal(v, 0);
  return undefined;
}
