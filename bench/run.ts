// `npm run bench [-- --quick] [<ids…>]`: every measurement, one after another (never in parallel: they
// would time each other), printed as one Markdown table with the machine it ran on. Progress goes to stderr, the
// table to stdout.
import { parseBenchArgs, USAGE } from './args.js';
import type { Section } from './support.js';

const MEASUREMENTS: { id: string; title: string; load: () => Promise<{ run(): Promise<Section> }>; optIn?: boolean }[] = [
  // Measurement 1 lives in webhook.ts (its own author); it exports run() like the others.
  { id: '1', title: 'Webhook intake', load: () => import('./webhook.js') },
  { id: '2', title: 'Review overhead', load: () => import('./review-overhead.js') },
  { id: '3', title: 'Thread reply latency', load: () => import('./thread-latency.js') },
  { id: '4', title: 'Warm repository', load: () => import('./warm-repo.js') },
  { id: '5', title: 'Memory (peak)', load: () => import('./memory.js') },
  { id: '6', title: 'Store lookups', load: () => import('./store.js') },
  { id: '7', title: 'Context reuse', load: () => import('./context-reuse.js') },
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
// The modules size their loads when support.ts loads, so the flag goes through the environment, before it does.
if (args.quick) process.env.BENCH_QUICK = '1';
const { failedSection, machineInfo, renderTable, RUNS, QUICK } = await import('./support.js');
const only = args.ids;
const chosen = MEASUREMENTS.filter((m) => (only.length ? only.includes(m.id) : !m.optIn));
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

const took = ((performance.now() - t0) / 1000).toFixed(0);
console.log(`\nmr-reviewer bench, ${new Date().toISOString().slice(0, 10)}: ${machineInfo()}`);
console.log(`${QUICK ? 'QUICK mode (smaller loads, not comparable with a full run); ' : ''}medians of ${RUNS} runs unless stated; the model stand-in answers instantly; ${took} s in all\n`);
console.log(renderTable(sections));
// Stand-ins and harnesses are closed; a straggling handle (a keep-alive socket) must not hold the table back.
process.exit();
