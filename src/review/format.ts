// Markdown for finding notes, and the in-run filter/dedupe of findings (thresholds, merging, fingerprints). Pure.
import type { Finding, Severity } from './findings.js';
import type { Anchored } from './anchor.js';
import { normalizePath } from './anchor.js';
import { normalizeCodeLine } from '../gitlab/diff.js';
import { findingFingerprint, withMarker } from '../gitlab/markers.js';

export const SEVERITY_RANK: Record<Severity, number> = { critical: 0, major: 1, minor: 2, nit: 3 };

export const SEVERITY_BADGE: Record<Severity, string> = {
  critical: '🔴 Critical',
  major: '🟠 Major',
  minor: '🟡 Minor',
  nit: '⚪ Nit',
};

/** GitLab applies at most 100 lines below the commented line. */
export const MAX_SUGGESTION_OFFSET = 100;
const MAX_EVIDENCE = 5;

function fenceFor(content: string): string {
  const longest = Math.max(0, ...(content.match(/`+/g) ?? []).map((r) => r.length));
  return '`'.repeat(Math.max(3, longest + 1));
}

function sameCode(a: string[], b: string[]): boolean {
  const norm = (xs: string[]) => xs.map(normalizeCodeLine).join('\n').trim();
  return norm(a) === norm(b);
}

function evidenceItem(e: string): string {
  const t = e.trim();
  return t.includes('`') ? t : `\`${t}\``;
}

/**
 * The suggestion block for a finding, or '' when none applies: needs a non-blank string
 * suggestion, an inline placement on the new side (added or context line), a span of at most
 * MAX_SUGGESTION_OFFSET lines (longer spans are dropped rather than clamped: a clamped range
 * would replace fewer lines than the suggestion was written for), and text that differs from the
 * current lines (from anchored.currentText, or the anchor text for single-line findings).
 */
export function suggestionBlock(f: Finding, anchored: Anchored): string {
  if (typeof f.suggestion !== 'string' || f.suggestion.trim() === '') return '';
  if (anchored.kind !== 'inline' || anchored.side !== 'new' || anchored.lineType === 'del') return '';
  const span = anchored.endLine - anchored.startLine;
  if (span < 0 || span > MAX_SUGGESTION_OFFSET) return '';
  const text = f.suggestion.replace(/\r\n?/g, '\n').replace(/\n$/, '');
  const lines = text.split('\n');
  const current = anchored.currentText ?? (span === 0 ? [f.anchor_text] : undefined);
  if (current && sameCode(lines, current)) return '';
  return suggestionFence(text, span);
}

/** GitLab's suggestion block on the commented line and `span` lines below it. */
export function suggestionFence(text: string, span: number): string {
  const body = text.replace(/\r\n?/g, '\n').replace(/\n$/, '');
  const fence = fenceFor(body);
  return `${fence}suggestion:-0+${span}\n${body}\n${fence}`;
}

/** `unverified`: the verification pass failed and the repo config posts such findings labelled, not as if verified. */
export function formatFindingBody(f: Finding, anchored: Anchored, opts?: { fingerprint: string; unverified?: boolean }): string {
  const parts: string[] = [];
  const category = f.category.replace(/_/g, ' ');
  parts.push(`**${SEVERITY_BADGE[f.severity] ?? f.severity}** · ${category} · **${f.title.trim()}**`);
  if (opts?.unverified) parts.push('⚠️ **Unverified:** the second, independent look at this finding failed to run, so nothing confirmed it.');
  if (f.body.trim()) parts.push(f.body.trim());
  if (anchored.kind === 'general') {
    const end = f.end_line > f.start_line ? `-${f.end_line}` : '';
    parts.push(`**Location:** \`${anchored.file}:${anchored.line}${end}\``);
  }
  const ev = f.evidence.map((e) => e.trim()).filter(Boolean);
  if (ev.length) {
    const shown = ev.slice(0, MAX_EVIDENCE).map((e) => `- ${evidenceItem(e)}`);
    if (ev.length > MAX_EVIDENCE) shown.push(`- … and ${ev.length - MAX_EVIDENCE} more`);
    parts.push(['**Evidence:**', ...shown].join('\n'));
  }
  if (f.rule) parts.push(`**Rule** in \`${f.rule.source.trim()}\`: “${f.rule.quote.trim().replace(/\s+/g, ' ')}”`);
  const sugg = suggestionBlock(f, anchored);
  if (sugg) parts.push(sugg);
  const fp = opts?.fingerprint ?? findingFingerprint(f);
  return withMarker(parts.join('\n\n'), { kind: 'finding', fp });
}

export interface FilterResult {
  kept: Finding[];
  dropped: { finding: Finding; reason: string }[];
}

/**
 * Thresholds: severity at least minSeverity (default 'minor'; nit only when
 * the threshold is 'nit'); confidence at least minConfidence (default 80), and at least 90 for
 * minor and nit. Then pre-existing findings go to `dropped` with reason 'pre-existing' (for the
 * summary). Then same-category findings on overlapping lines of one file/side are merged, keeping
 * the higher severity, then higher confidence, then the earlier one. `kept` keeps input order.
 */
export function filterFindings(
  findings: Finding[],
  opts: { minSeverity: Severity; minConfidence: number },
): FilterResult {
  const minSeverity: Severity = opts?.minSeverity && opts.minSeverity in SEVERITY_RANK ? opts.minSeverity : 'minor';
  const minConfidence = Number.isFinite(opts?.minConfidence) ? opts.minConfidence : 80;
  const dropped: FilterResult['dropped'] = [];
  const candidates: { f: Finding; i: number }[] = [];

  findings.forEach((f, i) => {
    const rank = SEVERITY_RANK[f.severity];
    if (rank === undefined || rank > SEVERITY_RANK[minSeverity]) {
      dropped.push({ finding: f, reason: `below severity threshold (${minSeverity})` });
      return;
    }
    const needed = rank >= SEVERITY_RANK.minor ? Math.max(minConfidence, 90) : minConfidence;
    if (!(f.confidence >= needed)) {
      dropped.push({ finding: f, reason: `confidence ${f.confidence} below ${needed}` });
      return;
    }
    if (f.pre_existing) {
      dropped.push({ finding: f, reason: 'pre-existing' });
      return;
    }
    candidates.push({ f, i });
  });

  const better = [...candidates].sort(
    (a, b) =>
      SEVERITY_RANK[a.f.severity] - SEVERITY_RANK[b.f.severity] || b.f.confidence - a.f.confidence || a.i - b.i,
  );
  const winners: { f: Finding; i: number }[] = [];
  for (const c of better) {
    const dup = winners.find((w) => overlaps(w.f, c.f));
    if (dup) dropped.push({ finding: c.f, reason: `duplicate of "${dup.f.title}"` });
    else winners.push(c);
  }
  winners.sort((a, b) => a.i - b.i);
  return { kept: winners.map((w) => w.f), dropped };
}

function overlaps(a: Finding, b: Finding): boolean {
  if (a.category !== b.category || a.side !== b.side) return false;
  if (normalizePath(a.file) !== normalizePath(b.file)) return false;
  const aEnd = Math.max(a.start_line, a.end_line);
  const bEnd = Math.max(b.start_line, b.end_line);
  return a.start_line <= bEnd && b.start_line <= aEnd;
}
