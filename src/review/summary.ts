// The one summary note per MR, edited in place on later runs (a new note per run is noise).
import { findingFingerprint, withMarker } from '../gitlab/markers.js';
import type { CheckCounts, ListedFinding, PostedFinding, Verification } from '../store/records.js';
import type { Finding, Severity } from './findings.js';
import { SEVERITY_BADGE } from './format.js';

/** A problem the MR did not introduce: listed in the summary, kept across pushes until a review no longer sees it… or forever, by fingerprint. */
export type PreExisting = Pick<Finding, 'file' | 'start_line' | 'severity' | 'title'> & { fp: string };

/** Earlier runs' pre-existing items plus this run's, once each (a push's review rarely repeats them all). */
export function mergePreExisting(stored: PreExisting[] | undefined, fresh: Finding[]): PreExisting[] {
  const out = new Map((stored ?? []).map((p) => [p.fp, p]));
  for (const f of fresh) {
    const fp = findingFingerprint(f);
    if (!out.has(fp)) out.set(fp, { fp, file: f.file, start_line: f.start_line, severity: f.severity, title: f.title });
  }
  return [...out.values()].slice(-50);
}

/** What the risk levels mean (the summary defines them where it uses them). */
export const RISK_LEVELS = 'low: no open finding above minor, or a change with a small blast radius; medium: a finding or area that can break behaviour for some inputs; high: security, data loss, or a crash on a common path.';

/** Why a finding never reached GitLab (flows/check-findings.ts, the verifier), in the summary's words. */
export const DROP_REASONS = {
  evidence: 'quote not found in the code',
  rule: 'project rule not quoted from a guidance file',
  lint: 'lint-owned or lint-suppressed',
  verifier: 'not confirmed by the verifier',
} as const;
export type DropReason = keyof typeof DROP_REASONS;

export interface SummaryInput {
  summary: string;
  risk?: string;
  headSha: string;
  findings: PostedFinding[];
  /** not posted inline: pre-existing, below threshold but worth knowing, unplaced */
  preExisting: Pick<Finding, 'file' | 'start_line' | 'severity' | 'title'>[];
  omitted: { path: string; reason: string }[];
  reviewedFiles: number;
  costUsd: number;
  reviews: number;
  botUsername: string;
  verification?: Verification;
  /** findings dropped by the checks in code (and the verifier), suggestions removed */
  checks?: CheckCounts;
  /** the MR's web URL: each open finding is linked as `<url>#note_<id>` */
  mrUrl?: string;
  /** guidance files of the target branch the review applied */
  guidanceFiles?: string[];
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

function verificationRow(v: Verification): string {
  if (v.failed === 'hold') return `⚠️ the verification pass failed: ${v.held ?? 0} new finding${v.held === 1 ? '' : 's'} held back until the next review`;
  if (v.failed === 'label') return `⚠️ the verification pass failed: ${v.unverified?.length ?? 0} new finding${v.unverified?.length === 1 ? '' : 's'} posted labelled unverified`;
  const { checked, dropped } = v;
  return `${checked - dropped} of ${checked} new candidate${checked === 1 ? '' : 's'} confirmed by a second, independent look${dropped ? ` (${dropped} dropped)` : ''}`;
}

/** The "dropped" line: how many findings never reached GitLab, and why. */
export function droppedLine(c: CheckCounts | undefined): string | undefined {
  if (!c) return undefined;
  const parts = Object.entries(c.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${DROP_REASONS[k as DropReason] ?? k}`);
  const total = Object.values(c.dropped).reduce((a, b) => a + b, 0);
  const sugg = c.suggestions ? `${c.suggestions} suggestion${c.suggestions === 1 ? '' : 's'} removed (would not apply cleanly)` : '';
  if (!total && !sugg) return undefined;
  return [total ? `${total} finding${total === 1 ? '' : 's'} (${parts.join(', ')})` : '', sugg].filter(Boolean).join('; ');
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
  if (s.verification) lines.push(`| **Verified** | ${verificationRow(s.verification)} |`);
  const dropped = droppedLine(s.checks);
  if (dropped) lines.push(`| **Dropped** | ${dropped} |`);
  if (s.guidanceFiles?.length) lines.push(`| **Guidance applied** | ${s.guidanceFiles.map((f) => `\`${f}\``).join(', ')} |`);
  if (s.learnings) lines.push(`| **Team learnings** | ${s.learnings} applied (\`@${s.botUsername} learnings\` lists them) |`);
  lines.push(`| **Cost** | $${s.costUsd.toFixed(4)} over ${s.reviews} run${s.reviews === 1 ? '' : 's'} |`);
  if (s.mode) lines.push(`| **Posted as** | ${s.mode === 'review' ? 'one review (GitLab draft notes, one notification)' : 'separate comments (no draft notes API for the bot on this GitLab)'} |`);
  if (s.since) lines.push('', sinceLine(s.since));
  const held = s.verification?.failed === 'hold' ? (s.verification.held ?? 0) : 0;
  if (open.length === 0 && listed.length === 0) lines.push('', held ? 'Nothing posted yet: the findings of this run wait for verification.' : 'No problems found that this MR introduces.');
  else if (s.mrUrl) {
    lines.push('', '**Open findings:**');
    for (const f of open) lines.push(`- ${SEVERITY_BADGE[f.severity as Severity] ?? f.severity} [${f.title.replace(/[[\]]/g, '')}](${s.mrUrl}#note_${f.noteId}) — \`${f.file}:${f.line}\``);
  }
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
  lines.push('', `<sub>Risk levels: ${RISK_LEVELS}</sub>`);
  lines.push('', `<sub>Reply in any finding's thread to discuss it; mention @${s.botUsername} with \`help\` for commands.</sub>`);
  return withMarker(lines.join('\n'), { kind: 'summary', sha: s.headSha });
}
