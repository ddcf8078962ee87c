// Constants of the PostgreSQL side that commands need without loading pg (start-up is a
// per-stage cost): defined once here, imported by commands/load.ts and pg/.
export const MODES = ['append', 'replace', 'upsert', 'replace-where'] as const;
export type Mode = (typeof MODES)[number];

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];
