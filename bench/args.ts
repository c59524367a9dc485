// `npm run bench [-- --quick] [--json FILE] [<ids…>]`: the command line, checked before anything runs (an unknown
// flag used to be taken for a measurement id, which matched nothing and printed an empty table).
import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run bench -- [--quick] [--json FILE] [<id>…]
       npm run bench -- --from FILE

  <id>…        only these measurements (1-9; default: all but soak)
  --quick      one run of each, with smaller loads: seconds per measurement, for a smoke test (not for the docs)
  --json FILE  also write every figure with its target and whether it was met to FILE (JSON), for CI or scripts
  --from FILE  measure nothing: print the table of a run saved with --json (how docs/performance.md gets its table)
  --help       this text

Environment: BENCH_RUNS (runs per measurement, 5; 1 with --quick), BENCH_REDIS_URL, BENCH_RATE, BENCH_SECONDS,
BENCH_SATURATION_SECONDS, BENCH_THROUGHPUT_PER_SLOT, BENCH_PROFILE (a directory: CPU profiles of the webhook servers).`;

export type BenchArgs = { help: true } | { help: false; from: string } | { help: false; from?: undefined; quick: boolean; ids: string[]; json?: string };

/** The parsed command line; throws an Error naming the problem (the caller prints it with USAGE). */
export function parseBenchArgs(argv: string[], knownIds: readonly string[]): BenchArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, json: { type: 'string' }, from: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return { help: true };
  if (values.json !== undefined && !values.json.trim()) throw new Error('--json needs a file name');
  if (values.from !== undefined) {
    if (values.quick || values.json !== undefined || positionals.length) throw new Error('--from prints a saved run: it takes no other option or id');
    return { help: false, from: values.from };
  }
  const unknown = positionals.filter((p) => !knownIds.includes(p));
  if (unknown.length) throw new Error(`unknown measurement ${unknown.join(', ')} (known: ${knownIds.join(' ')})`);
  return { help: false, quick: !!values.quick, ids: positionals, ...(values.json !== undefined ? { json: values.json } : {}) };
}
