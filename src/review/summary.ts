// The one summary note per MR, edited in place on later runs (a new note per run is noise).
import { withMarker } from '../gitlab/markers.js';
import type { PostedFinding } from '../store/records.js';
import type { Finding, Severity } from './findings.js';
import { SEVERITY_BADGE } from './format.js';

export interface SummaryInput {
  summary: string;
  risk?: string;
  headSha: string;
  findings: PostedFinding[];
  /** not posted inline: pre-existing, below threshold but worth knowing, unplaced */
  preExisting: Finding[];
  omitted: { path: string; reason: string }[];
  reviewedFiles: number;
  costUsd: number;
  reviews: number;
  botUsername: string;
  verification?: { checked: number; dropped: number };
  /** team learnings the review's prompt carried */
  learnings?: number;
}

const ORDER: Severity[] = ['critical', 'major', 'minor', 'nit'];

export function formatSummary(s: SummaryInput): string {
  const open = s.findings.filter((f) => f.status === 'open');
  const fixed = s.findings.filter((f) => f.status === 'fixed' || f.status === 'resolved');
  const counts = ORDER.map((sev) => [sev, open.filter((f) => f.severity === sev).length] as const)
    .filter(([, n]) => n > 0)
    .map(([sev, n]) => `${SEVERITY_BADGE[sev]} ${n}`);
  const lines = [
    `### 🤖 mr-reviewer`,
    '',
    s.summary.trim() || '_No summary._',
    '',
    `| | |`,
    `|---|---|`,
    `| **Risk** | ${s.risk ?? 'n/a'} |`,
    `| **Open findings** | ${open.length === 0 ? 'none' : `${open.length} (${counts.join(', ')})`} |`,
  ];
  if (fixed.length) lines.push(`| **Fixed / resolved** | ${fixed.length} |`);
  lines.push(
    `| **Reviewed commit** | \`${s.headSha.slice(0, 12)}\` |`,
    `| **Files reviewed** | ${s.reviewedFiles}${s.omitted.length ? ` (${s.omitted.length} not reviewed, listed below)` : ''} |`,
  );
  if (s.verification) {
    const { checked, dropped } = s.verification;
    lines.push(`| **Verified** | ${checked - dropped} of ${checked} new candidate${checked === 1 ? '' : 's'} confirmed by a second, independent look${dropped ? ` (${dropped} dropped)` : ''} |`);
  }
  if (s.learnings) lines.push(`| **Team learnings** | ${s.learnings} applied (\`@${s.botUsername} learnings\` lists them) |`);
  lines.push(`| **Cost** | $${s.costUsd.toFixed(4)} over ${s.reviews} run${s.reviews === 1 ? '' : 's'} |`);
  if (open.length === 0) lines.push('', 'No problems found that this MR introduces.');
  if (s.omitted.length) {
    lines.push('', `<details><summary>Not reviewed (${s.omitted.length} files)</summary>`, '');
    for (const o of s.omitted.slice(0, 200)) lines.push(`- \`${o.path}\`: ${o.reason}`);
    if (s.omitted.length > 200) lines.push(`- … and ${s.omitted.length - 200} more`);
    lines.push('', '</details>');
  }
  if (s.preExisting.length) {
    lines.push('', `<details><summary>Pre-existing issues (not introduced by this MR)</summary>`, '');
    for (const f of s.preExisting) lines.push(`- \`${f.file}:${f.start_line}\` ${SEVERITY_BADGE[f.severity]}: ${f.title}`);
    lines.push('', '</details>');
  }
  lines.push('', `<sub>Reply in any finding's thread to discuss it; mention @${s.botUsername} with \`help\` for commands.</sub>`);
  return withMarker(lines.join('\n'), { kind: 'summary', sha: s.headSha });
}
