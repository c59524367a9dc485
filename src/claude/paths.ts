// Where the CLI keeps a session's transcript:
// <CLAUDE_CONFIG_DIR>/projects/<realpath(cwd) with non-alphanumerics as "-">/<id>.jsonl
import fs from 'node:fs';
import path from 'node:path';

/** The CLI's state under DATA_DIR: CLAUDE_CONFIG_DIR (transcripts, settings) and the HOME it runs with. */
export interface CliDirs {
  configDir: string;
  homeDir: string;
}

/** One layout for `serve`, `doctor` and the benchmarks. */
export function cliDirs(dataDir: string): CliDirs {
  const configDir = path.join(dataDir, 'claude');
  return { configDir, homeDir: path.join(configDir, 'home') };
}

export function encodeProjectDir(cwd: string): string {
  let real = cwd;
  try {
    real = fs.realpathSync(cwd);
  } catch {
    // not created yet: the CLI will see the same path once it exists
  }
  return real.replace(/[^a-zA-Z0-9]/g, '-');
}

export function transcriptPath(configDir: string, cwd: string, sessionId: string): string {
  const enc = encodeProjectDir(cwd);
  const direct = path.join(configDir, 'projects', enc, `${sessionId}.jsonl`);
  // Names over 200 characters are shortened with a hash we do not reproduce: look the file up instead.
  if (enc.length <= 200 || fs.existsSync(direct)) return direct;
  return findTranscript(configDir, sessionId) ?? direct;
}

export function findTranscript(configDir: string, sessionId: string): string | undefined {
  const root = path.join(configDir, 'projects');
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(root);
  } catch {
    return undefined;
  }
  for (const d of dirs) {
    const p = path.join(root, d, `${sessionId}.jsonl`);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}
