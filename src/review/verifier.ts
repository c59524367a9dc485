// The verification pass: a separate session, not the reviewing one, looks at each candidate
// finding and must confirm it with a quoted line, refute it, or say it could not verify it. Only confirmed ones
// are posted. A reviewer rarely doubts its own findings; a second look that must quote evidence does.
import type { Finding, Verdict } from './outputs.js';
import { fence } from './prompts.js';

export function verifyPrompt(i: { iid: number; candidates: Finding[]; diff: string }): string {
  const list = i.candidates
    .map((f, n) => `[${n + 1}] ${f.file}:${f.start_line} (${f.severity}, ${f.category}) ${f.title}\n${f.body}`)
    .join('\n\n');
  return [
    `Verify these candidate findings from another reviewer of merge request !${i.iid}. They may be wrong.`,
    fence('candidates', list),
    `For each candidate, read the code in your working directory (the MR's head) and decide:`,
    `- "confirmed": the problem is real and this MR introduces it; put in evidence the exact line (path:line and its text) that shows it.`,
    `- "refuted": the code does not fail that way (a guard, a caller, a type rules it out); say where.`,
    `- "unverified": you could not establish it either way.`,
    `The diff under review, for reference:`,
    fence('diff', i.diff),
    `Return one verdict per candidate (id = its number) through the StructuredOutput tool.`,
  ].join('\n\n');
}

/** Keep only confirmed candidates; a candidate without a verdict counts as unverified. */
export function applyVerdicts(candidates: Finding[], verdicts: Verdict[]): { kept: Finding[]; dropped: { finding: Finding; verdict: string; evidence: string }[] } {
  const byId = new Map(verdicts.map((v) => [v.id, v]));
  const kept: Finding[] = [];
  const dropped: { finding: Finding; verdict: string; evidence: string }[] = [];
  candidates.forEach((f, i) => {
    const v = byId.get(i + 1);
    if (v?.verdict === 'confirmed') kept.push(f);
    else dropped.push({ finding: f, verdict: v?.verdict ?? 'unverified', evidence: v?.evidence ?? '' });
  });
  return { kept, dropped };
}
