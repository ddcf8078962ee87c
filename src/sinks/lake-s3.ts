// bx-load --to parquet --path s3://bucket/prefix: the lake on S3 (docs/lake.md "S3").
//
// S3 has no rename and no symlink, so what a reader trusts is not the listing but one object per
// partition, `<partition>/_manifest.json`, naming the files of its current version. A run writes
// each file to a local spool directory (LakeSink's encoder, unchanged), uploads it under
// `<partition>/_v/<run>/` (lib-storage's Upload: one PUT, or a multipart upload for a big file;
// an upload not completed is never visible), then PUTs each partition's manifest: one PUT
// replaces an object atomically, so a reader sees the old manifest or the new one, never a mix.
// The versions a manifest no longer names are deleted after the swap. A lock object,
// `_bx/lock.json`, keeps a second writer out (exit 75); a killed run's lock is taken over once
// its pid is dead (same host) or it has not been renewed for LOCK_STALE_MS, and its uploads, which
// no manifest names, are deleted by the next run.
import { createReadStream, promises as fsp } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { CantCreateError, TempFailError, UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
import {
  deleteKeys,
  getText,
  listObjects,
  parseS3Url,
  putText,
  s3,
  s3UrlOf,
  upload,
  type Listed,
  type S3,
} from '../lib/s3.js';
import { isHidden, MANIFEST, parseManifest, type Manifest } from '../formats/parquet-files.js';
import { alive, type LakeStore, type Steps } from './lake.js';
import type { SinkRequest } from './index.js';

/** The lock object, under the lake's prefix. */
export const LOCK = '_bx/lock.json';
/** Uploads in flight at once; past this the input waits (LakeSink.write awaits drain()). */
const IN_FLIGHT = 4;
/** A lock not renewed for this long belongs to a run that is gone (a lock on another host has no pid to check). */
const LOCK_STALE_MS = 10 * 60_000;
const LOCK_RENEW_MS = 60_000;

interface LockBody {
  bx: 'lake-lock';
  run: string;
  pid: number;
  host: string;
  since: string;
  renewed: string;
}

function parseLock(text: string): LockBody | undefined {
  try {
    const l = JSON.parse(text) as LockBody;
    return l?.bx === 'lake-lock' ? l : undefined;
  } catch {
    return undefined;
  }
}

/** The partition directory (relative to the lake) and run of a key under some `_v/<run>/`, if it is one. */
function versionOf(rel: string): { dir: string; run: string } | undefined {
  const m = /^(?:(.*?)\/)?_v\/([^/]+)/.exec(rel);
  return m ? { dir: m[1] ?? '', run: m[2] } : undefined;
}

/** The directory (relative to the lake) whose manifest a key is, if it is one. */
function manifestDir(rel: string): string | undefined {
  if (rel === MANIFEST) return '';
  return rel.endsWith(`/${MANIFEST}`) ? rel.slice(0, -MANIFEST.length - 1) : undefined;
}

export class S3Lake implements LakeStore {
  private spool = '';
  private locked = false;
  private lockText = '';
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly uploads = new Set<Promise<void>>();
  private readonly aborts = new Set<() => Promise<void>>();
  private failure: unknown;
  /** This run's files per partition, as their manifest will list them. */
  private readonly files = new Map<string, Manifest['files']>();
  /** Keys this run uploaded (or began to): abort() deletes them. */
  private readonly mine: string[] = [];
  /** The lake's objects when the lock was taken, less the leftovers removed then. */
  private existing: Listed[] = [];
  private readonly base: string;

  private constructor(
    private readonly req: SinkRequest,
    private readonly s: S3,
    private readonly bucket: string,
    prefix: string,
    private readonly runId: string,
    private readonly steps: Steps,
    private readonly log: Io['log'],
    /** BX_TEST_LOCK_RENEW_MS (tests only): renew the lock this often instead of every minute. */
    private readonly renewMs = LOCK_RENEW_MS,
  ) {
    this.base = prefix ? `${prefix}/` : '';
  }

  static async open(req: SinkRequest, runId: string, steps: Steps, io: Io): Promise<S3Lake> {
    const { bucket, key } = parseS3Url(req.path);
    if (/\.parquet$/i.test(key))
      throw new UsageError(`--path ${req.path}: a lake is a prefix (s3://bucket/lake/sales), not one .parquet object`);
    const renewMs = Number(io.env.BX_TEST_LOCK_RENEW_MS) || LOCK_RENEW_MS;
    return new S3Lake(req, await s3(io.env), bucket, key.replace(/\/+$/, ''), runId, steps, io.log, renewMs);
  }

  private url(key: string) {
    return s3UrlOf(this.bucket, key);
  }

  /** The key prefix of a partition's directory ('' = the lake itself), ending in / unless it is the bucket's root. */
  private dirKey(part: string) {
    return this.base + (part ? `${part}/` : '');
  }

  async start(): Promise<void> {
    await this.sweepSpools();
    // Files are written locally first (the encoder writes synchronously), one spool per run.
    this.spool = await fsp.mkdtemp(join(tmpdir(), `bx-lake-${process.pid}-`));
    try {
      await this.lock();
      await this.recover();
    } catch (err) {
      // (open() hands a sink whose start() failed to no one: nothing else would release the lock.)
      await this.unlock().catch(() => {});
      await fsp.rm(this.spool, { recursive: true, force: true });
      throw err;
    }
  }

  dirOf(part: string): string {
    return part ? join(this.spool, part) : this.spool;
  }

  finished(part: string, path: string, rows: number): void {
    const name = basename(path);
    const rel = `_v/${this.runId}/${name}`;
    const key = this.dirKey(part) + rel;
    const job = (async () => {
      const { size } = await fsp.stat(path);
      if (this.failure) return; // aborted meanwhile: no upload to begin
      this.mine.push(key);
      const up = await upload(this.s, this.url(key), createReadStream(path), {
        contentType: 'application/vnd.apache.parquet',
      });
      this.aborts.add(up.abort);
      try {
        await up.done;
      } finally {
        this.aborts.delete(up.abort);
      }
      this.steps.step();
      let list = this.files.get(part);
      if (!list) this.files.set(part, (list = []));
      list.push({ key: rel, size, rows });
      await fsp.rm(path, { force: true });
    })();
    this.uploads.add(job);
    job.then(
      () => this.uploads.delete(job),
      (err: unknown) => {
        this.uploads.delete(job);
        this.failure ??= err;
      },
    );
  }

  async drain(): Promise<void> {
    while (this.uploads.size >= IN_FLIGHT && !this.failure) await Promise.race([...this.uploads]).catch(() => {});
    if (this.failure) throw this.failure;
  }

  async commit(parts: string[]): Promise<void> {
    await Promise.allSettled([...this.uploads]);
    if (this.failure) throw this.failure;
    await this.checkLock();
    // What each partition's swap replaces: its older versions and, in a directory another tool
    // wrote, its plain Parquet files. Anything else there and bx leaves the lake alone (73).
    const old = new Map<string, string[]>();
    for (const part of parts) {
      const dir = this.dirKey(part);
      const keys: string[] = [];
      for (const o of this.existing) {
        if (!o.key.startsWith(dir)) continue;
        const rel = o.key.slice(dir.length);
        if (rel === MANIFEST) continue;
        if (rel.startsWith('_v/')) keys.push(o.key);
        else if (rel.split('/').some(isHidden)) continue;
        else if (rel.endsWith('.parquet')) keys.push(o.key);
        else
          throw new CantCreateError(
            `--path ${this.req.path}: ${this.url(o.key)} is not a Parquet object or partition; bx replaces only a lake's own files, so it leaves this prefix alone`,
          );
      }
      old.set(part, keys);
    }
    // The commit point of each partition: one PUT of its manifest.
    for (const part of parts) {
      const files = (this.files.get(part) ?? []).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const manifest: Manifest = {
        bx: 'lake-manifest',
        format: 1,
        run: this.runId,
        written: new Date().toISOString(),
        rows: files.reduce((n, f) => n + f.rows, 0),
        files,
      };
      await putText(this.s, this.bucket, this.dirKey(part) + MANIFEST, `${JSON.stringify(manifest, null, 1)}\n`);
      this.steps.step();
    }
    // A reader that read the old manifest just before its swap and opens a file after this fails
    // with 66 rather than mixing versions, as on a file system.
    for (const part of parts) {
      const keys = old.get(part)!;
      if (!keys.length) continue;
      await deleteKeys(this.s, this.bucket, keys);
      this.steps.step();
    }
    await this.unlock();
    await fsp.rm(this.spool, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    this.failure ??= new Error('aborted');
    await Promise.allSettled([...this.aborts].map((a) => a()));
    await Promise.allSettled([...this.uploads]);
    // Uploads that completed are invisible (no manifest names them), and are removed now.
    if (this.mine.length) await deleteKeys(this.s, this.bucket, this.mine).catch(() => {});
    await fsp.rm(this.spool, { recursive: true, force: true }).catch(() => {});
    await this.unlock().catch(() => {});
  }

  /**
   * `_bx/lock.json` is created with If-None-Match: * (S3's conditional write: of two writers one
   * gets 412). A server that ignores the condition (s3rver, older MinIO and Ceph) is covered by
   * reading the lock first and reading it back after: a narrow race remains there (docs/lake.md).
   */
  private async lock(): Promise<void> {
    const key = this.base + LOCK;
    for (let attempt = 0; attempt < 3; attempt++) {
      const text = await getText(this.s, this.bucket, key);
      if (text !== undefined) {
        const held = parseLock(text);
        if (held && !this.stale(held)) throw this.heldBy(held);
        this.log.warn(
          held
            ? `${this.url(key)}: taking over the lock of run ${held.run} (pid ${held.pid} on ${held.host}, last renewed ${held.renewed}): it is gone`
            : `${this.url(key)}: replacing a lock that is not bx's`,
        );
        await deleteKeys(this.s, this.bucket, [key]);
      }
      const now = new Date().toISOString();
      const body: LockBody = {
        bx: 'lake-lock',
        run: this.runId,
        pid: process.pid,
        host: hostname(),
        since: now,
        renewed: now,
      };
      this.lockText = JSON.stringify(body);
      if (!(await putText(this.s, this.bucket, key, this.lockText, { create: true }))) continue;
      const back = await getText(this.s, this.bucket, key);
      if (back !== this.lockText) {
        const other = back === undefined ? undefined : parseLock(back);
        if (other) throw this.heldBy(other);
        continue;
      }
      this.locked = true;
      this.renewTimer = setInterval(() => void this.renew(), this.renewMs);
      this.renewTimer.unref();
      return;
    }
    throw new TempFailError(`${this.req.path}: could not take the lake's lock (${this.url(key)}); retry later`);
  }

  private stale(l: LockBody): boolean {
    if (l.host === hostname() && !alive(l.pid)) return true;
    const renewed = Date.parse(l.renewed);
    return !Number.isFinite(renewed) || Date.now() - renewed > LOCK_STALE_MS;
  }

  private heldBy(l: LockBody): TempFailError {
    return new TempFailError(
      `${this.req.path}: another bx-load (pid ${l.pid} on ${l.host}, since ${l.since}) is writing this lake; retry when it ends`,
    );
  }

  /** A long run renews its lock, so no writer on another host takes it for stale. */
  private async renew(): Promise<void> {
    if (!this.locked) return;
    try {
      await this.checkLock();
      const body = { ...(JSON.parse(this.lockText) as LockBody), renewed: new Date().toISOString() };
      this.lockText = JSON.stringify(body);
      await putText(this.s, this.bucket, this.base + LOCK, this.lockText);
    } catch (err) {
      this.failure ??= err;
    }
  }

  /** Before the commit point: the lock must still be this run's. */
  private async checkLock(): Promise<void> {
    const text = await getText(this.s, this.bucket, this.base + LOCK);
    const l = text === undefined ? undefined : parseLock(text);
    if (l?.run !== this.runId) {
      this.locked = false;
      throw new TempFailError(
        `${this.req.path}: this run lost the lake's lock${l ? ` to run ${l.run} (pid ${l.pid} on ${l.host})` : ''}; nothing was committed; retry`,
      );
    }
  }

  private async unlock(): Promise<void> {
    clearInterval(this.renewTimer);
    if (!this.locked) return;
    this.locked = false;
    await deleteKeys(this.s, this.bucket, [this.base + LOCK]);
  }

  /**
   * What a killed run left: versions no manifest names (its uploads; the old versions it had
   * swapped away but not yet deleted). A partition holding one version is left as it is; with
   * several, its manifest says which one stays.
   */
  private async recover(): Promise<void> {
    const listed = await listObjects(this.s, this.bucket, this.base);
    const runsOf = new Map<string, Set<string>>();
    const hasManifest = new Set<string>();
    for (const o of listed) {
      const rel = o.key.slice(this.base.length);
      const m = manifestDir(rel);
      if (m !== undefined) hasManifest.add(m);
      const v = versionOf(rel);
      if (!v) continue;
      let runs = runsOf.get(v.dir);
      if (!runs) runsOf.set(v.dir, (runs = new Set()));
      runs.add(v.run);
    }
    const dead = new Set<string>();
    for (const [dir, runs] of runsOf) {
      let keep: string | undefined;
      if (hasManifest.has(dir)) {
        if (runs.size === 1) continue;
        const text = await getText(this.s, this.bucket, this.dirKey(dir) + MANIFEST);
        keep = text === undefined ? undefined : parseManifest(text, this.url(this.base + dir)).run;
      }
      for (const r of runs) if (r !== keep) dead.add(`${dir}\u0000${r}`);
    }
    const gone: string[] = [];
    for (const o of listed) {
      const v = versionOf(o.key.slice(this.base.length));
      if (v && dead.has(`${v.dir}\u0000${v.run}`)) gone.push(o.key);
    }
    if (gone.length) {
      this.log.warn(
        `${this.req.path}: removing ${gone.length} object${gone.length === 1 ? '' : 's'} a killed or failed run left`,
      );
      await deleteKeys(this.s, this.bucket, gone);
    }
    const goneSet = new Set(gone);
    this.existing = listed.filter((o) => !goneSet.has(o.key) && !o.key.endsWith(LOCK));
    await this.abortStaleUploads();
  }

  /** Multipart uploads a killed run left (billed until aborted; a lifecycle rule also does it). */
  private async abortStaleUploads(): Promise<void> {
    const { sdk, client } = this.s;
    try {
      const r = await client.send(new sdk.ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.base }));
      for (const u of r.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !versionOf(u.Key.slice(this.base.length))) continue;
        await client.send(
          new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
        );
      }
    } catch (err) {
      // s3rver has no ListMultipartUploads (501); S3 itself needs s3:ListBucketMultipartUploads.
      this.log.debug(`${this.req.path}: unfinished multipart uploads not checked: ${(err as Error).name}`);
    }
  }

  /** Spool directories of runs on this host that were killed (their pid is dead). */
  private async sweepSpools(): Promise<void> {
    for (const n of await fsp.readdir(tmpdir()).catch(() => [] as string[])) {
      const m = /^bx-lake-(\d+)-/.exec(n);
      if (m && !alive(Number(m[1]))) await fsp.rm(join(tmpdir(), n), { recursive: true, force: true }).catch(() => {});
    }
  }
}
