// The file side of a Parquet lake: which files a target names (a file, a directory, a glob), in
// a stable order, and the hive fields their paths carry. Shared by the source and the sink.
import { promises as fsp, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { DataError, InputMissingError } from '../lib/errors.js';
import { getText, listObjects, rememberSize, s3, s3ReadTarget, s3UrlOf, sizeOf } from '../lib/s3.js';

/** Hive's name for a null partition value (Hive, Spark and DuckDB write it the same way). */
export const HIVE_NULL = '__HIVE_DEFAULT_PARTITION__';

/**
 * A partition value as a path segment: %-escaped as DuckDB does (`a/b=c d%` → `a%2Fb%3Dc%20d%25`),
 * null and "" as __HIVE_DEFAULT_PARTITION__.
 */
export function hiveEscape(v: string | null): string {
  if (v === null || v === '') return HIVE_NULL;
  return encodeURIComponent(v).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function hiveUnescape(s: string): string | null {
  if (s === HIVE_NULL) return null;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Entries a reader skips: hidden or temporary (`.bx/`, `_SUCCESS`, `.part-….tmp`), as Spark and DuckDB do. */
export const isHidden = (name: string) => name.startsWith('.') || name.startsWith('_');

/** The `k=v` directory segments of a path, in order: the hive fields of the file. */
export function hiveFields(path: string): [string, string | null][] {
  const parts = path.split(/[\\/]/);
  parts.pop();
  const out: [string, string | null][] = [];
  for (const p of parts) {
    const i = p.indexOf('=');
    if (i > 0) out.push([hiveUnescape(p.slice(0, i)) ?? p.slice(0, i), hiveUnescape(p.slice(i + 1))]);
  }
  return out;
}

const GLOB_CHARS = /[*?[]/;

/** A glob (`*`, `?`, `[abc]`, `**` for any depth) as a regular expression over the whole path. */
function globRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:[^/]*/)*';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = glob.indexOf(']', i + 1);
      if (j < 0) re += '\\[';
      else {
        re += `[${glob
          .slice(i + 1, j)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = j;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function statOf(path: string): Promise<Stats | undefined> {
  return fsp.stat(path).catch(() => undefined);
}

/** Every file under `dir` (symlinks followed: bx's partitions are symlinks), hidden entries skipped. */
async function walk(dir: string, out: string[], filter: (p: string) => boolean, depth = 0): Promise<void> {
  if (depth > 64) return;
  const names = await fsp.readdir(dir).catch((err) => {
    throw new InputMissingError(
      `${dir}: cannot read the directory (${(err as Error).message.replace(/^[A-Z]+: /, '')})`,
    );
  });
  for (const name of names) {
    if (isHidden(name)) continue;
    const p = dir === '.' ? name : join(dir, name);
    const st = await statOf(p);
    if (!st) continue; // a symlink swapped away while we list: the new one is found under its name
    if (st.isDirectory()) await walk(p, out, filter, depth + 1);
    else if (st.isFile() && filter(p)) out.push(p);
  }
}

const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The Parquet files a target names, sorted by path (a stable order whatever the file system
 * lists): a file; a directory (every `*.parquet` below it, hidden and `_` entries skipped); a
 * glob. None is exit 66.
 */
export async function lakeFiles(target: string): Promise<string[]> {
  const norm = target.split(sep).join('/');
  if (GLOB_CHARS.test(norm)) {
    const parts = norm.split('/');
    const fixed: string[] = [];
    for (const p of parts) {
      if (GLOB_CHARS.test(p)) break;
      fixed.push(p);
    }
    const base = fixed.length === 0 ? '.' : fixed.join('/') || '/';
    const re = globRegex(norm.replace(/^\.\//, ''));
    const files: string[] = [];
    const st = await statOf(base);
    if (st?.isDirectory())
      await walk(base === '.' ? '.' : base, files, (p) => re.test(p.split(sep).join('/').replace(/^\.\//, '')));
    if (files.length === 0) throw new InputMissingError(`${target}: no file matches`);
    return files.sort(byPath);
  }
  const st = await statOf(target);
  if (!st) throw new InputMissingError(`${target}: no such file or directory`);
  if (st.isFile()) return [target];
  const files: string[] = [];
  await walk(target.replace(/\/+$/, '') || '/', files, (p) => p.endsWith('.parquet'));
  if (files.length === 0) throw new InputMissingError(`${target}: no .parquet files in the directory`);
  return files.sort(byPath);
}

/** The commit point of a partition of an S3 lake: the one object naming its current files. */
export const MANIFEST = '_manifest.json';

/** `_manifest.json`: the files of a partition's current version, keys relative to its directory. */
export interface Manifest {
  bx: 'lake-manifest';
  format: 1;
  run: string;
  written: string;
  rows: number;
  files: { key: string; size: number; rows: number }[];
}

export function parseManifest(text: string, where: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    throw new DataError(undefined, undefined, `${where}: not a bx lake manifest (not JSON)`);
  }
  if (m?.bx !== 'lake-manifest' || !Array.isArray(m.files))
    throw new DataError(undefined, undefined, `${where}: not a bx lake manifest`);
  return m;
}

/**
 * The Parquet objects an s3:// target names, sorted by key: one `.parquet` object, or every one
 * under a prefix. A directory with a `_manifest.json` (a partition bx wrote) contributes exactly
 * the files its manifest names, whatever else is listed there (a run in progress, an old version
 * not yet deleted); a directory without one (another tool's) is read as listed. Hidden (`.`, `_`)
 * entries are skipped as on a file system.
 */
export async function s3LakeFiles(target: string, env: Record<string, string | undefined>): Promise<string[]> {
  const client = await s3(env);
  const { bucket, key } = s3ReadTarget(target);
  if (/\.parquet$/i.test(key)) {
    await sizeOf(client, target);
    return [target];
  }
  const prefix = key.replace(/\/+$/, '');
  const base = prefix ? `${prefix}/` : '';
  const listed = await listObjects(client, bucket, base);
  const rel = (k: string) => k.slice(base.length);
  const dirOf = (r: string) => r.slice(0, Math.max(0, r.lastIndexOf('/')));
  const manifests = listed.filter((o) => {
    const r = rel(o.key);
    const segs = r.split('/');
    return segs.pop() === MANIFEST && !segs.some(isHidden);
  });
  const covered = new Set(manifests.map((o) => dirOf(rel(o.key))));
  // Is a file in a directory (or below one) that has a manifest? Its ancestors, looked up one by one.
  const inManifestDir = (r: string) => {
    for (let d = dirOf(r); ; d = dirOf(d)) {
      if (covered.has(d)) return true;
      if (d === '') return false;
    }
  };
  const files: string[] = [];
  for (const o of listed) {
    const r = rel(o.key);
    if (!r.endsWith('.parquet') || r.split('/').some(isHidden)) continue;
    if (inManifestDir(r)) continue;
    const url = s3UrlOf(bucket, o.key);
    rememberSize(url, o.size);
    files.push(url);
  }
  for (const o of manifests) {
    const dir = dirOf(o.key);
    const url = s3UrlOf(bucket, o.key);
    // Gone since the listing: its partition was replaced or removed, and the new manifest was listed too.
    const text = await getText(client, bucket, o.key);
    if (text === undefined) continue;
    for (const f of parseManifest(text, url).files) {
      const fileUrl = s3UrlOf(bucket, dir ? `${dir}/${f.key}` : f.key);
      rememberSize(fileUrl, f.size);
      files.push(fileUrl);
    }
  }
  if (files.length === 0)
    throw new InputMissingError(
      listed.length === 0
        ? `${target}: no objects under this prefix`
        : `${target}: no .parquet objects under this prefix`,
    );
  return files.sort(byPath);
}
