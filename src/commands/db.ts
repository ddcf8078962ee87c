import { spawn } from 'node:child_process';
import type { Argv } from 'yargs';
import { cli, type RawArgs } from '../run/cli.js';
import { ExitCode, UnavailableError, UsageError } from '../lib/errors.js';
import type { Io } from '../lib/io.js';

export const describe = 'Start, stop and show a project-local embedded PostgreSQL (data under .bx/, loopback only)';

const ACTIONS = ['start', 'stop', 'status', 'url', 'psql'] as const;
type Action = (typeof ACTIONS)[number];

export interface DbOptions {
  action: Action;
  dir: string;
  port?: number;
  /** psql: the arguments after the action. */
  args: string[];
}

export const options = (y: Argv) =>
  y
    // The action/file is positional: reject unknown flags, not arguments.
    .strict(false)
    .strictOptions(true)

    .option('dir', { type: 'string', default: '.bx/db', describe: "the server's directory (data, log, state)" })
    .option('port', { type: 'number', describe: 'start: listen on this port (default: a free one)' });

export function normalize(a: RawArgs): DbOptions {
  const [action, ...args] = a._.map(String);
  if (action === undefined) throw new UsageError(`missing action: one of ${ACTIONS.join(', ')}`);
  if (!(ACTIONS as readonly string[]).includes(action))
    throw new UsageError(`unknown action "${action}"; known: ${ACTIONS.join(', ')}`);
  if (args.length > 0 && action !== 'psql') throw new UsageError(`${action} takes no arguments; got ${args.join(' ')}`);
  if (a.port !== undefined && (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535))
    throw new UsageError(`--port ${a.port}: expected a TCP port number`);
  return { action: action as Action, dir: String(a.dir), port: a.port, args };
}

export async function run(io: Io, opts: DbOptions): Promise<ExitCode> {
  const { embeddedAt, startServer, stopServer, serverUrl, runningPid } = await import('../pg/embedded.js');
  const e = embeddedAt(opts.dir, io.cwd);
  switch (opts.action) {
    case 'start': {
      const url = await startServer(e, { port: opts.port, onLog: (m) => io.log.debug(m) });
      io.stdout.write(url + '\n');
      io.log.debug(`data in ${e.data}, log in ${e.log}`);
      return ExitCode.Ok;
    }
    case 'stop': {
      const stopped = await stopServer(e);
      io.log.info(stopped ? `stopped the server in ${e.dir}` : `no server running in ${e.dir}`);
      return ExitCode.Ok;
    }
    case 'status': {
      const pid = await runningPid(e);
      if (pid === undefined) throw new UnavailableError(`no server running in ${e.dir} (bx-db start)`);
      const url = await serverUrl(e);
      io.stdout.write(`running: pid ${pid}, ${url?.replace(/:[^:@/]*@/, ':***@')}, data in ${e.data}\n`);
      return ExitCode.Ok;
    }
    case 'url': {
      const url = await serverUrl(e);
      if (!url) throw new UnavailableError(`no server running in ${e.dir} (bx-db start)`);
      io.stdout.write(url + '\n');
      return ExitCode.Ok;
    }
    case 'psql': {
      const url = await serverUrl(e);
      if (!url) throw new UnavailableError(`no server running in ${e.dir} (bx-db start)`);
      // The URL goes in the environment, not on argv where ps shows it.
      return new Promise((resolve, reject) => {
        const child = spawn('psql', opts.args, {
          stdio: 'inherit',
          env: { ...io.env, PGPASSWORD: undefined, DATABASE_URL: undefined, ...pgEnv(url) },
        });
        child.on('error', (err: NodeJS.ErrnoException) =>
          reject(
            err.code === 'ENOENT'
              ? new UnavailableError('psql is not installed (apt-get install postgresql-client)')
              : err,
          ),
        );
        child.on('close', (code) => resolve((code ?? 1) as ExitCode));
      });
    }
  }
}

function pgEnv(url: string): Record<string, string> {
  const u = new URL(url.replace(/^postgres:/, 'http:'));
  return {
    PGHOST: u.hostname,
    PGPORT: u.port,
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: u.pathname.slice(1),
  };
}

export const main = (argv: string[]) =>
  cli(
    'bx-db',
    {
      describe,
      usage: 'start|stop|status|url|psql [options] [-- psql-args]',
      examples: [
        ['export DATABASE_URL=$(bx-db start)', "start the project's server (or find it running) and use it"],
        ['bx-db psql -- -c "table sales limit 5"', 'run psql against it'],
        ['bx-db stop', 'stop it; the data stays in .bx/db'],
      ],
      options,
      normalize,
      run,
      stream: 'none',
    },
    argv,
  );
