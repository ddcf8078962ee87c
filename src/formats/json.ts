// JSON: the records are the elements of the top-level array, or of the array at --record-path
// (keys from the top: `data.items`). The document is scanned in chunks and only one element is
// held at a time, so a multi-GB array streams in flat memory; each element goes through
// parseJson, which keeps numbers exact and bounds nesting.
import { DataError, type Origin } from '../lib/errors.js';
import { parseJson } from '../lib/json.js';
import type { Rec } from '../lib/records.js';
import { readParsed, RecordCollector } from './chunked.js';
import type { ReadContext, ReadOptions, Reader } from './index.js';

export const jsonReader: Reader = (input, opts, ctx) =>
  readParsed(input, opts.encoding, new JsonArrayScanner(input.name, opts, ctx));

const OBJ = 123; // {
const ARR = 91; // [

class JsonArrayScanner extends RecordCollector {
  private line = 1;
  private inString = false;
  private escaped = false;
  /** Open containers, outermost first. */
  private readonly stack: number[] = [];
  /** The key whose value is being read, per open object. */
  private readonly keys: (string | undefined)[] = [];
  private readonly path: string[];
  /** Depth of the record array's elements while inside it, else -1. */
  private target = -1;
  private found = false;
  // A string that may be a key: its text so far.
  private keyParts: string[] | undefined;
  private keyStart = -1;
  private lastString: string | undefined;
  // The element being read: its text so far, where it starts in the current chunk, its line.
  private elemParts: string[] | undefined;
  private elemStart = -1;
  private elemLine = 0;
  private elemSize = 0;
  private elemScalar = false;

  constructor(
    name: string,
    private readonly opts: ReadOptions,
    private readonly ctx: ReadContext,
  ) {
    super(name);
    this.path = opts.recordPath ?? [];
  }

  private at(): Origin {
    return { file: this.name, line: this.line };
  }

  feed(s: string) {
    const n = s.length;
    const stack = this.stack;
    if (this.elemParts) this.elemStart = 0;
    if (this.keyParts) this.keyStart = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92) this.escaped = true;
        else if (c === 34) {
          this.inString = false;
          if (this.keyStart >= 0) this.endKey(s, i + 1);
          if (this.elemScalar && stack.length === this.target) this.endElement(s, i + 1);
        } else if (c === 10) this.line++;
        continue;
      }
      switch (c) {
        case 10:
          this.line++;
          break;
        case 32:
        case 9:
        case 13:
          break;
        case 34: // "
          this.inString = true;
          if (stack.length === this.target && !this.elemParts) this.startElement(i, true);
          else if (
            !this.elemParts &&
            stack.length > 0 &&
            stack.length <= this.path.length &&
            stack[stack.length - 1] === OBJ
          ) {
            this.keyStart = i;
            this.keyParts = [];
          }
          break;
        case OBJ:
        case ARR:
          if (stack.length === this.target && !this.elemParts) this.startElement(i, false);
          if (stack.length >= this.opts.maxDepth)
            throw new DataError(
              this.at(),
              undefined,
              `JSON nested deeper than ${this.opts.maxDepth} levels (the --max-depth limit)`,
            );
          if (c === ARR && this.target < 0 && !this.found && this.matchesPath()) {
            this.found = true;
            this.target = stack.length + 1;
          }
          stack.push(c);
          this.keys.push(undefined);
          break;
        case 125: // }
        case 93: // ]
          if (this.elemScalar && stack.length === this.target) this.endElement(s, i);
          if (stack.length === 0 || stack[stack.length - 1] !== (c === 93 ? ARR : OBJ)) {
            throw new DataError(this.at(), undefined, `not valid JSON: unexpected "${s[i]}"`);
          }
          stack.pop();
          this.keys.pop();
          if (stack.length === this.target && this.elemParts) this.endElement(s, i + 1);
          else if (stack.length === this.target - 1) this.target = -1;
          break;
        case 58: // :
          if (!this.elemParts && stack.length > 0) this.keys[stack.length - 1] = this.lastString;
          break;
        case 44: // ,
          if (this.elemScalar && stack.length === this.target) this.endElement(s, i);
          break;
        default:
          if (stack.length === this.target && !this.elemParts) this.startElement(i, true);
      }
    }
    if (this.elemParts) {
      const piece = s.slice(this.elemStart);
      this.elemParts.push(piece);
      this.elemSize += piece.length;
      if (this.elemSize > this.opts.maxRecordSize) {
        throw new DataError(
          { file: this.name, line: this.elemLine },
          undefined,
          `record longer than ${this.opts.maxRecordSize} characters (the --max-record-size limit)`,
        );
      }
    }
    if (this.keyParts && this.keyStart >= 0) this.keyParts.push(s.slice(this.keyStart));
  }

  private matchesPath(): boolean {
    const p = this.path;
    if (this.stack.length !== p.length) return false;
    for (let l = 0; l < p.length; l++) if (this.stack[l] !== OBJ || this.keys[l] !== p[l]) return false;
    return true;
  }

  private endKey(s: string, end: number) {
    const raw = this.keyParts!.join('') + s.slice(this.keyStart, end);
    this.keyParts = undefined;
    this.keyStart = -1;
    try {
      this.lastString = JSON.parse(raw) as string;
    } catch {
      throw new DataError(this.at(), undefined, `not valid JSON: bad string ${raw.slice(0, 80)}`);
    }
  }

  private startElement(i: number, scalar: boolean) {
    this.elemParts = [];
    this.elemStart = i;
    this.elemLine = this.line;
    this.elemSize = 0;
    this.elemScalar = scalar;
  }

  private endElement(s: string, end: number) {
    const text = this.elemParts!.join('') + s.slice(this.elemStart, end);
    this.elemParts = undefined;
    this.elemScalar = false;
    const at = { file: this.name, line: this.elemLine };
    let value: unknown;
    try {
      value = parseJson(text, at, this.opts.maxDepth - this.target);
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      this.ctx.reject(text.length > 1000 ? text.slice(0, 1000) : text, { rule: 'json', message: err.detail }, at);
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.ctx.reject(
        value,
        {
          rule: 'json',
          message: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`,
        },
        at,
      );
      return;
    }
    this.records.push(value as Rec);
    this.lines.push(this.elemLine);
  }

  end() {
    if (this.inString || this.elemParts || this.stack.length > 0)
      throw new DataError(this.at(), undefined, 'not valid JSON: the document ends inside a value');
    if (!this.found) {
      const where = this.path.length
        ? `no array at --record-path ${this.path.join('.')}`
        : 'the top-level JSON value is not an array; name the array of records with --record-path';
      throw new DataError(this.at(), undefined, where);
    }
  }
}
