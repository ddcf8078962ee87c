// Passwords never reach a log line or an error (DESIGN.md "PostgreSQL"). Every line the logger
// prints passes through redact(): URL passwords, conninfo `password=` pairs, and any value a
// command registered as secret (PGPASSWORD, BX_HASH_KEY …).
const secrets = new Set<string>();

export function addSecret(value: string | undefined): void {
  // Very short values would blank out ordinary words; a 1–3 character secret is not worth hiding.
  if (value && value.length >= 4) secrets.add(value);
}

const urlPassword = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@/\s]+)@/gi;
const kvPassword = /(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]+)/gi;

export function redact(text: string): string {
  let out = text.replace(urlPassword, '$1***@').replace(kvPassword, '$1***');
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

/** Does this argv carry a password (a URL with user:password@, or password=)? */
export const hasPassword = (arg: string) => redact(arg) !== arg;
