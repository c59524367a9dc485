// Map a model finding to a GitLab diff position, or to a general note when its line is outside the diff or its
// anchor text does not match the head file. Pure.
import type { DiffPosition, DiffRefs, FileDiff } from '../gitlab/types.js';
import type { Finding } from './findings.js';
import { normalizeCodeLine, parseHunks, type DiffLine, type Hunk } from '../gitlab/diff.js';

export type Anchored =
  | {
      kind: 'inline';
      position: DiffPosition;
      file: string;
      line: number;
      side: 'new' | 'old';
      lineType: 'add' | 'del' | 'ctx';
      startLine: number;
      endLine: number;
      /**
       * Extra (optional): the current text of startLine..endLine on the finding's side when every
       * one of those lines is shown in the diff; lets format.ts drop no-op suggestions.
       */
      currentText?: string[];
    }
  | { kind: 'general'; file: string; line: number; reason: string };

/** How far (in lines) a mismatching anchor may be searched for. */
export const ANCHOR_WINDOW = 5;

export function normalizePath(p: string): string {
  return p.trim().replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}

/**
 * Candidate forms of the model's anchor text: its first non-blank line, normalised; plus the same
 * without a copied render prefix ("12 +", "+", "-"), tried only if the plain form fails.
 */
function anchorForms(anchor: string): string[] {
  const first = anchor.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  const forms = [normalizeCodeLine(first)];
  const stripped = first.replace(/^\s*\d+ [+ -]/, '').replace(/^[+-]/, '');
  const n2 = normalizeCodeLine(stripped);
  if (n2 !== forms[0]) forms.push(n2);
  return forms;
}

interface Located {
  hunk: Hunk;
  index: number;
  line: DiffLine;
}

function lineNo(l: DiffLine, side: 'new' | 'old'): number | undefined {
  return side === 'new' ? l.newLine : l.oldLine;
}

function general(f: Finding, reason: string): Anchored {
  return { kind: 'general', file: f.file, line: f.start_line, reason };
}

export function anchorFinding(finding: Finding, files: FileDiff[], refs: DiffRefs): Anchored {
  const want = normalizePath(finding.file);
  const side = finding.side === 'old' ? 'old' : 'new';
  const file =
    side === 'new'
      ? (files.find((f) => !f.deleted_file && normalizePath(f.new_path) === want) ??
        files.find((f) => !f.deleted_file && f.renamed_file && normalizePath(f.old_path) === want))
      : (files.find((f) => normalizePath(f.old_path) === want && !f.new_file) ??
        files.find((f) => normalizePath(f.new_path) === want && !f.new_file));
  if (!file) return general(finding, `${finding.file} is not in the diff (${side} side)`);
  if (file.too_large) return general(finding, `${finding.file}: GitLab did not render its diff`);

  const hunks = parseHunks(file.diff);
  // every line shown on the finding's side, in order
  const shown: Located[] = [];
  for (const hunk of hunks) {
    hunk.lines.forEach((line, index) => {
      if (lineNo(line, side) !== undefined) shown.push({ hunk, index, line });
    });
  }
  if (shown.length === 0) return general(finding, `${finding.file} has no ${side}-side lines in the diff`);

  const forms = anchorForms(finding.anchor_text);
  const matches = (l: DiffLine) => {
    const t = normalizeCodeLine(l.text);
    return forms.some((f) => f === t);
  };
  const searchable = forms.some((f) => f !== '');
  const start = finding.start_line;
  const at = shown.find((s) => lineNo(s.line, side) === start);

  let hit: Located | undefined;
  if (at && matches(at.line)) {
    hit = at;
  } else if (side === 'new') {
    // search ±ANCHOR_WINDOW new-side lines, nearest first, earlier on ties
    if (searchable) {
      hit = nearest(
        shown.filter((s) => Math.abs(lineNo(s.line, side)! - start) <= ANCHOR_WINDOW && matches(s.line)),
        (s) => Math.abs(lineNo(s.line, side)! - start),
      );
    }
  } else if (searchable) {
    // Old side: the render leaves old lines unnumbered, so start_line is at best a guess (an old
    // number, or the new-side position of the removal). Search the whole file's old side for the
    // anchor text, removed lines first, nearest to start_line by either numbering.
    const dist = (s: Located) => Math.min(Math.abs(s.line.oldLine! - start), Math.abs(newSidePos(s) - start));
    const cands = shown.filter((s) => matches(s.line));
    hit = nearest(cands.filter((s) => s.line.type === 'del'), dist) ?? nearest(cands, dist);
  }

  if (!hit) {
    if (!searchable) return general(finding, 'anchor_text is empty; cannot verify the line');
    if (!at) {
      return general(
        finding,
        side === 'new'
          ? `line ${start} is not in the diff and the anchor text is not within ±${ANCHOR_WINDOW} lines`
          : 'anchor text not found among the removed lines',
      );
    }
    return general(finding, `anchor text does not match line ${start} (nor any line within ±${ANCHOR_WINDOW})`);
  }

  const line = lineNo(hit.line, side)!;
  const shift = line - start;
  const endLine = Math.max(line, finding.end_line + shift);
  const l = hit.line;
  const position: DiffPosition = {
    baseSha: refs.base_sha,
    startSha: refs.start_sha,
    headSha: refs.head_sha,
    positionType: 'text',
    oldPath: file.old_path,
    newPath: file.new_path,
  };
  if (l.type === 'add') position.newLine = l.newLine;
  else if (l.type === 'del') position.oldLine = l.oldLine;
  else {
    position.oldLine = l.oldLine;
    position.newLine = l.newLine;
  }

  // current text of line..endLine if all of it is shown
  const bySide = new Map<number, string>();
  for (const s of shown) bySide.set(lineNo(s.line, side)!, s.line.text);
  const currentText: string[] = [];
  for (let n = line; n <= endLine; n++) {
    const t = bySide.get(n);
    if (t === undefined) break;
    currentText.push(t);
  }

  return {
    kind: 'inline',
    position,
    file: side === 'new' ? file.new_path : file.old_path,
    line,
    side,
    lineType: l.type,
    startLine: line,
    endLine,
    ...(currentText.length === endLine - line + 1 ? { currentText } : {}),
  };
}

/** The new-side counter at a located line (for a removed line: the new line it sits before). */
function newSidePos(s: Located): number {
  if (s.line.newLine !== undefined) return s.line.newLine;
  let n = s.hunk.newStart;
  for (let i = 0; i < s.index; i++) if (s.hunk.lines[i].type !== 'del') n++;
  return n;
}

function nearest<T>(items: T[], dist: (t: T) => number): T | undefined {
  let best: T | undefined;
  let bestD = Infinity;
  for (const it of items) {
    const d = dist(it);
    if (d < bestD) {
      best = it;
      bestD = d;
    }
  }
  return best;
}
