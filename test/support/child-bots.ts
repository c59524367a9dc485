// Shared set-up for tests that run the bot as a child process against one pair of stand-ins per file: the stand-ins,
// the bots started (killed after each test), their data dirs (removed after the file), an MR with two known bugs,
// and the bot's marked notes by kind. Call `childBots()` at the top level of a test file; it registers the hooks.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { readMarker } from '../../src/gitlab/markers.js';
import { startBotProcess, type BotProcess } from '../../standins/bot-process.js';
import { startGitlabStandin, type GitlabStandin, type StandinProject } from '../../standins/gitlab.js';
import { ALICE, BOT, finding, TOKEN } from '../../standins/harness.js';
import { startModelStandin, type ModelStandin } from '../../standins/model.js';

/** The two bugs `mrWithBugs` adds, as the model reports them. */
export const DIV = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' });
export const FIRST = finding({ file: 'src/list.js', start_line: 2, anchor_text: '  return xs[0].value;', title: 'Crashes on empty list' });

export interface ChildBots {
  gitlab(): GitlabStandin;
  model(): ModelStandin;
  /** a bot on `dir`, with `env` over the defaults; killed after the test */
  startBot(dir: string, env?: Record<string, string>): Promise<BotProcess>;
  /** a fresh DATA_DIR, removed after the file */
  dataDir(): string;
  /** a project whose MR adds `div` (DIV) and `first` (FIRST) */
  mrWithBugs(projectPath: string): Promise<{ project: StandinProject; mr: Awaited<ReturnType<GitlabStandin['createMr']>> }>;
  /** the bot's marked notes on an MR, by kind */
  posted(project: StandinProject, iid: number): { summaries: Note[]; findings: Note[]; failures: Note[]; all: Note[] };
  /** bots started and not yet killed (a test may kill one itself) */
  bots: BotProcess[];
}
type Note = ReturnType<GitlabStandin['discussions']>[number]['notes'][number];

export function childBots(o: { prefix: string; env?: Record<string, string> }): ChildBots {
  let gitlab: GitlabStandin;
  let model: ModelStandin;
  const bots: BotProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    model = await startModelStandin();
    gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
    gitlab.addUser(ALICE);
  });
  beforeEach(() => model.reset());
  afterEach(async () => {
    for (const b of bots.splice(0)) await b.kill9();
  });
  afterAll(async () => {
    await model?.close();
    await gitlab?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  return {
    gitlab: () => gitlab,
    model: () => model,
    bots,
    async startBot(dir, env = {}) {
      const b = await startBotProcess({ gitlab, model, dataDir: dir, env: { ...o.env, ...env } });
      bots.push(b);
      return b;
    },
    dataDir() {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), `${o.prefix}-`));
      dirs.push(d);
      return d;
    },
    async mrWithBugs(projectPath) {
      const project = await gitlab.createProject(projectPath, { 'README.md': '# app\n', 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n' });
      await gitlab.commit(project, 'feature', {
        'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  return a / b;\n}\n',
        'src/list.js': 'export function first(xs) {\n  return xs[0].value;\n}\n',
      });
      const mr = await gitlab.createMr(project, { sourceBranch: 'feature', title: 'Add helpers', authorId: ALICE.id });
      return { project, mr };
    },
    posted(project, iid) {
      const notes = gitlab.discussions(project, iid).flatMap((d) => d.notes).filter((n) => n.author.id === BOT.id);
      const of = (kind: string) => notes.filter((n) => readMarker(n.body)?.kind === kind);
      return { summaries: of('summary'), findings: of('finding'), failures: of('failure'), all: notes };
    },
  };
}
