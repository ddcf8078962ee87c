// Hosts for the scale-out tests: each one a network namespace with a veth pair to the root
// namespace, its own sshd on its own private address and its own "disk" (a directory bind-mounted
// at the same path, so a file copied to one host is not on the other). The file system is shared
// otherwise: bx and node are where they are here.
//
// Only the names bxsc-* and the addresses 10.231.N.0/30 (N = 1, 2, …) are ever touched; closeHosts
// removes namespaces, veths, sshd processes, ssh control masters and the temp directory, also
// when a test fails, and makeHosts first removes what a killed earlier run may have left.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';

export interface Host {
  /** ssh name (Host in the ssh config), e.g. h1 */
  name: string;
  /** network namespace, e.g. bxsc-h1 */
  ns: string;
  /** the host's address; the root namespace's end of the veth is .1 */
  addr: string;
  /** this host's own disk: what it sees at `work` */
  disk: string;
  /** sshd's stderr */
  log: string;
}

export interface Hosts {
  hosts: Host[];
  /** temp directory holding keys, configs, disks */
  dir: string;
  /** ssh -F file: aliases h1, h2…, the test's key, known_hosts, a control master per host */
  sshConfig: string;
  /** the path each host sees as its own disk (empty in the root namespace) */
  work: string;
}

interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Res {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? (r.error ? 127 : 128), stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Blocks for ms: closeHosts also runs from a signal handler, where nothing async is left. */
export const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const onPath = (name: string) => run('sh', ['-c', `command -v ${name}`]).code === 0;
const nsName = (i: number) => `bxsc-h${i}`;
const rootVeth = (i: number) => `bxsc-h${i}r`;
const subnet = (i: number) => `10.231.${i}.`;

/** Why the hosts cannot be made here, or undefined when they can. */
export function cannotMakeHosts(n = 2): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'not root: ip netns and sshd need root (run the test as root)';
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  for (const b of ['ip', 'unshare', 'ssh', 'ssh-keygen', 'rsync', 'parallel'])
    if (!onPath(b)) return `${b} is not installed`;
  removeLeftovers(n);
  // Someone else's use of our subnets: leave it alone and skip.
  const routes =
    run('ip', ['-4', '-o', 'route', 'show', 'table', 'all']).stdout + run('ip', ['-4', '-o', 'addr', 'show']).stdout;
  for (let i = 1; i <= n; i++)
    if (routes.includes(subnet(i))) return `${subnet(i)}0/30 is already in use on this machine`;
  const probe = `bxsc-probe-${process.pid}`;
  const r = run('ip', ['netns', 'add', probe]);
  if (r.code !== 0) return `ip netns add fails here: ${r.stderr.trim()}`;
  run('ip', ['netns', 'del', probe]);
  return undefined;
}

/** Kills every process in namespace ns (only ours: sshd and the sessions and jobs it started). */
export function killNamespace(ns: string, signal: NodeJS.Signals = 'SIGKILL') {
  const r = run('ip', ['netns', 'pids', ns]);
  for (const pid of r.stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone already */
    }
  }
}

/** Command lines of the processes in namespace ns. */
export function processesIn(ns: string): string[] {
  const out: string[] = [];
  for (const pid of run('ip', ['netns', 'pids', ns]).stdout.split('\n').filter(Boolean)) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

function removeLeftovers(n: number) {
  const names = run('ip', ['netns', 'list']).stdout;
  for (let i = 1; i <= n; i++) {
    if (new RegExp(`^${nsName(i)}\\b`, 'm').test(names)) {
      killNamespace(nsName(i));
      run('ip', ['netns', 'del', nsName(i)]);
    }
    if (run('ip', ['link', 'show', rootVeth(i)]).code === 0) run('ip', ['link', 'del', rootVeth(i)]);
  }
}

function waitForPort(addr: string, port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect({ host: addr, port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`sshd on ${addr}:${port} did not start within ${ms} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** Makes n hosts h1…hn. Call closeHosts in a teardown registered before anything can fail. */
export async function makeHosts(n: number, state: { hosts?: Hosts; madeRunSshd?: boolean }): Promise<Hosts> {
  const dir = mkdtempSync('/tmp/bxsc-');
  const work = join(dir, 'work');
  mkdirSync(work);
  const hosts: Hosts = { hosts: [], dir, sshConfig: join(dir, 'ssh_config'), work };
  state.hosts = hosts;
  // sshd's privilege-separation directory is compiled in; Debian creates it only when the
  // service starts, and no sshd service runs here.
  if (!existsSync('/run/sshd')) {
    mkdirSync('/run/sshd', { mode: 0o755 });
    state.madeRunSshd = true;
  }
  const key = join(dir, 'id_ed25519');
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bxsc-test', '-f', key]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${key}.pub`));
  let known = '';
  let cfg = '';
  for (let i = 1; i <= n; i++) {
    const h: Host = {
      name: `h${i}`,
      ns: nsName(i),
      addr: `${subnet(i)}2`,
      disk: join(dir, `h${i}-disk`),
      log: join(dir, `h${i}-sshd.log`),
    };
    hosts.hosts.push(h);
    mkdirSync(h.disk);
    must('ip', ['netns', 'add', h.ns]);
    must('ip', ['link', 'add', rootVeth(i), 'type', 'veth', 'peer', 'name', `${h.ns}n`, 'netns', h.ns]);
    must('ip', ['addr', 'add', `${subnet(i)}1/30`, 'dev', rootVeth(i)]);
    must('ip', ['link', 'set', rootVeth(i), 'up']);
    must('ip', ['-n', h.ns, 'addr', 'add', `${h.addr}/30`, 'dev', `${h.ns}n`]);
    must('ip', ['-n', h.ns, 'link', 'set', `${h.ns}n`, 'up']);
    must('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
    const hostKey = join(dir, `h${i}_host_ed25519`);
    must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', h.ns, '-f', hostKey]);
    known += `${h.name},${h.addr} ${readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`;
    const sshdConfig = join(dir, `h${i}_sshd_config`);
    writeFileSync(
      sshdConfig,
      [
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, `h${i}-sshd.pid`)}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin yes',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // the keys live in a temp dir under /tmp (mode 1777), which StrictModes refuses
        'StrictModes no',
        // GNU parallel opens several connections per job (transfer, run, return, cleanup)
        'MaxStartups 100',
        'MaxSessions 100',
        '',
      ].join('\n'),
    );
    // A private mount namespace per host, so that `work` is this host's own disk: what
    // --transferfile sends is really copied over ssh, and lands on one host only. The home
    // directory is an empty one of the host's own too: bash reads ~/.bashrc for every ssh
    // command, and this machine's (pyenv init, a rehash under a lock) made a session take
    // ~0.7 s, and hung every later one after a killed host died holding pyenv's lock.
    const home = join(dir, `h${i}-home`);
    mkdirSync(home, { mode: 0o700 });
    const fd = openSync(h.log, 'a');
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        h.ns,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind "$0" "$1" && mount --bind "$5" "$6" && exec "$2" -D -e -f "$3" -o ListenAddress="$4"',
        h.disk,
        work,
        SSHD,
        sshdConfig,
        h.addr,
        home,
        userInfo().homedir,
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    child.on('error', () => {});
    child.unref();
    cfg += `Host ${h.name}\n  HostName ${h.addr}\n`;
  }
  writeFileSync(join(dir, 'known_hosts'), known);
  cfg += [
    'Host *',
    '  User root',
    `  IdentityFile ${key}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
    '  StrictHostKeyChecking yes',
    '  CheckHostIP no',
    '  BatchMode yes',
    '  ConnectTimeout 5',
    '  LogLevel ERROR',
    // parallel makes 3-4 connections a job (transfer, run, return, cleanup); a control master
    // per host saves their handshakes (closeHosts stops it).
    '  KexAlgorithms curve25519-sha256',
    '  ControlMaster auto',
    `  ControlPath ${join(dir, 'cm-%h')}`,
    '  ControlPersist 60',
    '',
  ].join('\n');
  writeFileSync(hosts.sshConfig, cfg);
  for (const h of hosts.hosts) {
    try {
      await waitForPort(h.addr, 22, 15000);
    } catch (e) {
      throw new Error(
        `${(e as Error).message}; sshd said: ${existsSync(h.log) ? readFileSync(h.log, 'utf8').trim() : '(nothing)'}`,
      );
    }
  }
  return hosts;
}

/** Removes everything makeHosts made; safe to call twice and after a partial makeHosts. */
export function closeHosts(state: { hosts?: Hosts; madeRunSshd?: boolean }) {
  const hs = state.hosts;
  if (hs) {
    for (const h of hs.hosts) run('ssh', ['-F', hs.sshConfig, '-O', 'exit', h.name]);
    // sshd may fork a session for a connection that arrives while it is being killed: kill
    // until the namespace is empty.
    for (let i = 1; i <= hs.hosts.length; i++) {
      for (let round = 0; round < 40 && run('ip', ['netns', 'pids', nsName(i)]).stdout.trim(); round++) {
        killNamespace(nsName(i));
        sleepSync(50);
      }
    }
    // a namespace goes away with its last process; its veth end takes the root end with it
    for (let i = 1; i <= hs.hosts.length; i++) {
      run('ip', ['netns', 'del', nsName(i)]);
      if (run('ip', ['link', 'show', rootVeth(i)]).code === 0) run('ip', ['link', 'del', rootVeth(i)]);
    }
    rmSync(hs.dir, { recursive: true, force: true });
    state.hosts = undefined;
  }
  if (state.madeRunSshd) {
    try {
      rmdirSync('/run/sshd');
    } catch {
      /* not empty or gone: leave it */
    }
    state.madeRunSshd = false;
  }
}
