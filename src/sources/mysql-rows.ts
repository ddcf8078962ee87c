// A MySQL/MariaDB text-protocol result read straight off mysql2's socket and written as NDJSON
// bytes (docs/design.md "Database sources"). mysql2 built a JS array of JS values per row,
// which the source then turned into a string and encoded again: 3.4 s of CPU per 1 M rows,
// against 1.1 s for `mysql --batch`. Here the query (COM_QUERY) is written on mysql2's own
// socket while the connection is idle, the response's packets are walked where they lie in the
// socket's chunks, and each row packet (length-coded values) is rewritten to JSON bytes by its
// column's kind; whatever is unusual builds the value mysql2 would have built and takes the
// source's converter, so both paths give the same text. After the last packet the socket is
// mysql2's again (it resets its sequence ids at the next command). Only a packet cut by a
// chunk's end, or one longer than 16 MB, is copied.
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import { copyBytes, plainDecimalBytes, putIsoTimestamp } from './sql.js';

/** How one column's value bytes become JSON bytes. */
export const enum MK {
  Int, // TINY SHORT LONG INT24 YEAR: mysql2 makes a number of the digits
  BigInt, // LONGLONG as a string (bigNumberStrings)
  Float, // FLOAT DOUBLE: a number
  Dec, // DECIMAL: its text
  Date,
  Ts, // DATETIME
  Tstz, // TIMESTAMP in the +00:00 session
  Text, // utf8 text through JSON.stringify
  Json, // JSON text, compacted
  Bin, // binary charset: a Buffer, base64
  SlowStr, // another type mysql2 hands over as a utf8 string (NEWDATE …): the converter
  SlowBuf, // another type mysql2 hands over as a Buffer (BIT …): the converter
}

// mysql2/lib/constants/types.js
const TINY = 1,
  SHORT = 2,
  LONG = 3,
  FLOAT = 4,
  DOUBLE = 5,
  NULL = 6,
  TIMESTAMP = 7,
  LONGLONG = 8,
  INT24 = 9,
  DATE = 10,
  TIME = 11,
  DATETIME = 12,
  YEAR = 13,
  NEWDATE = 14,
  BIT = 16,
  VECTOR = 242,
  JSON_T = 245,
  DECIMAL = 0,
  NEWDECIMAL = 246,
  GEOMETRY = 255;
const BINARY_CHARSET = 63;

export interface MyField {
  name: string;
  columnType?: number;
  type?: number;
  characterSet?: number;
  encoding?: string;
  extendedFormat?: string;
}

/**
 * The kind of a column, read the way mysql2's text parser reads it (parsers/text_parser.js
 * with supportBigNumbers, bigNumberStrings, dateStrings and jsonStrings); undefined when only
 * mysql2 itself can read it (geometry, vectors, a connection charset other than utf8).
 */
export function myKind(f: MyField): MK | undefined {
  const t = f.columnType ?? f.type;
  const utf8 = f.encoding === 'utf8';
  if (f.extendedFormat === 'json') return utf8 ? MK.Json : undefined;
  switch (t) {
    case TINY:
    case SHORT:
    case LONG:
    case INT24:
    case YEAR:
      return MK.Int;
    case LONGLONG:
      return MK.BigInt;
    case FLOAT:
    case DOUBLE:
      return MK.Float;
    case DECIMAL:
    case NEWDECIMAL:
      return MK.Dec;
    case DATE:
      return MK.Date;
    case DATETIME:
      return MK.Ts;
    case TIMESTAMP:
      return MK.Tstz;
    case TIME:
      return MK.Text; // ASCII digits and colons: the same bytes as a utf8 string
    case JSON_T:
      return MK.Json;
    case NULL:
    case GEOMETRY:
    case VECTOR:
      return undefined;
  }
  // mysql2's default: a Buffer for the binary charset, else a string in the column's encoding.
  if (f.characterSet === BINARY_CHARSET) return t === BIT ? MK.SlowBuf : MK.Bin;
  if (!utf8) return undefined;
  return t === NEWDATE ? MK.SlowStr : MK.Text;
}

/** A value as mysql2 would hand it over → its JSON text; `row` names it in errors. */
export type MyConv = (v: unknown, row: number) => string;

const HEX = '0123456789abcdef';

/** mysql2's Packet.parseIntNoBigCheck on value bytes. */
function parseIntNoBigCheck(b: Buffer, a: number, z: number): number {
  if (z === a) return 0;
  let sign = 1;
  if (b[a] === 45) {
    a++;
    sign = -1;
  }
  if (b[a] === 43) a++;
  let r = 0;
  for (; a < z; a++) r = r * 10 + (b[a] - 48);
  return r * sign;
}

/** mysql2's Packet.parseFloat on value bytes. */
function parseFloatLike(b: Buffer, a: number, z: number): number {
  const len = z - a;
  if (len === 0) return 0;
  if (len > 17) return Number.parseFloat(b.toString('utf8', a, z));
  let r = 0;
  let factor = 1;
  let past = false;
  let i = a;
  if (b[i] === 45) {
    i++;
    factor = -1;
  }
  if (b[i] === 43) i++;
  for (; i < z; i++) {
    const c = b[i];
    if (c === 46) past = true;
    else if (c === 101 || c === 69) return Number.parseFloat(b.toString('utf8', a, z));
    else {
      r = r * 10 + (c - 48);
      if (past) factor *= 10;
    }
  }
  return r / factor;
}

/**
 * Row packets (length-coded values, 0xFB for NULL) → NDJSON bytes, field by field on the bytes:
 * integers, decimals, dates, timestamps and text are copied or lightly rewritten; anything else
 * builds mysql2's value and goes through the column's converter.
 */
export class MyRowTranscoder {
  private out: Buffer = Buffer.allocUnsafe(1 << 18);
  private o = 0;
  count = 0;
  private total = 0;
  private readonly keys: Buffer[];
  private readonly lineage?: Buffer;
  private readonly slack: number;

  constructor(
    names: string[],
    private readonly kinds: MK[],
    private readonly convs: MyConv[],
    lineage: string,
  ) {
    this.keys = names.map((n, i) => Buffer.from((i === 0 ? '{' : ',') + JSON.stringify(n) + ':'));
    if (lineage) this.lineage = Buffer.from(lineage);
    // Per field beyond 6x its bytes: its key, "null", quotes, T, padding to µs, an offset; per row the lineage and }\n.
    this.slack = Math.max(0, ...this.keys.map((k) => k.length)) + 24 + (this.lineage?.length ?? 0) + 24;
  }

  private room(n: number): Buffer {
    if (this.o + n > this.out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.o + n, this.out.length * 2));
      this.out.copy(bigger, 0, 0, this.o);
      this.out = bigger;
    }
    return this.out;
  }

  /** One row packet's payload, buf[p, end). */
  row(buf: Buffer, p: number, end: number): void {
    const kinds = this.kinds;
    const ncol = kinds.length;
    const slack = this.slack;
    let out = this.out;
    let o = this.o;
    for (let c = 0; c < ncol; c++) {
      let len = buf[p++];
      let nul = false;
      if (len === 0xfb) {
        nul = true;
        len = 0;
      } else if (len === 0xfc) {
        len = buf[p] | (buf[p + 1] << 8);
        p += 2;
      } else if (len === 0xfd) {
        len = buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16);
        p += 3;
      } else if (len === 0xfe) {
        len = buf.readUInt32LE(p) + buf.readUInt32LE(p + 4) * 2 ** 32;
        p += 8;
      }
      const z = p + len;
      if (z > end) throw new Error('a row packet ends inside a value');
      if (o + len * 6 + slack > out.length) {
        this.o = o;
        out = this.room(len * 6 + slack);
      }
      const key = this.keys[c];
      for (let k = 0; k < key.length; k++) out[o++] = key[k];
      let w = -1;
      if (nul) {
        out[o] = 110;
        out[o + 1] = 117;
        out[o + 2] = 108;
        out[o + 3] = 108;
        w = o + 4;
      } else {
        switch (kinds[c]) {
          case MK.Int:
            w = plainInt(buf, p, z, out, o);
            break;
          case MK.BigInt:
            // intJson: up to 15 characters as they are, unless zero-filled.
            if (len <= 15 && len > 0 && (buf[p] !== 48 || len === 1)) w = copyBytes(buf, p, z, out, o);
            break;
          case MK.Dec:
            w = plainDecimalBytes(buf, p, z, out, o);
            break;
          case MK.Date:
            if (len === 10 && !zeroDay(buf, p)) {
              out[o] = 34;
              w = copyBytes(buf, p, z, out, o + 1);
              out[w++] = 34;
            }
            break;
          case MK.Ts:
            w = timestamp(buf, p, z, false, out, o);
            break;
          case MK.Tstz:
            w = timestamp(buf, p, z, true, out, o);
            break;
          case MK.Text:
            w = text(buf, p, z, out, o);
            break;
        }
      }
      if (w < 0) {
        this.o = o;
        this.slow(buf, p, z, c);
        out = this.out;
        w = this.o;
      }
      o = w;
      p = z;
    }
    this.total++;
    this.count++;
    if (this.lineage) {
      o = copyBytes(this.lineage, 0, this.lineage.length, out, o);
      o += out.write(String(this.total), o, 'latin1');
    }
    out[o++] = 125;
    out[o++] = 10;
    this.o = o;
  }

  /** The value mysql2 would have made, through the column's converter. */
  private slow(b: Buffer, a: number, z: number, c: number): void {
    let v: unknown;
    switch (this.kinds[c]) {
      case MK.Int:
        v = parseIntNoBigCheck(b, a, z);
        break;
      case MK.Float:
        v = parseFloatLike(b, a, z);
        break;
      case MK.BigInt:
      case MK.Dec:
      case MK.Date:
      case MK.Ts:
      case MK.Tstz:
        v = b.toString('latin1', a, z);
        break;
      case MK.Bin:
      case MK.SlowBuf:
        v = b.subarray(a, z);
        break;
      default:
        v = b.toString('utf8', a, z);
    }
    const s = this.convs[c](v, this.total + 1);
    this.room(s.length * 3 + this.slack);
    this.o += this.out.write(s, this.o, 'utf8');
  }

  /** The NDJSON bytes so far; the next rows go to a new buffer. */
  take(): { bytes: Buffer; rows: number } {
    // The buffer itself goes with the batch and a new one takes its place: Buffer.from's copy
    // (fromArrayLike) was 4 % of an extract's CPU.
    const r = { bytes: this.out.subarray(0, this.o), rows: this.count };
    this.out = Buffer.allocUnsafeSlow(this.out.length > 1 << 22 ? 1 << 18 : this.out.length);
    this.o = 0;
    this.count = 0;
    return r;
  }
}

/** Digits with an optional minus, no leading zero, at most 15 of them: String(Number(text)) is the text. */
function plainInt(b: Buffer, a: number, z: number, out: Buffer, o: number): number {
  const first = b[a] === 45 ? a + 1 : a;
  const n = z - first;
  if (n === 0 || n > 15 || (b[first] === 48 && (n > 1 || first > a))) return -1;
  for (let i = first; i < z; i++) if (b[i] < 48 || b[i] > 57) return -1;
  return copyBytes(b, a, z, out, o);
}

/** The source's isZeroDate on bytes: a zero month or day, or 0000-00-00. */
const zeroDay = (b: Buffer, a: number) => (b[a + 5] === 48 && b[a + 6] === 48) || (b[a + 8] === 48 && b[a + 9] === 48);

/** YYYY-MM-DD HH:MM:SS[.f{1,6}] → "YYYY-MM-DDTHH:MM:SS.ffffff[+00:00]" (timestampText's rule); -1: the slow path. */
function timestamp(b: Buffer, a: number, z: number, zoned: boolean, out: Buffer, o: number): number {
  if (z - a < 19 || b[a + 4] !== 45 || b[a + 10] !== 32 || b[a + 13] !== 58 || zeroDay(b, a)) return -1;
  const i = a + 19;
  let fracEnd = i;
  if (b[i] === 46 && i < z) {
    fracEnd = i + 1;
    while (fracEnd < z && b[fracEnd] >= 48 && b[fracEnd] <= 57) fracEnd++;
    if (fracEnd - i - 1 > 6) return -1;
  }
  if (fracEnd !== z) return -1;
  return putIsoTimestamp(b, a, fracEnd, zoned, out, o);
}

/** utf8 bytes → JSON.stringify's text of them; -1 (the slow path) for bytes that are not UTF-8. */
function text(b: Buffer, a: number, z: number, out: Buffer, o: number): number {
  out[o++] = 34;
  let checked = false;
  for (let i = a; i < z; i++) {
    const d = b[i];
    if (d >= 32 && d !== 34 && d !== 92) {
      if (d >= 128 && !checked) {
        if (!isUtf8(b.subarray(a, z))) return -1;
        checked = true;
      }
      out[o++] = d;
      continue;
    }
    out[o++] = 92;
    switch (d) {
      case 34:
      case 92:
        out[o++] = d;
        break;
      case 8:
        out[o++] = 98;
        break;
      case 9:
        out[o++] = 116;
        break;
      case 10:
        out[o++] = 110;
        break;
      case 12:
        out[o++] = 102;
        break;
      case 13:
        out[o++] = 114;
        break;
      default:
        out[o++] = 117;
        out[o++] = 48;
        out[o++] = 48;
        out[o++] = HEX.charCodeAt(d >> 4);
        out[o++] = HEX.charCodeAt(d & 15);
    }
  }
  out[o++] = 34;
  return o;
}

/** The server's ERR packet, shaped as mysql2's errors are (errno, sqlState, sqlMessage) for myError. */
function errPacket(b: Buffer, a: number, z: number): Error {
  const errno = b.readUInt16LE(a + 1);
  let p = a + 3;
  let sqlState: string | undefined;
  if (b[p] === 35 /* # */) {
    sqlState = b.toString('latin1', p + 1, p + 6);
    p += 6;
  }
  const sqlMessage = b.toString('utf8', p, z);
  return Object.assign(new Error(sqlMessage), { errno, sqlState, sqlMessage, fatal: false });
}

interface MyConnection {
  stream: Socket;
  config: { clientFlags: number };
  serverCapabilityFlags?: number;
}

const CLIENT_QUERY_ATTRIBUTES = 0x08000000;
const SERVER_MORE_RESULTS_EXISTS = 0x0008;
const MAX_PACKET = 0xffffff;

const enum St {
  Header,
  Columns,
  ColumnsEof,
  Rows,
  Done,
}

/**
 * One query's result rows, read off mysql2's socket. pump() reads until `enough()` says a
 * batch is ready or the result ends; the socket is paused in between. start() returns false
 * when the connection is not in the state it expects (then mysql2 reads the query).
 */
export class MyRowReader {
  private stream?: Socket;
  private mine?: (b: Buffer) => void;
  private theirs?: (b: Buffer) => void;
  private state = St.Header;
  private columns = 0;
  private error: unknown;
  private wake: (() => void) | undefined;
  private enough: () => boolean = () => false;
  /** A packet cut by a chunk's end (or one over 16 MB): its payload so far. */
  private carry = Buffer.allocUnsafe(0);
  private carryLen = 0;
  private head = Buffer.alloc(4);
  private headLen = 0;
  /** Payload bytes of the current packet still to come (into carry); -1: at a header. */
  private left = -1;
  /** The current packet is 16 MB - 1 long: its payload goes on in the next packet. */
  private more = false;
  private readonly onClose = () =>
    this.fail(
      Object.assign(new Error('Connection lost: The server closed the connection.'), {
        code: 'PROTOCOL_CONNECTION_LOST',
      }),
    );

  constructor(
    private readonly sql: string,
    private readonly ncol: number,
    private readonly sink: (buf: Buffer, a: number, z: number) => void,
  ) {}

  start(conn: MyConnection): boolean {
    const s = conn.stream;
    const listeners = s?.listeners('data') as ((b: Buffer) => void)[] | undefined;
    if (!listeners || listeners.length !== 1) return false;
    this.stream = s;
    this.theirs = listeners[0];
    this.mine = (b) => this.data(b);
    s.removeListener('data', this.theirs);
    s.on('data', this.mine);
    s.on('close', this.onClose);
    const attrs = conn.config.clientFlags & (conn.serverCapabilityFlags ?? 0) & CLIENT_QUERY_ATTRIBUTES;
    const head = attrs ? 7 : 5;
    const len = head + Buffer.byteLength(this.sql, 'utf8');
    const packets: Buffer[] = [];
    const body = Buffer.allocUnsafe(len);
    body[4] = 0x03; // COM_QUERY
    if (attrs) {
      body[5] = 0; // parameter_count
      body[6] = 1; // parameter_set_count
    }
    body.write(this.sql, head, 'utf8');
    // Sequence ids from 0; a query over 16 MB goes in several packets.
    let seq = 0;
    let from = 4;
    for (;;) {
      const n = Math.min(MAX_PACKET, len - from);
      const h = Buffer.from([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, seq++ & 0xff]);
      packets.push(h, body.subarray(from, from + n));
      from += n;
      if (n < MAX_PACKET) break;
    }
    s.write(Buffer.concat(packets));
    return true;
  }

  private fail(err: unknown): void {
    this.error ??= err;
    this.wake?.();
  }

  private data(b: Buffer): void {
    try {
      this.chunk(b);
    } catch (err) {
      this.fail(err);
      this.stream?.pause();
      return;
    }
    if (this.state !== St.Done && this.enough()) this.stream!.pause();
    this.wake?.();
  }

  private chunk(b: Buffer): void {
    let i = 0;
    const n = b.length;
    while (i < n && this.state !== St.Done && this.error === undefined) {
      if (this.left >= 0) {
        // The rest of a cut packet.
        const k = Math.min(this.left, n - i);
        this.append(b, i, i + k);
        this.left -= k;
        i += k;
        if (this.left === 0) {
          this.left = -1;
          if (!this.more) {
            const len = this.carryLen;
            this.carryLen = 0;
            this.packet(this.carry, 0, len);
          }
        }
        continue;
      }
      let len: number;
      if (this.headLen === 0 && i + 4 <= n) {
        len = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
        i += 4;
      } else {
        while (this.headLen < 4 && i < n) this.head[this.headLen++] = b[i++];
        if (this.headLen < 4) return;
        this.headLen = 0;
        len = this.head[0] | (this.head[1] << 8) | (this.head[2] << 16);
      }
      const joined = this.more || this.carryLen > 0;
      this.more = len === MAX_PACKET;
      if (!joined && !this.more && i + len <= n) {
        // The common case: the whole packet in this chunk.
        this.packet(b, i, i + len);
        i += len;
        continue;
      }
      this.left = len;
      if (len === 0) {
        this.left = -1;
        if (!this.more) {
          const l = this.carryLen;
          this.carryLen = 0;
          this.packet(this.carry, 0, l);
        }
      }
    }
    if (this.state === St.Done) this.detach(i < n ? b.subarray(i) : undefined);
  }

  private append(b: Buffer, a: number, z: number): void {
    const need = this.carryLen + (z - a);
    if (need > this.carry.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.carry.length * 2, 1 << 16));
      this.carry.copy(bigger, 0, 0, this.carryLen);
      this.carry = bigger;
    }
    b.copy(this.carry, this.carryLen, a, z);
    this.carryLen = need;
  }

  private packet(b: Buffer, a: number, z: number): void {
    const first = b[a];
    switch (this.state) {
      case St.Rows:
        if (first === 0xfe && z - a < 9) {
          // EOF: the rows are all in.
          if (z - a >= 5 && b.readUInt16LE(a + 3) & SERVER_MORE_RESULTS_EXISTS)
            throw new Error('the query returned more than one result');
          this.state = St.Done;
        } else if (first === 0xff) throw errPacket(b, a, z);
        else this.sink(b, a, z);
        return;
      case St.Header:
        if (first === 0xff) throw errPacket(b, a, z);
        if (first === 0x00) {
          // OK: no result set (not a query that returns rows).
          this.state = St.Done;
          return;
        }
        this.columns = first < 0xfb ? first : first === 0xfc ? b.readUInt16LE(a + 1) : b.readUIntLE(a + 1, 3);
        if (this.columns !== this.ncol)
          throw new Error(`the query returned ${this.columns} columns where ${this.ncol} were described`);
        this.state = St.Columns;
        return;
      case St.Columns:
        if (--this.columns === 0) this.state = St.ColumnsEof;
        return;
      case St.ColumnsEof:
        this.state = St.Rows;
        if (!(first === 0xfe && z - a < 9)) this.packet(b, a, z);
        return;
    }
  }

  private detach(rest: Buffer | undefined): void {
    const s = this.stream!;
    s.removeListener('data', this.mine!);
    s.removeListener('close', this.onClose);
    s.on('data', this.theirs!);
    if (rest) this.theirs!(rest);
    s.resume();
  }

  /** Reads rows until enough() or the end; resolves false once the result is over (all rows handed to the sink). */
  async pump(enough: () => boolean): Promise<boolean> {
    this.enough = enough;
    if (this.state !== St.Done) this.stream?.resume();
    for (;;) {
      if (this.error !== undefined) throw this.error;
      if (this.state === St.Done) return false;
      if (enough()) {
        this.stream!.pause();
        return true;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** Stops reading: the socket is about to be destroyed. */
  abandon(): void {
    const s = this.stream;
    if (!s || this.state === St.Done) return;
    s.removeListener('data', this.mine!);
    s.removeListener('close', this.onClose);
  }
}
