// `COPY … TO STDOUT` read straight off node-postgres's socket (docs/design.md "Database
// sources"). pg-copy-streams made a Buffer per CopyData message (one per row) and pushed them
// through a Readable: a sixth of an extract's CPU. Here the socket's own chunks are walked
// frame by frame and each row's bytes go to the transcoder where they lie; only a message cut
// by a chunk's end is copied (into `carry`). The socket is paused while a batch waits for the
// consumer, so memory stays flat. Anything but CopyOutResponse/CopyData/notices (CopyDone,
// ErrorResponse) hands the connection back to node-postgres with the bytes not yet read.
import type { Socket } from 'node:net';

/** Whole COPY text lines: buf[a, z) ends just past a newline. */
export type LineSink = (buf: Buffer, a: number, z: number) => void;

/**
 * The fast path beside a LineSink: takes the CopyData messages from buf[i] on that lie whole
 * in buf[i, n) and end in a newline, and returns where the first one it left starts (i if
 * none). The rest of the chunk goes the LineSink's way.
 */
export type MessageSink = (buf: Buffer, i: number, n: number) => number;

const COPY_DATA = 0x64; // d
const COPY_OUT = 0x48; // H
const NOTICE = 0x4e; // N
const PARAM = 0x53; // S
const NOTIFY = 0x41; // A

/**
 * CopyData payloads → whole lines. A row is normally one message, but the protocol lets a
 * message hold part of a row or several; pieces without their newline wait in `carry`.
 */
export class CopyFrames {
  /** Bytes of the message header read so far (code + length), when a chunk cut it. */
  private head = Buffer.alloc(5);
  private headLen = 0;
  private code = 0;
  /** Payload bytes of the current message still to come. */
  private left = 0;
  private carry = Buffer.allocUnsafe(1 << 16);
  private carryLen = 0;
  /** Set by a message that ends the copy (CopyDone, ErrorResponse, …): the offset of its code byte in the chunk. */
  stop = -1;

  constructor(
    private readonly sink: LineSink,
    private readonly messages?: MessageSink,
  ) {}

  /** Walks one chunk; returns the offset where the copy's messages end (chunk.length if they go on). */
  chunk(b: Buffer): number {
    let i = 0;
    const n = b.length;
    while (i < n) {
      if (this.left > 0) {
        const z = Math.min(n, i + this.left);
        if (this.code === COPY_DATA) this.payload(b, i, z, z - i === this.left);
        this.left -= z - i;
        i = z;
        continue;
      }
      // A header: code byte and 4-byte length, perhaps cut by the chunk's end.
      if (this.headLen === 0) {
        const c = b[i];
        // Whole rows in whole messages (nearly all of them) go to the transcoder as they lie.
        if (c === COPY_DATA && this.carryLen === 0 && this.messages) {
          const j = this.messages(b, i, n);
          if (j > i) {
            i = j;
            continue;
          }
        }
        if (c !== COPY_DATA && c !== COPY_OUT && c !== NOTICE && c !== PARAM && c !== NOTIFY) {
          this.stop = i;
          return i;
        }
        if (i + 5 <= n) {
          this.code = c;
          this.left = b.readUInt32BE(i + 1) - 4;
          i += 5;
          continue;
        }
      }
      while (this.headLen < 5 && i < n) this.head[this.headLen++] = b[i++];
      if (this.headLen === 5) {
        this.code = this.head[0];
        this.left = this.head.readUInt32BE(1) - 4;
        this.headLen = 0;
      }
    }
    return n;
  }

  private payload(b: Buffer, a: number, z: number, whole: boolean): void {
    if (this.carryLen === 0 && whole && z > a && b[z - 1] === 10) {
      this.sink(b, a, z);
      return;
    }
    if (z === a) return;
    const need = this.carryLen + (z - a);
    if (need > this.carry.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.carry.length * 2));
      this.carry.copy(bigger, 0, 0, this.carryLen);
      this.carry = bigger;
    }
    // A row cut by a chunk's end is a few dozen bytes: a loop, not Buffer.copy (whose own
    // overhead was 1.3 % of an extract's CPU, with a chunk of 8 KiB from a busy server).
    if (z - a > 64) b.copy(this.carry, this.carryLen, a, z);
    else for (let i = a, o = this.carryLen; i < z; i++) this.carry[o++] = b[i];
    this.carryLen = need;
    const last = this.carry.lastIndexOf(10, this.carryLen - 1);
    if (last < 0) return;
    this.sink(this.carry, 0, last + 1);
    const rest = this.carryLen - last - 1;
    if (rest > 64) this.carry.copy(this.carry, 0, last + 1, this.carryLen);
    else for (let i = 0; i < rest; i++) this.carry[i] = this.carry[last + 1 + i];
    this.carryLen = rest;
    if (this.carry.length > 1 << 20 && rest < 1 << 16) this.carry = Buffer.from(this.carry.subarray(0, 1 << 16));
  }

  /** Bytes of a line the copy has not finished (a truncated stream if the copy ends here). */
  get pending(): number {
    return this.carryLen + this.headLen + this.left;
  }
}

interface PgConnection {
  stream: Socket;
  query(text: string): void;
}

/**
 * A node-postgres submittable (client.query(new CopyOut(…))) running `COPY … TO STDOUT`.
 * pump() reads until `enough()` says a batch is ready or the copy ends; then the consumer takes
 * the batch and calls pump() again. The socket is paused in between.
 */
export class CopyOut {
  private conn?: PgConnection;
  private pgData?: (b: Buffer) => void;
  private readonly frames: CopyFrames;
  private error: Error | undefined;
  /** CopyDone seen: the rows are all in. */
  private copied = false;
  /** ReadyForQuery seen: the connection is node-postgres's again. */
  private ready = false;
  private wake: (() => void) | undefined;
  private enough: () => boolean = () => false;
  private readonly onData = (b: Buffer) => this.data(b);
  private readonly onClose = () => {
    if (!this.ready && !this.error) this.fail(new Error('Connection terminated unexpectedly'));
  };
  rowCount = 0;
  callback?: unknown;

  constructor(
    readonly text: string,
    sink: LineSink,
    messages?: MessageSink,
  ) {
    this.frames = new CopyFrames(sink, messages);
  }

  submit(connection: PgConnection): void {
    this.conn = connection;
    const s = connection.stream;
    const listeners = s.listeners('data') as ((b: Buffer) => void)[];
    if (listeners.length !== 1) throw new Error('bx: unexpected node-postgres connection state');
    this.pgData = listeners[0];
    s.removeListener('data', this.pgData);
    s.on('data', this.onData);
    s.on('close', this.onClose);
    s.pause();
    connection.query(this.text);
  }

  private data(b: Buffer): void {
    const end = this.frames.chunk(b);
    if (this.frames.stop >= 0) {
      this.copied = true;
      this.detach(end < b.length ? b.subarray(end) : undefined);
    } else if (this.enough()) this.conn!.stream.pause();
    this.wake?.();
  }

  private detach(rest: Buffer | undefined): void {
    const s = this.conn!.stream;
    s.removeListener('data', this.onData);
    s.on('data', this.pgData!);
    if (rest) this.pgData!(rest);
    s.resume();
  }

  private fail(err: Error): void {
    this.error ??= err;
    this.wake?.();
  }

  /** Reads rows until enough() or the end; resolves false once the copy is over (all rows handed to the sink). */
  async pump(enough: () => boolean): Promise<boolean> {
    this.enough = enough;
    if (!this.copied) this.conn?.stream.resume();
    for (;;) {
      if (this.error) throw this.error;
      if (this.ready) return false;
      if (!this.copied && enough()) {
        this.conn!.stream.pause();
        return true;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** Stops reading: the socket is about to be destroyed. */
  abandon(): void {
    const s = this.conn?.stream;
    if (!s) return;
    s.removeListener('data', this.onData);
    s.removeListener('close', this.onClose);
  }

  // node-postgres calls these once the connection is its own again.
  handleError(err: Error): void {
    this.fail(err);
  }
  handleCommandComplete(msg: { text?: string }): void {
    const m = /COPY (\d+)/.exec(msg?.text ?? '');
    if (m) this.rowCount = Number(m[1]);
  }
  handleReadyForQuery(): void {
    this.ready = true;
    this.conn?.stream.removeListener('close', this.onClose);
    if (!this.error && this.frames.pending > 0) this.fail(new Error('COPY data ended inside a row'));
    this.wake?.();
  }
  handleEmptyQuery(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
}
