import type { Argv } from 'yargs';
import { cli, type RawArgs } from '../lib/cli.js';
import { ExitCode } from '../lib/errors.js';
import type { Io } from '../lib/io.js';
export const describe = 'placeholder';
export const options = (y: Argv) => y;
export const normalize = (a: RawArgs) => a;
export async function run(io: Io, _o: unknown) { io.log.info('hello'); return ExitCode.Ok; }
export const main = (argv: string[]) => cli('bx-extract', { describe, usage: '[options] [FILE|-]...', examples: [['bx-extract a.csv', 'x']], options, normalize, run, stream: 'out' }, argv);
