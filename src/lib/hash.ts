// Privacy transforms for bx-clean: --hash (keyed, stable), --mask, --redact.
import { createHmac } from 'node:crypto';
import { ConfigError } from './errors.js';

export const HASH_KEY_ENV = 'BX_HASH_KEY';
const MIN_KEY_LENGTH = 16;

/**
 * HMAC-SHA-256 of a value's text under BX_HASH_KEY, as 64 hex digits. The same key gives the
 * same digest on every run and machine, so hashed columns still join; without the key the
 * digest cannot be recomputed from a guessed value (as a plain SHA-256 of an e-mail could).
 * The key never appears in output or logs (cli() registers it as a secret for redaction).
 */
export class Hasher {
  // Hashing costs ~3 µs a value here; repeated values (customer ids) come from this cache.
  private readonly cache = new Map<string, string>();

  private constructor(private readonly key: Buffer) {}

  static fromEnv(env: Record<string, string | undefined>): Hasher {
    const key = env[HASH_KEY_ENV];
    if (!key)
      throw new ConfigError(
        `--hash needs a secret key in the environment variable ${HASH_KEY_ENV} (e.g. export ${HASH_KEY_ENV}="$(openssl rand -hex 32)"); refusing to write unkeyed hashes`,
      );
    if (key.length < MIN_KEY_LENGTH)
      throw new ConfigError(
        `${HASH_KEY_ENV} is too short: use at least ${MIN_KEY_LENGTH} characters (e.g. openssl rand -hex 32)`,
      );
    return new Hasher(Buffer.from(key, 'utf8'));
  }

  hash(v: unknown): unknown {
    if (v === null || v === undefined) return v ?? null;
    const text =
      typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
    let h = this.cache.get(text);
    if (h === undefined) {
      h = createHmac('sha256', this.key).update(text, 'utf8').digest('hex');
      if (this.cache.size >= 65536) this.cache.clear();
      this.cache.set(text, h);
    }
    return h;
  }
}

/**
 * Keeps the last 4 characters and replaces the others with "*" (a card number becomes
 * ************1234). A value of 4 characters or fewer is masked whole: keeping it would show it all.
 */
export function mask(v: unknown): unknown {
  if (v === null || v === undefined) return v ?? null;
  const chars = [...(typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v))];
  if (chars.length <= 4) return '*'.repeat(chars.length);
  return '*'.repeat(chars.length - 4) + chars.slice(-4).join('');
}
