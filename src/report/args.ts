// bx-report's sections come from the order of argv: each --section starts one, and the
// --chart/--x/--y/--title/--query/FILE after it belong to it. yargs keeps values per option
// but not their order among each other, so the order is read from argv itself, by the option
// table of the command (which flags take a value), after yargs has checked the argv.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError, InputMissingError, UsageError } from '../lib/errors.js';
import { SECTION_KINDS, type InputRef, type SectionKind, type SectionSpec } from './model.js';

/** Options that take a value (their next token is not a FILE). Short aliases included. */
export const VALUE_OPTIONS = new Set([
  'section',
  'chart',
  'x',
  'y',
  'title',
  'spec',
  'query',
  'db',
  'format',
  'f',
  'output',
  'o',
  'max-rows',
  'run-summary',
  'raw',
  'log-format',
]);
const PER_SECTION = new Set(['chart', 'x', 'y', 'title', 'query']);

interface Draft {
  heading?: string;
  chart?: string;
  x?: string;
  y?: string;
  title?: string;
  inputs: InputRef[];
}

export interface ArgvSections {
  /** --title before the first --section. */
  title?: string;
  /** --chart/--x/--y before the first --section: defaults for every section. */
  defaults: Draft;
  sections: Draft[];
}

/** Walks argv in order; the values are as yargs would read them (`--x=a` and `--x a`). */
export function scanArgv(argv: string[]): ArgvSections {
  const head: Draft = { inputs: [] };
  const sections: Draft[] = [];
  let cur = head;
  const set = (name: string, value: string) => {
    if (name === 'section') {
      cur = { heading: value, inputs: [] };
      sections.push(cur);
      return;
    }
    if (name === 'query') {
      cur.inputs.push({ kind: 'query', sql: value });
      return;
    }
    if (!PER_SECTION.has(name)) return;
    const key = name as 'chart' | 'x' | 'y' | 'title';
    if (cur[key] !== undefined) {
      const where = cur === head ? 'before the first --section' : `in section "${cur.heading}"`;
      throw new UsageError(
        `--${name} given twice ${where} ("${cur[key]}" and "${value}"); start another --section for another chart`,
      );
    }
    cur[key] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === '--') {
      for (const f of argv.slice(i + 1)) cur.inputs.push({ kind: 'file', path: f });
      break;
    }
    if (tok === '-' || !tok.startsWith('-')) {
      cur.inputs.push({ kind: 'file', path: tok });
      continue;
    }
    const long = /^--([^=]+)(?:=(.*))?$/s.exec(tok);
    if (long) {
      const [, name, inline] = long;
      if (!VALUE_OPTIONS.has(name)) continue;
      const value = inline ?? argv[++i];
      if (value !== undefined) set(name, value);
      continue;
    }
    // -o FILE, -fmd, -qv, -x Category: a short option that takes a value takes the rest of its
    // token or the next one.
    const short = tok.slice(1);
    for (let k = 0; k < short.length; k++) {
      if (VALUE_OPTIONS.has(short[k])) {
        const value = k < short.length - 1 ? short.slice(k + 1).replace(/^=/, '') : argv[++i];
        if (value !== undefined) set(short[k], value);
        break;
      }
    }
  }
  return { title: head.title, defaults: head, sections };
}

/** The sections of the command line, with the defaults filled in and checked. */
export function argvSections(scan: ArgvSections): SectionSpec[] {
  const { defaults } = scan;
  if (scan.sections.length === 0) {
    // No --section: the whole command line is one section, titled by what it shows.
    const d = { ...defaults, heading: undefined, title: undefined };
    return [finish(d, 0)];
  }
  if (defaults.inputs.length > 0) {
    const first = defaults.inputs[0];
    throw new UsageError(
      `${first.kind === 'file' ? first.path : '--query'} comes before the first --section; put each FILE or --query after the --section it belongs to`,
    );
  }
  return scan.sections.map((s, i) =>
    finish({ ...s, chart: s.chart ?? defaults.chart, x: s.x ?? defaults.x, y: s.y ?? defaults.y }, i),
  );
}

function finish(d: Draft, i: number, where = `section ${i + 1}`): SectionSpec {
  const kind = (d.chart ?? (d.x && d.y ? 'bar' : 'table')) as SectionKind;
  if (!SECTION_KINDS.includes(kind))
    throw new UsageError(`--chart: expected one of ${SECTION_KINDS.join(', ')}, got "${d.chart}" (${where})`);
  if (kind !== 'table' && (!d.x || !d.y)) {
    throw new UsageError(
      `--chart ${kind} needs --x FIELD and --y FIELD (${d.heading ? `section "${d.heading}"` : where})`,
    );
  }
  const heading = d.heading ?? (kind === 'table' ? 'Records' : `${d.y} by ${d.x}`);
  return {
    heading,
    kind,
    x: kind === 'table' ? undefined : d.x,
    y: kind === 'table' ? undefined : d.y,
    caption: d.title,
    inputs: d.inputs.length ? d.inputs : [{ kind: 'file', path: '-' }],
  };
}

export interface SpecFile {
  title?: string;
  maxRows?: number;
  raw?: string[];
  sections: SectionSpec[];
}

const SECTION_KEYS = new Set(['section', 'heading', 'chart', 'x', 'y', 'title', 'caption', 'file', 'files', 'query']);

/**
 * A report spec (--spec report.json): `{"title": …, "maxRows": …, "sections": [{"section":
 * "Revenue by category", "chart": "bar", "x": "category", "y": "revenue", "file": "rev.ndjson"}]}`.
 * A relative file is relative to the spec file, so that a spec and its data move together.
 */
export function readSpecFile(path: string): SpecFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputMissingError(
      `--spec ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  if (/\.ya?ml$/i.test(path))
    throw new UsageError(`--spec ${path}: YAML specs are not supported; write the same keys as JSON`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON: ${(err as Error).message.replace(/^.*?: /, '')}`);
  }
  const bad = (where: string, what: string) => new ConfigError(`${path}: ${where}: ${what}`);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw bad('top level', 'expected an object with "sections"');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d))
    if (!['title', 'maxRows', 'raw', 'sections'].includes(k))
      throw bad(k, 'unknown key; known: title, maxRows, raw, sections');
  if (d.title !== undefined && typeof d.title !== 'string') throw bad('title', 'expected a string');
  if (d.maxRows !== undefined && (!Number.isInteger(d.maxRows) || (d.maxRows as number) < 1))
    throw bad('maxRows', 'expected a positive integer');
  if (d.raw !== undefined && (!Array.isArray(d.raw) || !d.raw.every((f) => typeof f === 'string')))
    throw bad('raw', 'expected an array of field names');
  if (!Array.isArray(d.sections) || d.sections.length === 0) throw bad('sections', 'expected a non-empty array');
  const base = dirname(path);
  const sections = d.sections.map((s: unknown, i: number) => {
    const where = `sections[${i}]`;
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw bad(where, 'expected an object');
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!SECTION_KEYS.has(k)) throw bad(`${where}.${k}`, `unknown key; known: ${[...SECTION_KEYS].join(', ')}`);
    for (const k of ['section', 'heading', 'chart', 'x', 'y', 'title', 'caption', 'file', 'query']) {
      if (o[k] !== undefined && typeof o[k] !== 'string') throw bad(`${where}.${k}`, 'expected a string');
    }
    if (o.chart !== undefined && !SECTION_KINDS.includes(o.chart as SectionKind))
      throw bad(`${where}.chart`, `expected one of ${SECTION_KINDS.join(', ')}, got "${o.chart}"`);
    const files = o.files === undefined ? [] : o.files;
    if (!Array.isArray(files) || !files.every((f) => typeof f === 'string'))
      throw bad(`${where}.files`, 'expected an array of paths');
    const inputs: InputRef[] = [...(o.file !== undefined ? [o.file as string] : []), ...(files as string[])].map(
      (f) => ({
        kind: 'file' as const,
        path: f === '-' || isAbsolute(f) ? f : resolve(base, f),
      }),
    );
    if (o.query !== undefined) inputs.push({ kind: 'query', sql: o.query as string });
    try {
      return finish(
        {
          heading: (o.section ?? o.heading) as string | undefined,
          chart: o.chart as string,
          x: o.x as string,
          y: o.y as string,
          title: (o.caption ?? o.title) as string | undefined,
          inputs,
        },
        i,
        where,
      );
    } catch (err) {
      throw err instanceof UsageError ? bad(where, err.message.replace(/ \(.*\)$/, '')) : err;
    }
  });
  return {
    title: d.title as string | undefined,
    maxRows: d.maxRows as number | undefined,
    raw: d.raw as string[] | undefined,
    sections,
  };
}
