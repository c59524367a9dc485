// One bench run as data: `--json FILE` writes it (every figure with its target and whether it was met, for a CI job
// or a script), and the Markdown table — printed, and pasted into docs/performance.md — is rendered from it, so the
// table in the docs is always one run's, with the machine and its load named.
import fs from 'node:fs';
import path from 'node:path';
import type { Row, Section } from './support.js';

/** One row of the table with the measurement it belongs to (its id for `npm run bench -- <id>`, and its title). */
export interface Figure extends Row {
  id: string;
  section: string;
}

export interface BenchReport {
  /** ISO time the run finished */
  date: string;
  machine: string;
  /** the 1-minute load average before and after the run: on a shared machine it says how noisy the figures are */
  load: { before: number; after: number; cores: number };
  quick: boolean;
  runs: number;
  seconds: number;
  sections: Section[];
  figures: Figure[];
  targets: { total: number; met: number; missed: string[] };
}

export function toReport(sections: Section[], meta: Omit<BenchReport, 'sections' | 'figures' | 'targets'>): BenchReport {
  const figures = sections.flatMap((s) =>
    s.rows.map((r): Figure => {
      const f: Figure = { id: s.id, section: s.title, metric: r.metric, value: r.value };
      if (r.baseline !== undefined) f.baseline = r.baseline;
      if (r.ratio !== undefined) f.ratio = r.ratio;
      if (r.target !== undefined) f.target = r.target;
      if (r.met !== undefined) f.met = r.met;
      if (r.note !== undefined) f.note = r.note;
      return f;
    }),
  );
  const withTarget = figures.filter((f) => f.met !== undefined);
  return {
    ...meta,
    sections,
    figures,
    targets: { total: withTarget.length, met: withTarget.filter((f) => f.met).length, missed: withTarget.filter((f) => !f.met).map((f) => `${f.id} ${f.section}: ${f.metric}`) },
  };
}

export function writeReport(file: string, report: BenchReport): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}

export function readReport(file: string): BenchReport {
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport;
  if (!Array.isArray(r.sections) || !Array.isArray(r.figures) || typeof r.machine !== 'string') throw new Error(`${file} is not a bench report`);
  return r;
}

/** The heading lines and the table, as printed after a run and pasted into docs/performance.md. */
export function renderReport(r: BenchReport): string {
  const load = `load average ${r.load.before.toFixed(1)} before, ${r.load.after.toFixed(1)} after, on ${r.load.cores} cores`;
  return [
    `mr-reviewer bench, ${r.date.slice(0, 10)}: ${r.machine}; ${load}`,
    `${r.quick ? 'QUICK mode (smaller loads, not comparable with a full run); ' : ''}medians of ${r.runs} runs unless stated; the model stand-in answers instantly; ${r.seconds} s in all; targets met: ${r.targets.met} of ${r.targets.total}`,
    '',
    renderTable(r.sections),
  ].join('\n');
}

/** One Markdown table (pastes into the docs as is). */
export function renderTable(sections: Section[]): string {
  const head = ['#', 'measurement', 'median', 'baseline', 'ratio', 'target', 'met'];
  const lines: string[][] = [];
  for (const s of sections) {
    s.rows.forEach((r, i) => {
      const name = i === 0 ? `**${s.title}**: ${r.metric}` : r.metric;
      lines.push([i === 0 ? s.id : '', name + (r.note ? ` (${r.note})` : ''), r.value, r.baseline ?? '', r.ratio ?? '', r.target ?? '', r.met === undefined ? '' : r.met ? 'yes' : '**no**']);
    });
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)];
  const notes = sections.flatMap((s) => (s.notes ?? []).map((n) => `- ${s.id}: ${n}`));
  return [...out, ...(notes.length ? ['', ...notes] : [])].join('\n');
}
