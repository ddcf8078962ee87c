// The family as a new user meets it: the dispatcher, --help/--version on every command, the
// man pages, and `npm install -g .` putting binaries and pages in place.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { root, sh, tmp } from '../helpers.js';

// Every command of the family, as the dispatcher knows them: a new command is checked here at once.
const names = Object.keys((await import('../../src/commands/index.js')).commands);
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

t.test('bx --help lists the family; bx <cmd> runs bx-<cmd>', async (t) => {
  const help = await sh('bx --help');
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: bx <command>/);
  for (const n of names) t.match(help.stdout, new RegExp(`^  ${n} `, 'm'), `lists ${n}`);
  t.equal((await sh('bx')).code, 64);
  const unknown = await sh('bx frobnicate');
  t.equal(unknown.code, 64);
  t.match(unknown.stderr, /^bx: unknown command "frobnicate"/);
  const viaBx = await sh('bx extract --help');
  const direct = await sh('bx-extract --help');
  t.equal(viaBx.code, 0);
  t.equal(viaBx.stdout, direct.stdout);
  t.equal((await sh('bx --version')).stdout, `${version}\n`);
});

// DESIGN.md: keys keep source order. An object lists integer-like names first, so every stage
// that builds objects must write them back where they were.
t.test('integer-like keys ("2019") keep their place through every stage', async (t) => {
  const dir = tmp(t);
  const csv = join(dir, 'years.csv');
  writeFileSync(csv, 'region,2019,2020,1\nnorth,5,7,x\nsouth,1,2,y\nnorth,3,4,z\n');
  const json = join(dir, 'years.json');
  writeFileSync(json, '[{"region":"east","2019":"9","c":{"k":1}}]');
  const extracted = await sh(`bx-extract -q ${csv}`);
  t.equal(extracted.stdout.split('\n')[0], '{"region":"north","2019":"5","2020":"7","1":"x"}');
  t.equal((await sh(`bx-extract -q ${json}`)).stdout, '{"region":"east","2019":"9","c":{"k":1}}\n', 'JSON input');
  t.equal(
    (await sh(`bx-extract -q ${csv} | bx-extract -q --format ndjson -`)).stdout,
    extracted.stdout,
    'NDJSON input',
  );
  const cleaned = await sh(`bx-extract -q ${csv} | bx-clean -q --type 2019:integer --type 2020:integer --drop 1`);
  t.equal(cleaned.stdout.split('\n')[0], '{"region":"north","2019":5,"2020":7}');
  const rej = join(dir, 'rejects.ndjson');
  await sh(`bx-extract -q ${csv} | bx-clean -q --type 1:integer --rejects ${rej}`);
  t.equal(
    readFileSync(rej, 'utf8').split('\n')[0].slice(0, 62),
    '{"record":{"region":"north","2019":"5","2020":"7","1":"x"},"er',
    'a reject keeps the order',
  );
  const schema = JSON.parse((await sh(`bx-extract -q ${csv} | bx-schema -q`)).stdout);
  t.same(
    schema.fields.map((f: { name: string }) => f.name),
    ['region', '2019', '2020', '1'],
    'bx-schema lists the fields in order',
  );
  const agg = await sh(
    `bx-extract -q ${csv} | bx-clean -q --type 2019:integer | bx-agg -q --by region --agg 2019=sum:2019,n=count --sort region`,
  );
  t.equal(agg.stdout, '{"region":"north","2019":8,"n":2}\n{"region":"south","2019":1,"n":1}\n');
});

t.test('every command: --help opens with a usage line and an example, --version, bad flag is 64', async (t) => {
  for (const n of names) {
    const help = await sh(`bx-${n} --help`);
    t.equal(help.code, 0, `bx-${n} --help exits 0`);
    t.match(
      help.stdout,
      new RegExp(`^Usage: bx-${n} .*\\nExample: .*bx-${n}`),
      `bx-${n} --help opens with usage and example`,
    );
    const v = await sh(`bx-${n} --version`);
    t.equal(v.stdout, `${version}\n`, `bx-${n} --version`);
    const bad = await sh(`bx-${n} ${n === 'load' ? '--table t ' : ''}--no-such-flag`);
    t.equal(bad.code, 64, `bx-${n} rejects an unknown flag with 64`);
    t.match(bad.stderr, new RegExp(`^bx-${n}: Unknown argument`), `bx-${n} names the bad flag`);
    t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  }
  const choice = await sh('bx-load --table t --mode sideways');
  t.equal(choice.code, 64);
  t.equal(
    choice.stderr.split('\n')[0],
    'bx-load: Invalid values: Argument: mode, Given: "sideways", Choices: "append", "replace", "upsert", "replace-where"',
    'a bad choice is one plain line',
  );
});

t.test('man pages exist, follow man-pages(7) order, and list the same options as --help', async (t) => {
  const order = ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS', 'ENVIRONMENT', 'EXAMPLES', 'SEE ALSO'];
  for (const page of ['bx', ...names.map((n) => `bx-${n}`)]) {
    const path = join(root, 'man', `${page}.1`);
    t.ok(existsSync(path), `${page}.1 exists`);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'utf8');
    const sections = [...text.matchAll(/^\.SH "?([A-Z ]+)"?$/gm)].map((m) => m[1]);
    t.same(sections, order, `${page}.1 sections in order`);
    if (page === 'bx') continue;
    const help = (await sh(`${page} --help`)).stdout;
    // Option lines only (`  -q, --quiet …`), not options quoted in the examples.
    const optionsPart = help.split(/^Examples:$/m)[0];
    const fromHelp = new Set([...optionsPart.matchAll(/^ {2,}(?:-\w, )?--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]));
    // One-letter options (bx-report's -x, -y) are listed by --help with one dash.
    for (const m of optionsPart.matchAll(/^ {2}-([a-zA-Z]) {2,}/gm)) fromHelp.add(m[1]);
    const fromMan = new Set(
      [...text.matchAll(/\\-\\-([a-z][a-z0-9-]*(?:\\-[a-z0-9]+)*)/g)].map((m) => m[1].replace(/\\-/g, '-')),
    );
    const missing = [...fromHelp].filter((o) => !fromMan.has(o));
    t.same(missing, [], `${page}.1 documents every option of --help`);
    // And the other way: every option the page's OPTIONS section describes is one --help lists.
    const optionsSection = text.split(/^\.SH "?OPTIONS"?$/m)[1]?.split(/^\.SH /m)[0] ?? '';
    const headings = [...optionsSection.matchAll(/^\.TP\n(.*)$/gm)].map((m) => m[1]);
    const described = new Set(
      headings.flatMap((h) =>
        [...h.matchAll(/\\-\\-([a-z][a-z0-9]*(?:\\?-[a-z0-9]+)*)/g)].map((m) => m[1].replace(/\\-/g, '-')),
      ),
    );
    const stale = [...described].filter((o) => !fromHelp.has(o) && !fromHelp.has(o.replace(/^no-/, '')));
    t.same(stale, [], `${page}.1 describes no option that --help lacks`);
  }
});

t.test('npm install -g puts the binaries and man pages in place', async (t) => {
  const prefix = tmp(t);
  // npx/npm running the tests export npm_config_* settings that would steer this install.
  const npmEnv = Object.fromEntries(
    Object.keys(process.env)
      .filter((k) => /^npm_/i.test(k))
      .map((k) => [k, undefined]),
  );
  const r = await sh(`npm install -g --prefix ${prefix} --ignore-scripts --no-audit --no-fund . >/dev/null`, {
    env: npmEnv,
  });
  t.equal(r.code, 0, r.stderr);
  for (const n of ['bx', ...names.map((n) => `bx-${n}`)]) {
    t.ok(existsSync(join(prefix, 'bin', n)), `bin/${n}`);
    t.ok(existsSync(join(prefix, 'share', 'man', 'man1', `${n}.1`)), `man1/${n}.1`);
  }
  const run = await sh(`${join(prefix, 'bin', 'bx')} extract --version`);
  t.equal(run.stdout, `${version}\n`);
});
