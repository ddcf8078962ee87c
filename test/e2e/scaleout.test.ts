// Scale-out across two hosts: examples/scale-out/parallel-ssh.sh runs
//   bx-extract PART | bx-clean … | bx-agg --partial …
// per part file on two network-namespace hosts over ssh (GNU parallel --sshlogin, --transferfile,
// --return), and bx-agg --merge of the returned states must be byte-identical to one process
// over the whole file; then again with one host killed half-way (--retries 2).
// Needs root, ip netns, sshd, rsync and GNU parallel; skips with the reason otherwise.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { bin, root, sh, shared, type ShResult } from '../helpers.js';
import { cannotMakeHosts, closeHosts, killNamespace, makeHosts, processesIn, sleepSync, type Hosts } from '../hosts.js';

const csv = shared('superstore.csv');
const recipe = join(root, 'examples', 'scale-out', 'parallel-ssh.sh');
const CLEAN = '--trim --type Sales:decimal --type Profit:decimal --type Quantity:integer';
const AGG = `--by Region,Category --agg 'revenue=sum:Sales,n=count,qty=sum:Quantity,avg:Sales,min:Profit,max:Profit,median:Sales,p90:Sales,stddev:Profit,customers=count_distinct:Customer ID'`;
const PARTS = 8;

interface Job {
  seq: number;
  host: string;
  exit: number;
  part: string;
}
const joblog = (file: string): Job[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => {
      const f = l.split('\t');
      return { seq: Number(f[0]), host: f[1], exit: Number(f[6]), part: /part-\d+\.csv/.exec(f[8])?.[0] ?? '' };
    });

/** Splits superstore.csv into n CSV files of whole lines, each with the header. */
function writeParts(dir: string, n: number): string[] {
  const [header, ...rows] = readFileSync(csv, 'utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter(Boolean);
  const names: string[] = [];
  const per = Math.ceil(rows.length / n);
  for (let i = 0; i < n; i++) {
    const name = `part-${String(i).padStart(2, '0')}.csv`;
    writeFileSync(join(dir, name), [header, ...rows.slice(i * per, (i + 1) * per)].join('\n') + '\n');
    names.push(name);
  }
  return names;
}

/** Recipe runs still going: a run stopped by a signal must not leave parallel behind. */
const live = new Set<ChildProcess>();
const stopRecipes = () => {
  if (live.size === 0) return;
  // TERM first: parallel passes it on to its jobs, which run in process groups of their own.
  const each = (sig: NodeJS.Signals) => {
    for (const c of live) {
      try {
        process.kill(-c.pid!, sig);
      } catch {
        /* gone */
      }
    }
  };
  each('SIGTERM');
  sleepSync(500);
  each('SIGKILL');
  live.clear();
};

/**
 * Runs the recipe like sh() does (NODE_OPTIONS unset in the shell: tap puts it back into every
 * spawn's environment), in its own process group so that stopRecipes can end it all.
 */
function recipeRun(args: string, env: Record<string, string>): Promise<ShResult> {
  return new Promise((resolve, reject) => {
    const e: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...env };
    delete e.BX_SEAL;
    const c = spawn('bash', ['-o', 'pipefail', '-c', `unset NODE_OPTIONS; ${recipe} ${args}`], {
      cwd: root,
      env: e,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(c);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    c.stdout!.on('data', (d: Buffer) => out.push(d));
    c.stderr!.on('data', (d: Buffer) => err.push(d));
    c.on('error', reject);
    c.on('close', (code, signal) => {
      live.delete(c);
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

const reason = cannotMakeHosts(2);

t.test(
  'two ssh hosts: bx per part on each, merged byte-identical, and a host lost half-way',
  { skip: reason ?? false },
  async (t) => {
    const state: { hosts?: Hosts; madeRunSshd?: boolean } = {};
    // tap stops a test that overruns with SIGTERM, and teardowns do not run then: remove the
    // hosts on the way out all the same.
    const onSignal = () => {
      closeHosts(state);
      process.exit(143);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    t.teardown(() => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      closeHosts(state);
    });
    const hs = await makeHosts(2, state);
    const [h1, h2] = hs.hosts;
    const data = join(hs.dir, 'data');
    mkdirSync(data);
    const parts = writeParts(data, PARTS);

    const serial = await sh(`bx-extract -q ${csv} | bx-clean -q ${CLEAN} | bx-agg -q ${AGG}`);
    t.equal(serial.code, 0, serial.stderr);
    t.equal(serial.stdout.trim().split('\n').length, 12, 'serial: 4 regions x 3 categories');

    const env = (log: string) => ({
      HOSTS: '1/h1,1/h2',
      SSH: `ssh -F ${hs.sshConfig}`,
      WORKDIR: hs.work,
      CLEAN,
      AGG,
      JOBLOG: log,
      KEEP: '1',
      KEEP_REMOTE: '1',
    });
    const partArgs = parts.map((p) => join(data, p)).join(' ');
    const listing = (dir: string) => readdirSync(dir).sort();

    await t.test('both hosts run parts; the merge equals one process', async (t) => {
      const log = join(hs.dir, 'joblog-1');
      const r = await recipeRun(partArgs, env(log));
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout, serial.stdout, 'merged states are byte-identical to the serial run');
      const jobs = joblog(log);
      t.equal(jobs.length, PARTS, 'one job per part');
      t.same([...new Set(jobs.map((j) => j.host))].sort(), ['h1', 'h2'], 'both sshlogins ran jobs');
      t.ok(
        jobs.every((j) => j.exit === 0),
        'every job exited 0',
      );
      // Each part was copied over ssh to the one host that ran it, and its state came back from there.
      for (const h of [h1, h2]) {
        const ran = jobs.filter((j) => j.host === h.name).map((j) => j.part);
        t.same(
          listing(h.disk),
          ran.flatMap((p) => [p, p.replace('.csv', '.state')]).sort(),
          `${h.name}'s disk holds exactly the parts it ran, and their states`,
        );
        for (const p of ran) {
          const st = p.replace('.csv', '.state');
          t.equal(
            readFileSync(join(data, st), 'utf8'),
            readFileSync(join(h.disk, st), 'utf8'),
            `${st} came back from ${h.name}`,
          );
        }
      }
      t.same(listing(hs.work), [], 'nothing landed in the root namespace view of the work dir');
    });

    await t.test('one host killed while it runs a part: retried on the other, same bytes', async (t) => {
      for (const h of [h1, h2])
        for (const f of readdirSync(h.disk)) rmSync(join(h.disk, f), { recursive: true, force: true });
      const log = join(hs.dir, 'joblog-2');
      const running = recipeRun(partArgs, { ...env(log), RETRIES: '2' });
      let done = false;
      void running.then(() => (done = true));
      // Wait for h2's second part: one state of h2's is done (and must be kept), one is lost.
      let killed = false;
      const until = Date.now() + 60000;
      while (!done && Date.now() < until) {
        const h2States = readdirSync(h2.disk).filter((f) => f.endsWith('.state'));
        if (h2States.length >= 1 && processesIn(h2.ns).some((c) => /bx-(extract|clean|agg)/.test(c))) {
          killNamespace(h2.ns); // its sshd, sessions and jobs: the host is gone
          killed = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      t.ok(killed, 'h2 was killed while running a part');
      const r = await running;
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout, serial.stdout, 'still byte-identical to the serial run');
      t.same(processesIn(h2.ns), [], 'nothing runs on h2 any more');

      const jobs = [...joblog(log), ...(existsSync(`${log}.again`) ? joblog(`${log}.again`) : [])];
      const lastHost = new Map(jobs.map((j) => [j.part, j.host]));
      t.equal(lastHost.size, PARTS, 'every part has a job');
      t.ok(
        jobs.some((j) => j.host === 'h2' && j.exit === 0),
        'h2 finished parts before it died, and they were kept',
      );
      // The part h2 was running when it died: on h2's disk without a state.
      const onH2 = listing(h2.disk);
      const lost = onH2.filter((f) => f.endsWith('.csv') && !onH2.includes(f.replace('.csv', '.state')));
      t.ok(lost.length >= 1, `h2 lost a part half-way (h2's disk: ${onH2.join(' ')})`);
      for (const p of lost) {
        t.equal(lastHost.get(p), 'h1', `${p} was re-run on h1`);
        t.ok(existsSync(join(h1.disk, p.replace('.csv', '.state'))), `${p}'s state was made on h1`);
      }
    });
  },
);

t.test('the recipe refuses bad settings with a usage error', async (t) => {
  const dir = join('/tmp', `bxsc-usage-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(csv, join(dir, 'a.csv'));
  const noHosts = await sh(`${recipe} ${dir}/a.csv`, { env: { HOSTS: undefined, AGG: '--agg count' } });
  t.equal(noHosts.code, 64);
  t.match(noHosts.stderr, /^parallel-ssh\.sh: HOSTS is not set/m);
  const missing = await sh(`${recipe} ${dir}/nope.csv`, { env: { HOSTS: 'h1', AGG: '--agg count' } });
  t.equal(missing.code, 66);
  t.match(missing.stderr, /nope\.csv: no such part file/);
});
