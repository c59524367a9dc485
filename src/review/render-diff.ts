// The diff as the model sees it, in PR-Agent's __new hunk__/__old hunk__ format: new lines numbered so the model
// cites head-file lines (never removed ones), old lines only where something was removed. Pure.
import type { FileDiff } from '../gitlab/types.js';
import { isBinaryDiff, parseHunks, type Hunk } from '../gitlab/diff.js';

export interface RenderedDiff {
  text: string;
  /** paths (new_path; old_path for deleted files) rendered into `text`, in render order */
  included: string[];
  omitted: { path: string; reason: string }[];
}

export const REASON_BUDGET = 'diff budget exhausted';
export const REASON_LOCK = 'lock file';
export const REASON_VENDORED = 'vendored';
export const REASON_GENERATED = 'generated';
export const REASON_BINARY = 'binary';
export const REASON_TOO_LARGE = 'too large (GitLab did not render it)';
export const REASON_COLLAPSED = 'collapsed by GitLab (its diff is over the collapse limit)';
export const REASON_GENERATED_BY_GITLAB = 'generated (GitLab marks it so and left its diff out)';
export const REASON_OVERFLOW = 'left out by GitLab (the MR is over its diff limits)';

const LOCK_FILES = new Set([
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lockb',
  'cargo.lock',
  'go.sum',
  'poetry.lock',
  'pipfile.lock',
  'uv.lock',
  'gemfile.lock',
  'composer.lock',
  'flake.lock',
  'packages.lock.json',
]);

const VENDORED_DIR = /(^|\/)(vendor|node_modules|third_party)\//i;
const GENERATED_DIR = /(^|\/)(dist|build)\//i;
const GENERATED_FILE = [
  /\.min\.(js|css|mjs)$/i,
  /\.map$/i,
  /_pb2(_grpc)?\.pyi?$/i,
  /\.pb\.go$/i,
  /\.pb\.(cc|h)$/i,
  /\.generated\.[^/]+$/i,
  /(^|\/)[^/]+\.g\.dart$/i,
];

function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/** Why a path is skipped by default ('lock file' | 'vendored' | 'generated'), or undefined. */
export function defaultSkipReason(path: string): string | undefined {
  if (LOCK_FILES.has(baseName(path).toLowerCase())) return REASON_LOCK;
  if (VENDORED_DIR.test(path)) return REASON_VENDORED;
  if (GENERATED_DIR.test(path) || GENERATED_FILE.some((re) => re.test(path))) return REASON_GENERATED;
  return undefined;
}

/**
 * True for anything skipped by default: generated output, lock files and vendored code
 * (alike: no review, no findings).
 */
export function isGeneratedPath(path: string): boolean {
  return defaultSkipReason(path) !== undefined;
}

const TEST_PATH = [
  /(^|\/)(tests?|__tests__|specs?|testdata|test_data|fixtures|__mocks__|e2e)\//i,
  /\.(test|spec)\.[cm]?[jt]sx?$/i,
  /_test\.(go|py|rb|exs?)$/i,
  /(^|\/)test_[^/]+\.py$/i,
  /_spec\.rb$/i,
  /(Test|Tests|IT)\.(java|kt|scala|cs)$/,
];
const DOC_CONFIG_EXT =
  /\.(md|markdown|mdx|rst|adoc|txt|json|jsonc|json5|ya?ml|toml|ini|cfg|conf|properties|xml|csv|lock|env|editorconfig|svg|png|jpe?g|gif|ico)$/i;
const DOC_CONFIG_NAME = /^(readme|license|licence|changelog|contributing|authors|codeowners|notice|\.[^/]+)$/i;

/** 0 = source, 1 = tests, 2 = docs/config. */
export function filePriority(path: string): number {
  if (TEST_PATH.some((re) => re.test(path))) return 1;
  const name = baseName(path);
  if (DOC_CONFIG_EXT.test(name) || DOC_CONFIG_NAME.test(name)) return 2;
  return 0;
}

function displayPath(f: FileDiff): string {
  return f.deleted_file ? f.old_path : f.new_path;
}

function fileHeader(f: FileDiff): string {
  const notes: string[] = [];
  if (f.new_file) notes.push('new file');
  if (f.deleted_file) notes.push('deleted file');
  if (f.renamed_file && f.old_path !== f.new_path) notes.push(`renamed from ${f.old_path}`);
  return `## File: ${displayPath(f)}${notes.length ? ` (${notes.join('; ')})` : ''}`;
}

function renderHunk(h: Hunk): string {
  const out: string[] = [h.header, '__new hunk__'];
  for (const l of h.lines) {
    if (l.type === 'add') out.push(`${l.newLine} +${l.text}`);
    else if (l.type === 'ctx') out.push(`${l.newLine}  ${l.text}`);
  }
  if (h.lines.some((l) => l.type === 'del')) {
    out.push('__old hunk__');
    for (const l of h.lines) {
      if (l.type === 'del') out.push(`-${l.text}`);
      else if (l.type === 'ctx') out.push(` ${l.text}`);
    }
  }
  return out.join('\n');
}

/** One file's block, or the reason it can't be rendered. */
function renderFile(f: FileDiff): { block: string } | { reason: string } {
  const header = fileHeader(f);
  if (f.deleted_file) {
    // Old content of a deleted file is rarely worth the budget; the model can grep for users.
    const removed = parseHunks(f.diff).reduce((n, h) => n + h.lines.filter((l) => l.type === 'del').length, 0);
    return { block: `${header}\n(file deleted${removed ? `, ${removed} lines removed` : ''}; content not shown)` };
  }
  if (f.overflow) return { reason: REASON_OVERFLOW };
  if (f.too_large) return { reason: REASON_TOO_LARGE };
  if (isBinaryDiff(f.diff)) return { reason: REASON_BINARY };
  const hunks = parseHunks(f.diff);
  if (hunks.length === 0) {
    if (f.generated_file) return { reason: REASON_GENERATED_BY_GITLAB };
    if (f.collapsed) return { reason: REASON_COLLAPSED };
    if (f.diff.trim() !== '') return { reason: REASON_BINARY }; // something, but no text hunks
    if (f.renamed_file) return { block: `${header}\n(content unchanged)` };
    if (f.new_file) return { block: `${header}\n(empty file)` };
    return { block: `${header}\n(no textual changes; mode change only)` };
  }
  return { block: [header, ...hunks.map(renderHunk)].join('\n\n') };
}

const SEPARATOR = '\n\n';

/**
 * Render files in priority order (source, tests, docs/config; GitLab's order within a class),
 * each whole or not at all. Skipped paths (opts.skip first, then defaultSkipReason), binary and
 * unrendered files go to `omitted`. Greedy: a file that doesn't fit is omitted with
 * 'diff budget exhausted' and smaller later files may still be included. `text.length` never
 * exceeds maxChars. The omitted list is not part of `text`; see renderOmitted().
 */
export function renderDiff(
  files: FileDiff[],
  opts: { maxChars: number; skip?: (path: string) => string | undefined },
): RenderedDiff {
  const included: string[] = [];
  const omitted: { path: string; reason: string }[] = [];
  const ordered = files
    .map((f, i) => ({ f, i, p: filePriority(displayPath(f)) }))
    .sort((a, b) => a.p - b.p || a.i - b.i);

  const blocks: string[] = [];
  let used = 0;
  for (const { f } of ordered) {
    const path = displayPath(f);
    const skip =
      opts.skip?.(path) ??
      (f.renamed_file && f.old_path !== path ? opts.skip?.(f.old_path) : undefined) ??
      defaultSkipReason(path);
    if (skip) {
      omitted.push({ path, reason: skip });
      continue;
    }
    const r = renderFile(f);
    if ('reason' in r) {
      omitted.push({ path, reason: r.reason });
      continue;
    }
    const cost = r.block.length + (blocks.length ? SEPARATOR.length : 0);
    if (used + cost > opts.maxChars) {
      omitted.push({ path, reason: REASON_BUDGET });
      continue;
    }
    blocks.push(r.block);
    included.push(path);
    used += cost;
  }
  return { text: blocks.join(SEPARATOR), included, omitted };
}

/** A short markdown list of omitted files for the prompt ('' when none). */
export function renderOmitted(omitted: RenderedDiff['omitted']): string {
  if (omitted.length === 0) return '';
  return ['## Files not shown', ...omitted.map((o) => `- ${o.path} (${o.reason})`)].join('\n');
}
