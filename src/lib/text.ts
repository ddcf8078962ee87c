import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { DataError } from './errors.js';

export type Encoding = 'utf8' | 'latin1' | 'windows-1252' | 'utf16le';

export const ENCODINGS: readonly Encoding[] = ['utf8', 'latin1', 'windows-1252', 'utf16le'];

export function parseEncoding(name: string): Encoding | undefined {
  const n = name.toLowerCase().replace(/[_ ]/g, '-');
  if (n === 'utf8' || n === 'utf-8') return 'utf8';
  if (n === 'latin1' || n === 'iso-8859-1' || n === 'latin-1') return 'latin1';
  if (n === 'windows-1252' || n === 'cp1252') return 'windows-1252';
  if (n === 'utf16le' || n === 'utf-16le' || n === 'utf-16' || n === 'utf16') return 'utf16le';
  return undefined;
}

/**
 * Decodes a byte stream to text chunks. A UTF-8 BOM (or a UTF-16LE one) is dropped; invalid
 * UTF-8 is a data error naming the line, never a silent U+FFFD. `latin1` means ISO-8859-1
 * byte for byte; `windows-1252` maps 0x80–0x9F to the characters Windows puts there.
 */
export async function* decodeText(
  input: AsyncIterable<Buffer | string>,
  name: string,
  encoding: Encoding = 'utf8',
): AsyncGenerator<string> {
  let decoder: TextDecoder | undefined;
  let first = true;
  let newlines = 0; // lines already passed, for the error message
  let held: Buffer | undefined; // a 1-byte first chunk: too short to tell a UTF-16 BOM
  for await (const piece of input) {
    if (typeof piece === 'string') {
      yield piece;
      continue;
    }
    let chunk = piece;
    if (first) {
      if (held) chunk = Buffer.concat([held, chunk]);
      if (chunk.length < 2) {
        held = Buffer.from(chunk);
        continue;
      }
      held = undefined;
      first = false;
      // A UTF-16LE BOM wins over the flag: such files announce themselves.
      const enc = chunk.length >= 2 && chunk[0] === 0xff && chunk[1] === 0xfe ? 'utf16le' : encoding;
      decoder = makeDecoder(enc);
    }
    let text: string;
    try {
      text = decoder!.decode(chunk, { stream: true });
    } catch {
      throw invalidUtf8(name, newlines, chunk);
    }
    if (text.length === 0) continue;
    newlines += countNewlines(text);
    yield text;
  }
  if (held) {
    // The whole input was one byte.
    decoder = makeDecoder(encoding);
    let text: string;
    try {
      text = decoder.decode(held, { stream: true });
    } catch {
      throw invalidUtf8(name, 0, held);
    }
    if (text) yield text;
  }
  if (decoder) {
    let rest: string;
    try {
      rest = decoder.decode();
    } catch {
      throw new DataError(
        { file: name, line: newlines + 1 },
        undefined,
        'invalid UTF-8: the input ends inside a character (try --encoding latin1)',
      );
    }
    if (rest) yield rest;
  }
}

function makeDecoder(enc: Encoding): TextDecoder {
  switch (enc) {
    case 'utf8':
      return new Utf8Decoder() as unknown as TextDecoder;
    case 'utf16le':
      return new TextDecoder('utf-16le', { fatal: true });
    case 'windows-1252':
      return new TextDecoder('windows-1252');
    case 'latin1':
      return latin1Decoder();
  }
}

// WHATWG's "latin1" label is windows-1252; plain ISO-8859-1 is Buffer's latin1.
function latin1Decoder(): TextDecoder {
  return {
    decode: (b?: Uint8Array) => (b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1') : ''),
  } as TextDecoder;
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Throws unless `b` is UTF-8, naming the line of the first bad byte (`linesBefore` lines came
 * before `b`). `atEnd`: nothing follows, so a character cut short at the end is the input's.
 */
export function checkUtf8(b: Buffer, name: string, linesBefore: number, atEnd: boolean, fieldAt?: FieldAt): void {
  if (isUtf8(b)) return;
  if (atEnd) {
    // A lead byte in the last three, without all its continuation bytes, after valid text.
    for (let k = 1; k <= 3 && k <= b.length; k++) {
      const lead = b[b.length - k];
      if ((lead & 0xc0) === 0x80) continue;
      const need = utf8Length(lead);
      if (need > k && isUtf8(b.subarray(0, b.length - k))) {
        let line = linesBefore + 1;
        for (let i = 0; i < b.length; i++) if (b[i] === 0x0a) line++;
        const at = fieldAt?.(b.length - k);
        throw new DataError(
          { file: name, line },
          at?.field,
          `${at?.where ?? ''}invalid UTF-8: the input ends inside a character (try --encoding latin1)`,
        );
      }
      break;
    }
  }
  throw invalidUtf8(name, linesBefore, b, fieldAt);
}

/**
 * Names the field holding byte `offset` of a checked buffer, for the error: `field` (a header
 * name) or `where` (a text to put before the detail, such as "header column 3: ").
 */
export type FieldAt = (offset: number) => { field?: string; where?: string } | undefined;

/** How many bytes the UTF-8 character led by `lead` takes (1 for ASCII and for bytes that lead none). */
const utf8Length = (lead: number): number =>
  lead >= 0xf5 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 1;

// Only on the error path: find the first bad byte to name its line.
export function invalidUtf8(name: string, linesBefore: number, chunk: Buffer, fieldAt?: FieldAt): DataError {
  const bad = firstInvalidUtf8(chunk);
  let line = linesBefore + 1;
  for (let i = 0; i < bad; i++) if (chunk[i] === 0x0a) line++;
  const hex = chunk
    .subarray(bad, bad + 4)
    .toString('hex')
    .replace(/(..)/g, '\\x$1');
  const at = fieldAt?.(bad);
  return new DataError(
    { file: name, line },
    at?.field,
    `${at?.where ?? ''}invalid UTF-8 (bytes ${hex}); give --encoding latin1 or windows-1252 if the file is not UTF-8`,
  );
}

function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    if (i + n >= b.length) return i;
    for (let k = 1; k <= n; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}

/**
 * Strict UTF-8 decoding, 4x cheaper than a fatal TextDecoder (measured 0.41 against 1.82 ms/MB
 * on 64 KiB chunks): validate with isUtf8, decode with toString. A character split across two
 * chunks waits in `carry`; a leading BOM is dropped. Throws on invalid input, as fatal does.
 */
class Utf8Decoder {
  private carry: Buffer | undefined;
  private atStart = true;

  decode(chunk?: Uint8Array, _opts?: { stream?: boolean }): string {
    if (chunk === undefined) {
      const rest = this.carry;
      this.carry = undefined;
      if (rest && rest.length > 0) {
        if (this.atStart) return this.finish(this.dropBom(rest));
        throw new Error('truncated');
      }
      return '';
    }
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.carry) {
      buf = Buffer.concat([this.carry, buf]);
      this.carry = undefined;
    }
    if (this.atStart) {
      if (buf.length < 3 && isBomPrefix(buf)) {
        this.carry = Buffer.from(buf);
        return '';
      }
      buf = this.dropBom(buf);
    }
    // Keep an incomplete last character for the next chunk.
    let i = buf.length - 1;
    let cont = 0;
    while (i >= 0 && cont < 3 && (buf[i] & 0xc0) === 0x80) {
      i--;
      cont++;
    }
    if (i >= 0) {
      const lead = buf[i];
      const need = utf8Length(lead);
      if (need > 1 && buf.length - i < need) {
        this.carry = Buffer.from(buf.subarray(i));
        buf = buf.subarray(0, i);
      }
    }
    return this.finish(buf);
  }

  private dropBom(buf: Buffer): Buffer {
    this.atStart = false;
    return buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? buf.subarray(3) : buf;
  }

  private finish(buf: Buffer): string {
    if (!isUtf8(buf)) throw new Error('invalid UTF-8');
    return buf.toString('utf8');
  }
}

const isBomPrefix = (b: Buffer) => (b.length < 1 || b[0] === 0xef) && (b.length < 2 || b[1] === 0xbb);

/**
 * The input as UTF-8 bytes for a reader that scans bytes: a UTF-8 BOM dropped, a UTF-16LE input
 * (it starts with FF FE, as decodeText sees it) decoded and re-encoded. Not checked: the reader
 * checks what it scans with isUtf8, one native call per piece.
 */
export async function* utf8Bytes(input: AsyncIterable<Buffer | string>, name: string): AsyncGenerator<Buffer> {
  const it = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const rest: AsyncIterable<Buffer | string> = { [Symbol.asyncIterator]: () => it };
  // Enough of the start to see a BOM.
  const held: Buffer[] = [];
  let size = 0;
  while (size < 3) {
    const r = await it.next();
    if (r.done) break;
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    held.push(b);
    size += b.length;
  }
  let start = Buffer.concat(held);
  if (start[0] === 0xff && start[1] === 0xfe) {
    for await (const text of decodeText(prepend(start, rest), name)) yield Buffer.from(text);
    return;
  }
  if (start[0] === 0xef && start[1] === 0xbb && start[2] === 0xbf) start = start.subarray(3);
  if (start.length > 0) yield start;
  for await (const b of rest) yield typeof b === 'string' ? Buffer.from(b) : b;
}

async function* prepend(first: Buffer, rest: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer | string> {
  yield first;
  yield* rest;
}
