// One grammar for sizes and one for single-character flags, shared by every command.
import { UsageError } from './errors.js';

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * `65536`, `512K`, `64M`, `1.5G`, `512MB`, `64MiB` → bytes (binary units, as `--memory 512MB`
 * has always meant here). A fraction is allowed with a unit; the result is at least 1.
 */
export function parseSize(flag: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(String(text));
  if (!m) throw new UsageError(`--${flag}: expected a size such as 65536, 512K, 64M, 1.5G or 512MB, got "${text}"`);
  const n = Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
  if (n < 1) throw new UsageError(`--${flag}: must be at least 1 byte, got "${text}"`);
  return n;
}

/** A one-character flag (`--delimiter ';'`, `\t` for a tab); `allowEmpty` lets "" turn a feature off. */
export function oneChar(flag: string, v: unknown, allowEmpty: boolean): string | undefined {
  if (v === undefined) return undefined;
  const s = String(v) === '\\t' ? '\t' : String(v);
  if (s === '' && allowEmpty) return '';
  if ([...s].length !== 1)
    throw new UsageError(`--${flag}: expected one character (or \\t), got ${JSON.stringify(String(v))}`);
  if (s === '\n' || s === '\r') throw new UsageError(`--${flag}: a line break cannot be the ${flag}`);
  return s;
}

/** A comma-separated, repeatable list flag (`--by a,b --by c`) as its items, blanks dropped. */
export const listItems = (vals: unknown): string[] =>
  ((vals as unknown[] | undefined) ?? [])
    .flatMap((v) => String(v).split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
