// The file side of a Parquet lake: which files a target names (a file, a directory, a glob), in
// a stable order, and the hive fields their paths carry. Shared by the source and the sink.
import { promises as fsp, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { InputMissingError } from '../lib/errors.js';

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
