// `npm run eval`: the bot's review on the labelled set in test/fixtures/review-set/. Each case becomes an
// MR on the GitLab stand-in over the sample repo; the bot reviews it (checks in code and the verification pass
// included) and what it posted is scored against the labels: precision, recall, cost per finding.
// With ANTHROPIC_API_KEY the real model reviews (EVAL_MODEL picks one); without it the model stand-in answers with
// the labelled findings plus one invented false positive per clean case, which checks the plumbing only.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { z } from 'zod';
import { readMarker } from '../src/gitlab/markers.js';
import type { Finding } from '../src/review/outputs.js';
import type { RecordedRequest, Reply } from '../standins/model.js';
import { ALICE, startHarness, waitFor } from '../standins/harness.js';

export const SET_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/review-set');

const expectedSchema = z.strictObject({
  file: z.string(),
  /** lines a correct finding may sit on */
  lines: z.array(z.number().int().min(1)).min(1),
  category: z.string().optional(),
  /** for a rule finding: the rule's words in CLAUDE.md */
  rule: z.string().optional(),
  why: z.string(),
});
const caseSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/),
  title: z.string(),
  description: z.string(),
  files: z.record(z.string(), z.string()),
  expected: z.array(expectedSchema).default([]),
});
export type EvalCase = z.infer<typeof caseSchema>;
export type Expected = z.infer<typeof expectedSchema>;

export function loadSet(dir = SET_DIR): { repo: Record<string, string>; cases: EvalCase[] } {
  const repoDir = path.join(dir, 'repo');
  const repo: Record<string, string> = {};
  for (const f of fs.readdirSync(repoDir, { recursive: true, withFileTypes: true })) {
    if (!f.isFile()) continue;
    const abs = path.join(f.parentPath, f.name);
    repo[path.relative(repoDir, abs).split(path.sep).join('/')] = fs.readFileSync(abs, 'utf8');
  }
  const cases = z.array(caseSchema).parse(YAML.parse(fs.readFileSync(path.join(dir, 'cases.yaml'), 'utf8')));
  return { repo, cases };
}

export interface Posted {
  file: string;
  line: number;
  title: string;
}

/** Slack for a finding's line: models anchor a line or two off the one a human would pick. */
const SLACK = 2;

/** A posted finding is a true positive when it sits on an expected location; each expectation is met once. */
export function score(expected: Expected[], posted: Posted[]): { tp: number; fp: number; missed: Expected[] } {
  const left = [...expected];
  let tp = 0;
  for (const p of posted) {
    const i = left.findIndex((e) => e.file === p.file && e.lines.some((l) => Math.abs(l - p.line) <= SLACK));
    if (i >= 0) {
      tp++;
      left.splice(i, 1);
    }
  }
  return { tp, fp: posted.length - tp, missed: left };
}

export interface CaseResult {
  name: string;
  posted: Posted[];
  tp: number;
  fp: number;
  missed: Expected[];
  costUsd: number;
  /** the summary's "Dropped" row, if any */
  dropped?: string;
}

export interface EvalReport {
  mode: 'model' | 'stand-in';
  cases: CaseResult[];
  precision: number;
  recall: number;
  costUsd: number;
  costPerFinding?: number;
}

export async function runEval(o: { apiKey?: string; model?: string; dir?: string; log?: (s: string) => void } = {}): Promise<EvalReport> {
  const { repo, cases } = loadSet(o.dir);
  const live = !!o.apiKey;
  const env: Record<string, string> = { VERIFY_FINDINGS: 'true', MAX_CONCURRENT_SESSIONS: live ? '4' : '2' };
  if (live) Object.assign(env, { ANTHROPIC_API_KEY: o.apiKey!, ANTHROPIC_BASE_URL: 'https://api.anthropic.com', CLAUDE_MAX_RETRIES: '2', ...(o.model ? { CLAUDE_MODEL: o.model } : {}) });
  const h = await startHarness(env);
  try {
    if (!live) h.model.respond(standinAnswers(cases, repo));
    const mrs = [];
    for (const c of cases) {
      const project = await h.gitlab.createProject(`eval/${c.name}`, repo);
      await h.gitlab.commit(project, 'feature', c.files, c.title);
      const mr = await h.gitlab.createMr(project, { sourceBranch: 'feature', title: c.title, description: c.description, authorId: ALICE.id });
      await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
      mrs.push({ c, project, mr });
    }
    const results: CaseResult[] = [];
    for (const { c, project, mr } of mrs) {
      const summary = await waitFor(() => h.gitlab.notes(project, mr.iid).find((n) => readMarker(n.body)?.kind === 'summary'), live ? 1_200_000 : 300_000, `the review of ${c.name}`);
      await h.bot.queue.drained();
      const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
      const posted = Object.values(rec.findings).map((f) => ({ file: f.file, line: f.line, title: f.title }));
      const s = score(c.expected, posted);
      results.push({ name: c.name, posted, ...s, costUsd: rec.costUsd, dropped: /\| \*\*Dropped\*\* \| (.*) \|/.exec(summary.body)?.[1] });
      o.log?.(`${c.name}: ${s.tp} true, ${s.fp} false, ${s.missed.length} missed, $${rec.costUsd.toFixed(4)}`);
    }
    return report(live ? 'model' : 'stand-in', results);
  } finally {
    await h.close();
  }
}

function report(mode: EvalReport['mode'], cases: CaseResult[]): EvalReport {
  const sum = (f: (c: CaseResult) => number) => cases.reduce((a, c) => a + f(c), 0);
  const tp = sum((c) => c.tp);
  const posted = sum((c) => c.posted.length);
  const expected = tp + sum((c) => c.missed.length);
  const costUsd = sum((c) => c.costUsd);
  return { mode, cases, precision: posted ? tp / posted : 1, recall: expected ? tp / expected : 1, costUsd, costPerFinding: posted ? costUsd / posted : undefined };
}

export function formatReport(r: EvalReport): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = [`Review set (${r.mode === 'model' ? 'real model' : 'model stand-in: plumbing only, not a measure of the model'}), ${r.cases.length} MRs`, ''];
  for (const c of r.cases) {
    lines.push(`- ${c.name}: ${c.posted.length} posted, ${c.tp} true, ${c.fp} false positive${c.fp === 1 ? '' : 's'}, ${c.missed.length} missed, $${c.costUsd.toFixed(4)}${c.dropped ? ` (dropped: ${c.dropped})` : ''}`);
    for (const m of c.missed) lines.push(`    missed ${m.file}:${m.lines.join('/')}: ${m.why}`);
    for (const p of c.posted) lines.push(`    posted ${p.file}:${p.line}: ${p.title}`);
  }
  lines.push(
    '',
    `precision: ${pct(r.precision)}`,
    `recall:    ${pct(r.recall)}`,
    `cost:      $${r.costUsd.toFixed(4)} total, ${r.costPerFinding === undefined ? 'no findings posted' : `$${r.costPerFinding.toFixed(4)} per posted finding`}`,
  );
  return lines.join('\n');
}

/**
 * Keyless: the labelled findings, each with a quote from the case's file, and for clean cases one invented finding
 * whose quote is not in the code (the checks must drop it). The verifier confirms whatever reaches it.
 */
function standinAnswers(cases: EvalCase[], repo: Record<string, string>) {
  return (req: RecordedRequest): Reply | undefined => {
    const last = req.messages.at(-1);
    if (Array.isArray(last?.content) && last.content.some((b: { type?: string }) => b.type === 'tool_result')) return undefined;
    const asked = req.lastUserText;
    if (asked.includes('Verify these candidate findings')) {
      const ids = [...asked.matchAll(/^\[(\d+)\] /gm)].map((m) => Number(m[1]));
      return { structured: { verdicts: ids.map((id) => ({ id, verdict: 'confirmed', evidence: 'stand-in', suggestion_ok: true })) } };
    }
    const name = /Review merge request !\d+ in eval\/([a-z0-9-]+):/.exec(asked)?.[1];
    const c = cases.find((x) => x.name === name);
    if (!c) return undefined;
    const text = (file: string, line: number) => (c.files[file] ?? repo[file] ?? '').split('\n')[line - 1] ?? '';
    const findings: Finding[] = c.expected.map((e) => ({
      file: e.file, side: 'new', start_line: e.lines[0]!, end_line: e.lines[0]!, anchor_text: text(e.file, e.lines[0]!), severity: 'major',
      category: (e.category ?? 'bug') as Finding['category'], confidence: 95, pre_existing: false, title: e.why.slice(0, 80), body: e.why,
      evidence: [`${e.file}:${e.lines[0]}: ${text(e.file, e.lines[0]!).trim()}`], suggestion: null, rule: e.rule ? { source: 'CLAUDE.md', quote: e.rule } : null,
    }));
    if (!c.expected.length) {
      const file = Object.keys(c.files)[0]!;
      findings.push({
        file, side: 'new', start_line: 1, end_line: 1, anchor_text: text(file, 1), severity: 'major', category: 'bug', confidence: 90, pre_existing: false,
        title: 'Invented problem', body: 'A stand-in false positive.', evidence: [`${file}:1: a line that is not in the file`], suggestion: null,
      });
    }
    return { structured: { summary: `Stand-in review of ${c.name}.`, risk: 'low', findings } };
  };
}

async function main(): Promise<void> {
  const apiKey = process.env.ANTHROPIC_API_KEY || undefined;
  if (!apiKey) console.log('ANTHROPIC_API_KEY is not set: running against the model stand-in (plumbing check only).');
  const r = await runEval({ apiKey, model: process.env.EVAL_MODEL, log: (s) => console.log(s) });
  console.log(`\n${formatReport(r)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
