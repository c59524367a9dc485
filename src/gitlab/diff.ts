// Parsing GitLab's per-file `diff` field (unified hunks without file headers). Pure, no I/O.
import { createHash } from 'node:crypto';

export interface DiffLine {
  type: 'add' | 'del' | 'ctx';
  oldLine?: number;
  newLine?: number;
  text: string;
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** the whole `@@ -a,b +c,d @@ section` line */
  header: string;
  lines: DiffLine[];
}

const HUNK_RE = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/;

/**
 * Parse unified hunks. Lines before the first hunk (file headers, "Binary files … differ",
 * "GIT binary patch" …) and lines after a hunk's counts are used up are ignored, so binary
 * notices and empty diffs give `[]`. "\ No newline at end of file" is skipped. A bare empty line
 * inside a hunk (some tools strip the leading space of blank context lines) counts as context.
 * A trailing "\r" (CRLF files) is removed from each line's text.
 */
export function parseHunks(diff: string): Hunk[] {
  const hunks: Hunk[] = [];
  if (!diff) return hunks;
  const raw = diff.split('\n');
  // a diff ending in "\n" leaves one empty trailing element that is not a line
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();

  let cur: Hunk | undefined;
  let oldNo = 0;
  let newNo = 0;
  let oldLeft = 0;
  let newLeft = 0;

  for (const rawLine of raw) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const m = HUNK_RE.exec(line);
    if (m) {
      const oldStart = Number(m[1]);
      const oldLines = m[2] === undefined ? 1 : Number(m[2]);
      const newStart = Number(m[3]);
      const newLines = m[4] === undefined ? 1 : Number(m[4]);
      cur = { oldStart, oldLines, newStart, newLines, header: line, lines: [] };
      hunks.push(cur);
      oldNo = oldStart;
      newNo = newStart;
      oldLeft = oldLines;
      newLeft = newLines;
      continue;
    }
    if (!cur) continue;
    if (line.startsWith('\\')) continue; // "\ No newline at end of file"
    if (oldLeft <= 0 && newLeft <= 0) continue; // trailing noise after the hunk
    const marker = line.charAt(0);
    if (marker === '+' && newLeft > 0) {
      cur.lines.push({ type: 'add', newLine: newNo++, text: line.slice(1) });
      newLeft--;
    } else if (marker === '-' && oldLeft > 0) {
      cur.lines.push({ type: 'del', oldLine: oldNo++, text: line.slice(1) });
      oldLeft--;
    } else if ((marker === ' ' || line === '') && oldLeft > 0 && newLeft > 0) {
      cur.lines.push({ type: 'ctx', oldLine: oldNo++, newLine: newNo++, text: line.slice(1) });
      oldLeft--;
      newLeft--;
    }
    // anything else (malformed line) is ignored
  }
  return hunks;
}

/** New-side line numbers of added lines. */
export function changedNewLines(diff: string): Set<number> {
  const out = new Set<number>();
  for (const h of parseHunks(diff)) {
    for (const l of h.lines) if (l.type === 'add' && l.newLine !== undefined) out.add(l.newLine);
  }
  return out;
}

/** GitLab's line code: `sha1(path)_old_new`. */
export function lineCode(path: string, oldLine: number, newLine: number): string {
  return `${createHash('sha1').update(path).digest('hex')}_${oldLine}_${newLine}`;
}

/**
 * The line code GitLab itself computes for `hunk.lines[index]` (Gitlab::Diff::Parser): an added
 * line carries the old-side counter at that point, a removed line the new-side counter. Use this
 * for `line_range` ends; `lineCode(path, 0, n)` is not what GitLab stores for added lines.
 */
export function hunkLineCode(path: string, hunk: Hunk, index: number): string {
  let oldNo = hunk.oldStart;
  let newNo = hunk.newStart;
  for (let i = 0; i < index; i++) {
    const t = hunk.lines[i].type;
    if (t !== 'add') oldNo++;
    if (t !== 'del') newNo++;
  }
  const l = hunk.lines[index];
  if (!l) throw new RangeError(`hunk has no line ${index}`);
  return lineCode(path, l.oldLine ?? oldNo, l.newLine ?? newNo);
}

/** Trim and collapse internal whitespace: the comparison used for anchor texts and fingerprints. */
export function normalizeCodeLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** "Binary files a/x and b/x differ" / "GIT binary patch" notices. */
export function isBinaryDiff(diff: string): boolean {
  return /^Binary files .* differ$/m.test(diff) || /^GIT binary patch$/m.test(diff);
}
