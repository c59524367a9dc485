// `mr-reviewer learnings export|import --project <id> [--file F] [--replace]`: a project's team learnings as YAML,
// so a team can review them in an MR of its own and load the result back. Reads and writes the bot's store directly
// (the same DATA_DIR or REDIS_URL as the bot; no GitLab call, no queue).
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { createBackend } from '../backends.js';
import { shortHash } from '../gitlab/markers.js';
import { createLogger } from '../logger.js';
import { makeRedactor } from '../redact.js';
import { cleanGlob, cleanInstruction, cleanLanguage, learningSchema, type Learning } from '../review/learnings.js';
import { LearningsRepo } from '../store/learnings.js';
import { configOrExit } from './config.js';

/** What the file holds per learning: a stored learning whose fields but the instruction may be missing or null (hand-written). */
const withoutNulls = (v: unknown) => (v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null)) : v);
const fileEntry = z.preprocess(withoutNulls, learningSchema.partial().required({ instruction: true }).extend({ id: z.string().optional() }));
const fileSchema = z.object({ project: z.number().int().optional(), learnings: z.array(fileEntry).default([]) });

export function learningsToYaml(pid: number, ls: Learning[]): string {
  const sorted = [...ls].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return `# mr-reviewer team learnings of project ${pid}. Edit, review, then: mr-reviewer learnings import --project ${pid} --file <this file> [--replace]\n${stringify({ project: pid, learnings: sorted })}`;
}

/** The file's learnings, cleaned like any learning from a note (untrusted text); a missing id is derived from the text. */
export function learningsFromYaml(text: string): { project?: number; learnings: Learning[] } {
  const file = fileSchema.parse(parse(text) ?? {});
  const now = new Date().toISOString();
  const learnings = file.learnings.map((e): Learning => {
    const instruction = cleanInstruction(e.instruction);
    const p = cleanGlob(e.path);
    const language = cleanLanguage(e.language);
    const id = e.id && /^[a-z0-9]{4,16}$/.test(e.id) ? e.id : shortHash(`import\0${instruction}\0${p ?? ''}\0${language ?? ''}`, 8);
    return {
      id, instruction, path: p, language,
      author: e.author, url: e.url, mr: e.mr,
      source: e.source ?? `import:${id}`, createdAt: e.createdAt ?? now,
    };
  });
  const ids = new Set<string>();
  for (const l of learnings) {
    if (ids.has(l.id)) throw new Error(`learning id ${l.id} appears twice`);
    ids.add(l.id);
  }
  return { project: file.project, learnings };
}

export async function learningsCommand(o: { action: string; project?: string; file?: string; replace?: boolean }): Promise<number> {
  const pid = Number(o.project);
  if ((o.action !== 'export' && o.action !== 'import') || !Number.isInteger(pid) || pid < 1) {
    console.error('usage: mr-reviewer learnings export|import --project <GitLab project id> [--file <file.yml>] [--replace]');
    return 2;
  }
  const config = configOrExit({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const log = createLogger({ level: config.LOG_LEVEL, redact: makeRedactor(config.secrets), destination: process.stderr });
  const backend = createBackend(config, { log, claudeDir: path.join(config.dataDir, 'claude') });
  const repo = new LearningsRepo(backend.store);
  try {
    if (o.action === 'export') {
      const text = learningsToYaml(pid, await repo.list(pid));
      if (o.file) fs.writeFileSync(o.file, text);
      else process.stdout.write(text);
      return 0;
    }
    const { project, learnings } = learningsFromYaml(o.file ? fs.readFileSync(o.file, 'utf8') : fs.readFileSync(0, 'utf8'));
    if (project !== undefined && project !== pid) {
      console.error(`mr-reviewer learnings import: the file is for project ${project}, not ${pid}; nothing was changed`);
      return 1;
    }
    const r = await repo.importMany(pid, learnings, !!o.replace);
    console.log(`project ${pid}: ${r.added} added, ${r.updated} updated, ${r.removed} removed (${(await repo.list(pid)).length} in all)`);
    return 0;
  } catch (e) {
    console.error(`mr-reviewer learnings ${o.action}: ${(e as Error).message}`);
    return 1;
  } finally {
    await backend.store.close();
    await backend.close();
  }
}
