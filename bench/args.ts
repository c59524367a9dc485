// `npm run bench [-- --quick] [<ids…>]`: the command line, checked before anything runs (an unknown flag used to be
// taken for a measurement id, which matched nothing and printed an empty table).
import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run bench -- [--quick] [<id>…]

  <id>…     only these measurements (1-7; default: all)
  --quick   one run of each, with smaller loads: seconds per measurement, for a smoke test (not for the README)
  --help    this text

Environment: BENCH_RUNS (runs per measurement, 5; 1 with --quick), BENCH_REDIS_URL, BENCH_RATE, BENCH_SECONDS.`;

export type BenchArgs = { help: true } | { help: false; quick: boolean; ids: string[] };

/** The parsed command line; throws an Error naming the problem (the caller prints it with USAGE). */
export function parseBenchArgs(argv: string[], knownIds: readonly string[]): BenchArgs {
  const { values, positionals } = parseArgs({ args: argv, options: { quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  if (values.help) return { help: true };
  const unknown = positionals.filter((p) => !knownIds.includes(p));
  if (unknown.length) throw new Error(`unknown measurement ${unknown.join(', ')} (known: ${knownIds.join(' ')})`);
  return { help: false, quick: !!values.quick, ids: positionals };
}
