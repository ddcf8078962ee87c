// The bx family: name → its module, loaded only when asked for (start-up is a per-stage cost).
export interface CommandModule {
  describe: string;
  main: (argv: string[]) => Promise<number>;
}

export const commands: Record<string, () => Promise<CommandModule>> = {
  extract: () => import('./extract.js'),
  clean: () => import('./clean.js'),
  agg: () => import('./agg.js'),
  load: () => import('./load.js'),
  schema: () => import('./schema.js'),
  db: () => import('./db.js'),
  report: () => import('./report.js'),
  runs: () => import('./runs.js'),
  join: () => import('./join.js'),
};

/** One line per command for `bx --help`; kept here so it does not load every module. */
export const summaries: Record<string, string> = {
  extract: 'turn CSV, TSV, NDJSON, JSON and XML files into NDJSON records',
  clean: 'type, validate, normalise, derive, filter, dedupe and mask records',
  agg: 'group-by aggregates, top-N, mergeable partial results',
  load: 'load records into PostgreSQL with COPY, atomically',
  schema: 'infer a Table Schema from records, or print its SQL DDL',
  db: 'start, stop and show a project-local embedded PostgreSQL',
  report: 'HTML report (inline SVG charts, tables), Markdown or a terminal table',
  runs: 'what ran, when and how it ended, from the run log (BX_RUN_LOG)',
  join: 'append the fields of a lookup file to each record with the same key (hash join)',
};
