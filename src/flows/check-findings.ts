// Checks in code before anything is posted: every evidence quote is looked up in the checkout at the
// reviewed commit, rule findings must quote a loaded guidance file, lint-owned and lint-suppressed findings go,
// and suggestions that would not apply cleanly are removed (the finding stays). Runs before the verifier: a
// finding caught here costs nothing to drop.
import { anchorFinding } from '../review/anchor.js';
import { citedPaths, evidenceProblem } from '../review/evidence.js';
import type { Finding, ReviewOutput } from '../review/outputs.js';
import { ruleProblem } from '../review/rules.js';
import { suggestionProblem } from '../review/suggestions.js';
import type { DropReason } from '../review/summary.js';
import { lintProblem } from '../review/suppressions.js';
import type { CheckCounts } from '../store/records.js';
import type { MrContext } from './context.js';
import type { Deps } from './deps.js';


export async function checkFindings(d: Deps, ctx: MrContext, output: ReviewOutput): Promise<{ output: ReviewOutput; checks: CheckCounts }> {
  const checks: CheckCounts = { dropped: {}, suggestions: 0 };
  if (output.findings.length === 0) return { output, checks };
  const paths = [...new Set([...citedPaths(output.findings.map((f) => f.evidence)), ...output.findings.map((f) => f.file)])];
  const files = await d.workspaces.readManyAt(ctx.project.id, ctx.mr.sha, paths);
  const styleWanted = ctx.repoConfig.minSeverity === 'nit';
  const kept: Finding[] = [];
  for (const f of output.findings) {
    const lines = files.get(f.file)?.replace(/\r\n?/g, '\n').split('\n');
    const around = f.side === 'new' && lines ? lines.slice(Math.max(0, f.start_line - 2), Math.max(f.start_line, f.end_line)) : [];
    const problems: [DropReason, string | undefined][] = [
      ['evidence', evidenceProblem(f.evidence, files)],
      ['rule', ruleProblem(f, ctx.guidance.sources ?? [])],
      ['lint', lintProblem(f, around, styleWanted)],
    ];
    const hit = problems.find(([, p]) => p !== undefined);
    if (hit) {
      checks.dropped[hit[0]] = (checks.dropped[hit[0]] ?? 0) + 1;
      d.log.info({ file: f.file, line: f.start_line, title: f.title, why: hit[1] }, 'finding dropped before posting');
      continue;
    }
    const bad = typeof f.suggestion === 'string' && f.suggestion.trim() ? suggestionIssue(ctx, f, lines) : undefined;
    if (bad) {
      checks.suggestions++;
      d.log.info({ file: f.file, line: f.start_line, title: f.title, why: bad }, 'suggestion dropped before posting');
      kept.push({ ...f, suggestion: null });
    } else kept.push(f);
  }
  return { output: { ...output, findings: kept }, checks };
}

/** The suggestion against the lines it would replace, where GitLab will place it (the anchor may move the line). */
function suggestionIssue(ctx: MrContext, f: Finding, lines: string[] | undefined): string | undefined {
  const a = anchorFinding(f, ctx.diffs, ctx.mr.diffRefs);
  if (a.kind !== 'inline' || a.side !== 'new' || a.lineType === 'del' || !lines) return suggestionProblem(f.suggestion!, undefined);
  return suggestionProblem(f.suggestion!, lines.slice(a.startLine - 1, a.endLine));
}

/** Merge two counts (the checks' and the verifier's drops). */
export function addDrops(c: CheckCounts, reason: DropReason, n: number): CheckCounts {
  return n ? { ...c, dropped: { ...c.dropped, [reason]: (c.dropped[reason] ?? 0) + n } } : c;
}
