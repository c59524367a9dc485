// The one summary note per MR, edited in place on later runs (a new note per run is noise).
import { withMarker } from '../gitlab/markers.js';
import type { ListedFinding, PostedFinding } from '../store/records.js';
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
  /** findings only listed here (`minor: summary`, or every thread for them refused) */
  listed?: ListedFinding[];
  /** how the review reached GitLab: one published review (draft notes), or separate notes (no draft notes API) */
  mode?: 'review' | 'direct';
  /** a re-review: what this run changed since the review of `fromSha` */
  since?: { fromSha: string; posted: number; fixed: number; updated: number };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function badges(fs: { severity: string }[]): string {
  return ORDER.map((sev) => [sev, fs.filter((f) => f.severity === sev).length] as const)
    .filter(([, n]) => n > 0)
    .map(([sev, n]) => `${SEVERITY_BADGE[sev]} ${n}`)
    .join(', ');
}

/** One line: what a push changed, so a reader need not diff two summaries. */
function sinceLine(x: NonNullable<SummaryInput['since']>): string {
  const parts = [
    x.posted && plural(x.posted, 'new finding'),
    x.fixed && `${x.fixed} fixed (resolved in ${x.fixed === 1 ? 'its thread' : 'their threads'})`,
    x.updated && `${x.updated} updated in place`,
  ].filter(Boolean);
  return `**Since the last review** (\`${x.fromSha.slice(0, 12)}\`): ${parts.length ? parts.join(', ') : 'nothing new to say'}.`;
}

const ORDER: Severity[] = ['critical', 'major', 'minor', 'nit'];

export function formatSummary(s: SummaryInput): string {
  const open = s.findings.filter((f) => f.status === 'open');
  const fixed = s.findings.filter((f) => f.status === 'fixed' || f.status === 'resolved');
  const blocking = open.filter((f) => f.blocking !== false);
  const resolvedAtOnce = open.length - blocking.length;
  const listed = s.listed ?? [];
  const lines = [
    `### 🤖 mr-reviewer`,
    '',
    s.summary.trim() || '_No summary._',
    '',
    `| | |`,
    `|---|---|`,
    `| **Risk** | ${s.risk ?? 'n/a'} |`,
    `| **Open findings** | ${open.length === 0 ? 'none' : `${open.length} (${badges(open)})`} |`,
    `| **Blocking merge** | ${blocking.length === 0 ? 'none' : `${blocking.length} open thread${blocking.length === 1 ? '' : 's'} (${badges(blocking)})`} |`,
  ];
  if (resolvedAtOnce || listed.length) {
    const where = [resolvedAtOnce && `${plural(resolvedAtOnce, 'thread')} resolved at once`, listed.length && `${listed.length} listed below`].filter(Boolean);
    lines.push(`| **Non-blocking** | ${where.join(', ')} |`);
  }
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
  if (s.mode) lines.push(`| **Posted as** | ${s.mode === 'review' ? 'one review (GitLab draft notes, one notification)' : 'separate comments (no draft notes API for the bot on this GitLab)'} |`);
  if (s.since) lines.push('', sinceLine(s.since));
  if (open.length === 0 && listed.length === 0) lines.push('', 'No problems found that this MR introduces.');
  if (s.omitted.length) {
    lines.push('', `<details><summary>Not reviewed (${s.omitted.length} files)</summary>`, '');
    for (const o of s.omitted.slice(0, 200)) lines.push(`- \`${o.path}\`: ${o.reason}`);
    if (s.omitted.length > 200) lines.push(`- … and ${s.omitted.length - 200} more`);
    lines.push('', '</details>');
  }
  if (listed.length) {
    lines.push('', `<details><summary>Non-blocking findings (not posted as threads)</summary>`, '');
    for (const f of listed) {
      const why = f.reason === 'refused' ? ' _(GitLab refused the thread)_' : '';
      lines.push(`- \`${f.file}:${f.line}\` ${SEVERITY_BADGE[f.severity as Severity] ?? f.severity}: ${f.title}${why}`);
    }
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
