import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

/**
 * The CA certificates a TLS connection that verifies its server trusts when the caller names no
 * CA of its own: Node's default store, plus NODE_EXTRA_CA_CERTS.
 *
 * Node 20 reads and parses NODE_EXTRA_CA_CERTS before any JavaScript runs: with the ~140
 * certificates of a system bundle (a common setting) that was ~45 ms of every bx command's
 * start-up (64 % of `node -e 0`'s instructions under callgrind), paid by every stage of every
 * pipe that never opens a TLS connection. So the bin/ shims start node without it and pass its
 * value on in BX_DEFERRED_CA_CERTS (bin/launch.cjs puts NODE_EXTRA_CA_CERTS back into the
 * environment, for child processes); the connections that verify a server add the file here.
 * Undefined when nothing was deferred: Node's own default store, extras included, applies.
 */
export function defaultCa(): string[] | undefined {
  const file = process.env.BX_DEFERRED_CA_CERTS;
  if (!file) return undefined;
  cached ??= [...rootCertificates, ...extraCerts(file)];
  return cached;
}
let cached: string[] | undefined;

/** The certificates in the file, as Node takes them: a file it cannot read adds none (it warns). */
function extraCerts(file: string): string[] {
  try {
    return readFileSync(file, 'latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  } catch (err) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    return [];
  }
}
