// What a push changed: `git diff old new` split per file, and which old-head lines it touched.
import { parseHunks } from '../gitlab/diff.js';

export interface FilePatch {
  oldPath: string;
  newPath: string;
  /** the hunks (from the first @@), as GitLab's per-file `diff` field holds them */
  diff: string;
}

const HEADER = /^diff --git a\/(.+?) b\/(.+)$/;

export function splitGitDiff(text: string): FilePatch[] {
  const out: FilePatch[] = [];
  let cur: { oldPath: string; newPath: string; lines: string[]; inHunks: boolean } | undefined;
  const flush = () => cur && out.push({ oldPath: cur.oldPath, newPath: cur.newPath, diff: cur.lines.join('\n') });
  for (const line of text.split('\n')) {
    const m = HEADER.exec(line);
    if (m) {
      flush();
      cur = { oldPath: m[1]!, newPath: m[2]!, lines: [], inHunks: false };
      continue;
    }
    if (!cur) continue;
    if (!cur.inHunks) {
      if (line.startsWith('--- ') && line !== '--- /dev/null') cur.oldPath = line.slice(6);
      else if (line.startsWith('+++ ') && line !== '+++ /dev/null') cur.newPath = line.slice(6);
      else if (line.startsWith('rename from ')) cur.oldPath = line.slice(12);
      else if (line.startsWith('rename to ')) cur.newPath = line.slice(10);
      if (!line.startsWith('@@')) continue;
      cur.inHunks = true;
    }
    cur.lines.push(line);
  }
  flush();
  return out;
}

/** Whether the push's hunks cover `line` of `file` as it was at the old head (context lines included). */
export function touches(patches: FilePatch[], file: string, line: number): boolean {
  const p = patches.find((x) => x.oldPath === file || x.newPath === file);
  if (!p) return false;
  return parseHunks(p.diff).some((h) => line >= h.oldStart && line < h.oldStart + Math.max(h.oldLines, 1));
}
