// The expression language of bx-clean --where and --set: parsed by hand and compiled into
// closures. User text never reaches eval or new Function, and a name only ever looks up a
// record field (own properties only) or a function of the table below: `constructor`,
// `__proto__` and `process` are just fields that are not there (null) or unknown functions.
//
//   expr    := or
//   or      := and ("or" and)*
//   and     := not ("and" not)*
//   not     := "not" not | cmp
//   cmp     := sum [("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") sum
//                   | "is" ["not"] "null" | ["not"] "in" "(" expr ("," expr)* ")"]
//   sum     := product (("+" | "-" | "||") product)*
//   product := unary (("*" | "/" | "%") unary)*
//   unary   := "-" unary | primary
//   primary := number | "text" | 'text' | true | false | null | name | `any name`
//            | name "(" [expr ("," expr)*] ")" | "(" expr ")"
//
// Values: null, true/false, text, and numbers, which are exact decimals (0.1 added ten times
// is 1). Nulls propagate as in SQL: arithmetic and comparison with null give null; `and`/`or`
// are three-valued; --where keeps a record only when the result is true.
import { Decimal, parseDecimal, toDecimal } from './decimal.js';
import { datePart, hourPart, weekdayOf } from './dates.js';
import { UsageError } from './errors.js';
import type { Rec } from './records.js';

/** A runtime failure (1 / 0, a text where a number belongs): the record becomes a reject. */
export class ExprError extends Error {
  override name = 'ExprError';
}

type Val = null | boolean | string | Decimal | object;
export type Compiled = (rec: Rec) => Val;

// ---- tokens ----

type Tok =
  | { k: 'num'; v: string; at: number }
  | { k: 'str'; v: string; at: number }
  | { k: 'name'; v: string; quoted: boolean; at: number }
  | { k: 'op'; v: string; at: number }
  | { k: 'end'; at: number };

const OPS = ['<=', '>=', '!=', '<>', '==', '||', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ','];

function tokenize(src: string, what: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const err = (msg: string, at: number): never => {
    throw new UsageError(`${what}: ${msg} at column ${at + 1}`);
  };
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i))!;
      i += m[0].length;
      if (/[A-Za-z_]/.test(src[i] ?? '')) err(`unexpected "${src[i]}" after a number`, i);
      toks.push({ k: 'num', v: m[0], at: start });
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      // a quote is escaped by doubling it, as in SQL
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) err(`unterminated ${c === '`' ? 'name' : 'text'}`, start);
        if (src[i] === c) {
          if (src[i + 1] === c) {
            s += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += src[i++];
      }
      toks.push(c === '`' ? { k: 'name', v: s, quoted: true, at: start } : { k: 'str', v: s, at: start });
      continue;
    }
    const name = /^[\p{L}_][\p{L}\p{N}_]*/u.exec(src.slice(i));
    if (name) {
      i += name[0].length;
      toks.push({ k: 'name', v: name[0], quoted: false, at: start });
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) err(`unexpected "${c}"`, i);
    i += op!.length;
    toks.push({ k: 'op', v: op!, at: start });
  }
  toks.push({ k: 'end', at: src.length });
  return toks;
}

// ---- values ----

function num(v: Val, what: string): Decimal {
  if (v instanceof Decimal) return v;
  if (typeof v === 'string') {
    const d = parseDecimal(v);
    if (d) return d;
  }
  throw new ExprError(`${what}: expected a number, got ${describe(v)}`);
}

function describe(v: Val): string {
  if (v instanceof Decimal) return v.toString();
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 37) + '…' : v);
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

function text(v: Val): string {
  if (typeof v === 'string') return v;
  if (v instanceof Decimal) return v.toString();
  if (typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function truth(v: Val, what: string): boolean | null {
  if (v === null || typeof v === 'boolean') return v;
  throw new ExprError(`${what}: expected true or false, got ${describe(v)}`);
}

/** A record value as an expression value: numbers become exact decimals. */
function fromJson(v: unknown): Val {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return numberDecimal(v);
  return v as Val;
}

// A double by its shortest round-trip text, as toDecimal() takes it, without its regex: the
// record's numbers are read on every evaluation.
function numberDecimal(v: number): Decimal | null {
  if (Number.isSafeInteger(v)) return new Decimal(BigInt(v), 0);
  const s = String(v);
  const dot = s.indexOf('.');
  if (dot < 0 || s.includes('e')) return toDecimal(v) ?? null;
  return new Decimal(BigInt(s.slice(0, dot) + s.slice(dot + 1)), s.length - dot - 1);
}

/**
 * An expression value as a JSON value for the record: decimals as Decimal.toJSONValue() gives
 * them (a number up to 15 significant digits, else the digits as a string), computed on the
 * text rather than by BigInt division.
 */
export function toJson(v: Val): unknown {
  if (!(v instanceof Decimal)) return v;
  const text = v.toString();
  let end = text.length;
  if (v.scale > 0) {
    while (text.charCodeAt(end - 1) === 48) end--;
    if (text.charCodeAt(end - 1) === 46) end--;
  }
  const start = text.charCodeAt(0) === 45 ? 1 : 0;
  let sig = 0;
  let leading = true;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) continue;
    if (leading && c === 48) continue;
    leading = false;
    sig++;
  }
  if (sig > 15) return text;
  const n = Number(text.slice(0, end));
  return n === 0 ? 0 : n;
}

function compare(a: Val, b: Val, op: string): number {
  if (a instanceof Decimal || b instanceof Decimal) return num(a, op).cmp(num(b, op));
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (op === '=' || op === '!=') return JSON.stringify(a) === JSON.stringify(b) ? 0 : 1;
  throw new ExprError(`${op}: cannot compare ${describe(a)} with ${describe(b)}`);
}

// Division keeps at least 16 significant digits, as PostgreSQL's numeric division does.
const DIV_SCALE = 16;

function arith(op: string, a: Decimal, b: Decimal): Decimal {
  switch (op) {
    case '+':
      return a.add(b);
    case '-':
      return a.sub(b);
    case '*':
      return a.mul(b);
    case '/':
      if (b.isZero()) throw new ExprError('division by zero');
      return a.div(b, Math.max(DIV_SCALE, a.scale, b.scale)).normalize();
    default: {
      if (b.isZero()) throw new ExprError('division by zero');
      const s = Math.max(a.scale, b.scale);
      const x = a.round(s).coef;
      const y = b.round(s).coef;
      return new Decimal(x % y, s);
    }
  }
}

// ---- functions ----

interface Fn {
  min: number;
  max: number;
  call: (args: Val[]) => Val;
}

const nullIn = (args: Val[]) => args.some((a) => a === null);
const onText = (f: (s: string) => Val): Fn => ({ min: 1, max: 1, call: ([s]) => (s === null ? null : f(text(s))) });
const onTime = (name: string, f: (iso: string) => number | string | undefined): Fn => ({
  min: 1,
  max: 1,
  call: ([s]) => {
    if (s === null) return null;
    const r = typeof s === 'string' ? f(s) : undefined;
    if (r === undefined) throw new ExprError(`${name}(): expected an ISO date or datetime, got ${describe(s)}`);
    return typeof r === 'number' ? new Decimal(BigInt(r), 0) : r;
  },
});

// A Map, not an object literal: "constructor" or "__proto__" can never be found here.
const FUNCTIONS = new Map<string, Fn>([
  ['lower', onText((s) => s.toLowerCase())],
  ['upper', onText((s) => s.toUpperCase())],
  ['trim', onText((s) => s.trim())],
  ['length', onText((s) => new Decimal(BigInt([...s].length), 0))],
  [
    'substr',
    {
      min: 2,
      max: 3,
      // SQL's substr: 1-based start; positions before the text count toward the length
      call: (args) => {
        if (nullIn(args)) return null;
        const chars = [...text(args[0])];
        const start = Number(num(args[1], 'substr()').round(0).coef);
        const end = args.length > 2 ? start + Number(num(args[2], 'substr()').round(0).coef) : chars.length + 1;
        if (end < start) throw new ExprError('substr(): negative length');
        return chars.slice(Math.max(start, 1) - 1, Math.max(end, 1) - 1).join('');
      },
    },
  ],
  [
    'replace',
    { min: 3, max: 3, call: (args) => (nullIn(args) ? null : text(args[0]).split(text(args[1])).join(text(args[2]))) },
  ],
  // concat skips nulls, as PostgreSQL's concat() does
  ['concat', { min: 1, max: Infinity, call: (args) => args.map((a) => (a === null ? '' : text(a))).join('') }],
  ['coalesce', { min: 1, max: Infinity, call: (args) => args.find((a) => a !== null) ?? null }],
  ['if', { min: 3, max: 3, call: ([c, a, b]) => (truth(c, 'if()') === true ? a : b) }],
  [
    'abs',
    {
      min: 1,
      max: 1,
      call: ([x]) => (x === null ? null : num(x, 'abs()').sign() < 0 ? num(x, 'abs()').neg() : num(x, 'abs()')),
    },
  ],
  [
    'round',
    {
      min: 1,
      max: 2,
      call: (args) => {
        if (nullIn(args)) return null;
        const scale = args.length > 1 ? Number(num(args[1], 'round()').coef) : 0;
        if (!Number.isInteger(scale) || scale < 0 || scale > 1000)
          throw new ExprError('round(): the scale must be an integer from 0 to 1000');
        return num(args[0], 'round()').round(scale);
      },
    },
  ],
  ['number', { min: 1, max: 1, call: ([x]) => (x === null ? null : num(x, 'number()')) }],
  ['text', onText((s) => s)],
  ['date', onTime('date', datePart)],
  ['hour', onTime('hour', hourPart)],
  ['weekday', onTime('weekday', weekdayOf)],
  ['year', onTime('year', (s) => (datePart(s) ? Number(s.slice(0, 4)) : undefined))],
  ['month', onTime('month', (s) => (datePart(s) ? Number(s.slice(5, 7)) : undefined))],
  ['day', onTime('day', (s) => (datePart(s) ? Number(s.slice(8, 10)) : undefined))],
]);

export const FUNCTION_NAMES = [...FUNCTIONS.keys()];

// ---- parser: recursive descent straight into closures ----

const KEYWORDS = new Set(['and', 'or', 'not', 'is', 'null', 'true', 'false', 'in']);

class Parser {
  private i = 0;
  /** Fields the expression reads. */
  readonly fields = new Set<string>();

  constructor(
    private readonly toks: Tok[],
    private readonly what: string,
  ) {}

  private peek(): Tok {
    return this.toks[this.i];
  }

  private fail(msg: string, t: Tok = this.peek()): never {
    throw new UsageError(`${this.what}: ${msg} at column ${t.at + 1}`);
  }

  private isKw(kw: string, t: Tok = this.peek()) {
    return t.k === 'name' && !t.quoted && t.v.toLowerCase() === kw;
  }

  private isOp(op: string, t: Tok = this.peek()) {
    return t.k === 'op' && t.v === op;
  }

  private expect(op: string) {
    if (!this.isOp(op)) this.fail(`expected "${op}", found ${this.shown()}`);
    this.i++;
  }

  private shown(t: Tok = this.peek()) {
    return t.k === 'end' ? 'the end' : t.k === 'str' ? JSON.stringify(t.v) : `"${t.v}"`;
  }

  parseAll(): Compiled {
    const e = this.or();
    if (this.peek().k !== 'end') this.fail(`unexpected ${this.shown()}`);
    return e;
  }

  /** `name = expr`, for --set. */
  parseAssignment(): { target: string; expr: Compiled } {
    const t = this.peek();
    if (t.k !== 'name' || (!t.quoted && KEYWORDS.has(t.v.toLowerCase()))) this.fail('expected "field = expression"');
    this.i++;
    this.expect('=');
    return { target: (t as { v: string }).v, expr: this.parseAll() };
  }

  private or(): Compiled {
    return this.logical('or', () => this.and(), true);
  }

  private and(): Compiled {
    return this.logical('and', () => this.not(), false);
  }

  /** SQL's three-valued or/and: `decisive` (true for or, false for and) settles it, else null wins. */
  private logical(kw: 'or' | 'and', operand: () => Compiled, decisive: boolean): Compiled {
    let l = operand();
    while (this.isKw(kw)) {
      this.i++;
      const a = l;
      const b = operand();
      l = (r) => {
        const x = truth(a(r), kw);
        if (x === decisive) return decisive;
        const y = truth(b(r), kw);
        return y === decisive ? decisive : x === null || y === null ? null : !decisive;
      };
    }
    return l;
  }

  private not(): Compiled {
    if (this.isKw('not')) {
      this.i++;
      const a = this.not();
      return (r) => {
        const x = truth(a(r), 'not');
        return x === null ? null : !x;
      };
    }
    return this.cmp();
  }

  private cmp(): Compiled {
    const a = this.sum();
    const t = this.peek();
    if (t.k === 'op' && ['=', '==', '!=', '<>', '<', '<=', '>', '>='].includes(t.v)) {
      this.i++;
      const b = this.sum();
      const op = t.v === '==' ? '=' : t.v === '<>' ? '!=' : t.v;
      const test: (c: number) => boolean =
        op === '='
          ? (c) => c === 0
          : op === '!='
            ? (c) => c !== 0
            : op === '<'
              ? (c) => c < 0
              : op === '<='
                ? (c) => c <= 0
                : op === '>'
                  ? (c) => c > 0
                  : (c) => c >= 0;
      return (r) => {
        const x = a(r);
        const y = b(r);
        return x === null || y === null ? null : test(compare(x, y, op));
      };
    }
    if (this.isKw('is')) {
      this.i++;
      const negate = this.isKw('not');
      if (negate) this.i++;
      if (!this.isKw('null')) this.fail(`expected "null" after "is${negate ? ' not' : ''}"`);
      this.i++;
      return negate ? (r) => a(r) !== null : (r) => a(r) === null;
    }
    const negate = this.isKw('not') && this.isKw('in', this.toks[this.i + 1]);
    if (negate || this.isKw('in')) {
      this.i += negate ? 2 : 1;
      this.expect('(');
      const list = [this.or()];
      while (this.isOp(',')) {
        this.i++;
        list.push(this.or());
      }
      this.expect(')');
      return (r) => {
        const x = a(r);
        if (x === null) return null;
        let sawNull = false;
        for (const e of list) {
          const y = e(r);
          if (y === null) sawNull = true;
          else if (compare(x, y, '=') === 0) return !negate;
        }
        return sawNull ? null : negate;
      };
    }
    return a;
  }

  private sum(): Compiled {
    return this.level(['+', '-', '||'], () => this.product());
  }

  private product(): Compiled {
    return this.level(['*', '/', '%'], () => this.unary());
  }

  /** One precedence level of left-associative binary operators. */
  private level(ops: string[], operand: () => Compiled): Compiled {
    let l = operand();
    for (let t = this.peek(); t.k === 'op' && ops.includes(t.v); t = this.peek()) {
      this.i++;
      l = binary(t.v, l, operand());
    }
    return l;
  }

  private unary(): Compiled {
    if (this.isOp('-')) {
      this.i++;
      const a = this.unary();
      return (r) => {
        const x = a(r);
        return x === null ? null : num(x, '-').neg();
      };
    }
    if (this.isOp('+')) {
      this.i++;
      return this.unary();
    }
    return this.primary();
  }

  private primary(): Compiled {
    const t = this.peek();
    this.i++;
    switch (t.k) {
      case 'num': {
        const d = parseDecimal(t.v)!;
        return () => d;
      }
      case 'str': {
        const s = t.v;
        return () => s;
      }
      case 'op':
        if (t.v === '(') {
          const e = this.or();
          this.expect(')');
          return e;
        }
        return this.fail(`unexpected ${this.shown(t)}`, t);
      case 'end':
        return this.fail('unexpected end of expression', t);
      case 'name': {
        if (!t.quoted) {
          const kw = t.v.toLowerCase();
          if (kw === 'true') return () => true;
          if (kw === 'false') return () => false;
          if (kw === 'null') return () => null;
          if (KEYWORDS.has(kw)) this.fail(`unexpected "${t.v}"`, t);
          if (this.isOp('(')) return this.call(t.v, t);
        }
        const name = t.v;
        this.fields.add(name);
        return (r) => (Object.hasOwn(r, name) ? fromJson(r[name]) : null);
      }
    }
  }

  private call(name: string, t: Tok): Compiled {
    const fn = FUNCTIONS.get(name.toLowerCase());
    if (!fn) this.fail(`unknown function "${name}" (known: ${FUNCTION_NAMES.join(', ')})`, t);
    this.expect('(');
    const args: Compiled[] = [];
    if (!this.isOp(')')) {
      args.push(this.or());
      while (this.isOp(',')) {
        this.i++;
        args.push(this.or());
      }
    }
    this.expect(')');
    if (args.length < fn.min || args.length > fn.max) {
      const n = fn.min === fn.max ? `${fn.min}` : fn.max === Infinity ? `at least ${fn.min}` : `${fn.min} to ${fn.max}`;
      this.fail(`${name}() takes ${n} argument${n === '1' ? '' : 's'}, not ${args.length}`, t);
    }
    const lower = name.toLowerCase();
    // if() and coalesce() evaluate only what they need: if(qty = 0, null, total / qty) is safe
    if (lower === 'if') {
      const [c, a, b] = args;
      return (r) => (truth(c(r), 'if()') === true ? a(r) : b(r));
    }
    if (lower === 'coalesce') {
      return (r) => {
        for (const a of args) {
          const v = a(r);
          if (v !== null) return v;
        }
        return null;
      };
    }
    const call = fn.call;
    if (args.length === 1) {
      const a = args[0];
      return (r) => call([a(r)]);
    }
    return (r) => call(args.map((a) => a(r)));
  }
}

function binary(op: string, a: Compiled, b: Compiled): Compiled {
  if (op === '||') {
    return (r) => {
      const x = a(r);
      const y = b(r);
      return x === null || y === null ? null : text(x) + text(y);
    };
  }
  return (r) => {
    const x = a(r);
    const y = b(r);
    if (x === null || y === null) return null;
    return arith(op, num(x, op), num(y, op));
  };
}

export interface Expression {
  source: string;
  fields: Set<string>;
  eval: Compiled;
}

/** Compiles an expression; a syntax error is a UsageError naming `what` (the flag) and the column. */
export function compileExpr(source: string, what = 'expression'): Expression {
  const p = new Parser(tokenize(source, what), what);
  const e = p.parseAll();
  return { source, fields: p.fields, eval: e };
}

/** Compiles `target = expression`, for --set. */
export function compileAssignment(source: string, what = '--set'): Expression & { target: string } {
  const p = new Parser(tokenize(source, what), what);
  const { target, expr } = p.parseAssignment();
  return { source, fields: p.fields, eval: expr, target };
}

/** Evaluates to a JSON value for a record (decimals as numbers, or strings beyond 15 digits). */
export const evalJson = (e: Expression, rec: Rec): unknown => toJson(e.eval(rec));

/** Evaluates a --where condition: only true keeps a record (null does not). */
export function test(e: Expression, rec: Rec): boolean {
  const v = e.eval(rec);
  if (v === true) return true;
  if (v === false || v === null) return false;
  throw new ExprError(`the condition gave ${describe(v)}, not true or false`);
}
