// Snappy compression for bx's Parquet pages: hyparquet-writer's snappyCompress (the snappyjs
// port: one hash table of up to 2^14 entries over the whole input, matches up to 64 KB back),
// written again to emit the same bytes without its ByteWriter: that path went through
// ensure() and a DataView call per tag byte and a subarray per literal, ~12 % of a lake write's
// profile (1 M sales rows, --cpu-prof). Here the output goes into one buffer sized for the worst
// case up front, literals are copied byte by byte (most are a few bytes long), the hash table is
// reused, and words are read and matches extended four bytes at a time. test/formats/snappy.test.ts holds this to hyparquet-writer's bytes.

const MAX_HASH_TABLE_BITS = 14;
const MAX_OFFSET = 0xffff;
const INPUT_MARGIN = 15;

const tables: (Uint32Array | undefined)[] = [];
let out = new Uint8Array(64 * 1024);

const hash = (key: number, shift: number) => Math.imul(key, 0x1e35a7bd) >>> shift;

/** `input` Snappy-compressed, as hyparquet-writer's snappyCompress compresses it (a new array). */
export function snappyCompress(input: Uint8Array): Uint8Array {
  const n = input.length;
  // Snappy's bound on the compressed length (MaxCompressedLength), plus the length's varint.
  const bound = 32 + n + Math.floor(n / 6) + 5;
  if (out.length < bound) out = new Uint8Array(Math.max(bound, out.length * 2));
  const o = out;
  // Four bytes read in one DataView call (the original's load32 read four and shifted them).
  const dv = new DataView(input.buffer, input.byteOffset, n);
  let p = 0;
  for (let v = n; ; v >>>= 7) {
    if (v < 0x80) {
      o[p++] = v;
      break;
    }
    o[p++] = (v & 0x7f) | 0x80;
  }
  let bits = 1;
  while (1 << bits <= n && bits <= MAX_HASH_TABLE_BITS) bits++;
  bits--;
  const shift = 32 - bits;
  const table = (tables[bits] ??= new Uint32Array(1 << bits));
  // Zeroed as the original's: an empty slot is a candidate at position 0, and is checked like one.
  table.fill(0);

  let ip = 0;
  let nextEmit = 0;
  if (n >= INPUT_MARGIN) {
    const ipLimit = n - INPUT_MARGIN;
    ip++;
    let nextHash = hash(dv.getInt32(ip, true), shift);
    outer: for (;;) {
      let skip = 32;
      let nextIp = ip;
      let candidate: number;
      do {
        ip = nextIp;
        const h = nextHash;
        nextIp = ip + (skip >>> 5);
        skip++;
        if (ip > ipLimit) break outer;
        // Past the end the hash is never used (ip > ipLimit ends the loop first); the original read undefined.
        nextHash = nextIp + 4 <= n ? hash(dv.getInt32(nextIp, true), shift) : 0;
        candidate = table[h];
        table[h] = ip;
      } while (ip - candidate > MAX_OFFSET || dv.getInt32(ip, true) !== dv.getInt32(candidate, true));

      p = literal(o, p, input, nextEmit, ip - nextEmit);

      for (;;) {
        const base = ip;
        let matched = 4;
        // The match extended four bytes at a time, then byte by byte to its first difference.
        while (ip + matched + 4 <= n && dv.getInt32(ip + matched, true) === dv.getInt32(candidate + matched, true))
          matched += 4;
        while (ip + matched < n && input[ip + matched] === input[candidate + matched]) matched++;
        ip += matched;
        p = copy(o, p, base - candidate, matched);
        nextEmit = ip;
        if (ip >= ipLimit) break outer;
        table[hash(dv.getInt32(ip - 1, true), shift)] = ip - 1;
        const h = hash(dv.getInt32(ip, true), shift);
        candidate = table[h];
        table[h] = ip;
        if (ip - candidate > MAX_OFFSET || dv.getInt32(ip, true) !== dv.getInt32(candidate, true)) break;
      }
      ip++;
      nextHash = hash(dv.getInt32(ip, true), shift);
    }
  }
  if (nextEmit < n) p = literal(o, p, input, nextEmit, n - nextEmit);
  return o.slice(0, p);
}

function literal(o: Uint8Array, p: number, input: Uint8Array, from: number, len: number): number {
  if (len <= 60) o[p++] = (len - 1) << 2;
  else {
    const v = len - 1;
    const k = v < 0x100 ? 1 : v < 0x10000 ? 2 : v < 0x1000000 ? 3 : 4;
    o[p++] = (59 + k) << 2;
    for (let i = 0; i < k; i++) o[p++] = v >>> (i * 8);
  }
  if (len < 64) for (let i = 0; i < len; i++) o[p + i] = input[from + i];
  else o.set(input.subarray(from, from + len), p);
  return p + len;
}

function copy(o: Uint8Array, p: number, offset: number, len: number): number {
  while (len >= 68) {
    p = copyUpTo64(o, p, offset, 64);
    len -= 64;
  }
  if (len > 64) {
    p = copyUpTo64(o, p, offset, 60);
    len -= 60;
  }
  return copyUpTo64(o, p, offset, len);
}

function copyUpTo64(o: Uint8Array, p: number, offset: number, len: number): number {
  if (len < 12 && offset < 2048) {
    o[p++] = 1 + ((len - 4) << 2) + ((offset >>> 8) << 5);
    o[p++] = offset & 0xff;
  } else {
    o[p++] = 2 + ((len - 1) << 2);
    o[p++] = offset & 0xff;
    o[p++] = offset >>> 8;
  }
  return p;
}
