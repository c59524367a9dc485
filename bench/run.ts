// `npm run bench [-- --quick] [--json FILE] [<ids…>]`: every measurement, one after another (never in parallel: they
// would time each other), printed as one Markdown table with the machine it ran on and its load. Progress goes to
// stderr, the table to stdout; `--json FILE` saves the run (report.ts), `--from FILE` prints a saved run's table.
import os from 'node:os';
import { parseBenchArgs, USAGE } from './args.js';
import { readReport, renderReport, toReport, writeReport } from './report.js';
import type { Section } from './support.js';

const MEASUREMENTS: { id: string; title: string; load: () => Promise<{ run(): Promise<Section> }>; optIn?: boolean }[] = [
  { id: '1', title: 'Webhook intake', load: () => import('./webhook.js') },
  { id: '2', title: 'Review overhead', load: () => import('./review-overhead.js') },
  { id: '3', title: 'Thread reply latency', load: () => import('./thread-latency.js') },
  { id: '4', title: 'Warm repository', load: () => import('./warm-repo.js') },
  { id: '5', title: 'Memory (peak)', load: () => import('./memory.js') },
  { id: '6', title: 'Store lookups', load: () => import('./store.js') },
  { id: '7', title: 'Context reuse', load: () => import('./context-reuse.js') },
  { id: '8', title: 'Review throughput', load: () => import('./throughput.js') },
  { id: '9', title: 'Cost per review', load: () => import('./cost.js') },
  // Minutes long: only when named (`npm run bench -- soak`).
  { id: 'soak', title: 'Soak: retention cycles', load: () => import('./soak.js'), optIn: true },
];

let args;
try {
  args = parseBenchArgs(process.argv.slice(2), MEASUREMENTS.map((m) => m.id));
} catch (e) {
  console.error(`bench: ${(e as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.from !== undefined) {
  console.log(renderReport(readReport(args.from)));
  process.exit(0);
}
// The modules size their loads when support.ts loads, so the flag goes through the environment, before it does.
if (args.quick) process.env.BENCH_QUICK = '1';
const { failedSection, machineInfo, RUNS, QUICK } = await import('./support.js');
const only = args.ids;
const chosen = MEASUREMENTS.filter((m) => (only.length ? only.includes(m.id) : !m.optIn));
const loadBefore = os.loadavg()[0]!;
const t0 = performance.now();
const sections: Section[] = [];
for (const m of chosen) {
  const t = performance.now();
  process.stderr.write(`bench ${m.id} ${m.title} … `);
  try {
    // The runner numbers the rows: a module's own id may predate the numbering.
    sections.push({ ...(await (await m.load()).run()), id: m.id });
    process.stderr.write(`${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  } catch (e) {
    sections.push(failedSection(m.id, m.title, e));
    process.stderr.write(`failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  }
}

const report = toReport(sections, {
  date: new Date().toISOString(),
  machine: machineInfo(),
  load: { before: loadBefore, after: os.loadavg()[0]!, cores: os.cpus().length },
  quick: QUICK,
  runs: RUNS,
  seconds: Math.round((performance.now() - t0) / 1000),
});
if (args.json) {
  writeReport(args.json, report);
  process.stderr.write(`bench: every figure, its target and whether it was met written to ${args.json}\n`);
}
console.log(`\n${renderReport(report)}`);
// Stand-ins and harnesses are closed; a straggling handle (a keep-alive socket) must not hold the table back.
process.exit();
