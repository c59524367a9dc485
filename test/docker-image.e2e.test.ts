// The container image runs from exactly the files deploy/Dockerfile copies (no tsconfig.json, no test/),
// so the bot is started from a copy of just those files and its HTTP surface must answer 2xx.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_HEADER } from '../src/server/app.js';
import { startBotProcess, type BotProcess } from '../standins/bot-process.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';
import { BOT, TOKEN } from '../standins/harness.js';
import { startModelStandin, type ModelStandin } from '../standins/model.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const ADMIN = 'image-admin-token-0042';

/** Sources of the final stage's COPY lines (not `--from=` copies, which bring node_modules from the deps stage). */
function imageSources(dockerfile: string): string[] {
  const stages = dockerfile.split(/^FROM /m);
  const final = stages.at(-1)!;
  return [...final.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => {
    const parts = m[1]!.trim().split(/\s+/).filter((p) => !p.startsWith('--'));
    return parts.slice(0, -1); // the last one is the destination
  });
}

describe('the container image', () => {
  let gitlab: GitlabStandin;
  let model: ModelStandin;
  let bot: BotProcess;
  let image: string;
  let dataDir: string;

  beforeAll(async () => {
    const sources = imageSources(fs.readFileSync(path.join(ROOT, 'deploy/Dockerfile'), 'utf8'));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'bin', 'src']));
    image = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-image-'));
    for (const s of sources) fs.cpSync(path.join(ROOT, s), path.join(image, s), { recursive: true });
    expect(fs.existsSync(path.join(image, 'tsconfig.json'))).toBe(false);
    // the deps stage's `npm ci --omit=dev`: here the checkout's node_modules stands in for it
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(image, 'node_modules'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-image-data-'));
    gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
    model = await startModelStandin();
    bot = await startBotProcess({ gitlab, model, dataDir, root: image, env: { NODE_ENV: 'production', ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'info' } });
  });

  afterAll(async () => {
    await bot?.term();
    await gitlab?.close();
    await model?.close();
    fs.rmSync(image, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the status page, /healthz, /readyz, /metrics and a webhook', async () => {
    const page = await fetch(`${bot.url}/`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const html = await page.text();
    expect(page.status, html.slice(0, 300)).toBe(200);
    expect(html).toContain('mr-reviewer status');

    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${bot.url}/readyz`)).status).toBe(200);
    const metrics = await fetch(`${bot.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('mr_reviewer_webhooks_total');

    const project = await gitlab.createProject('acme/image', { 'README.md': '# image\n' });
    await gitlab.commit(project, 'feature', { 'a.txt': 'a\n' });
    const mr = await gitlab.createMr(project, { sourceBranch: 'feature', title: 'image' });
    const hook = await bot.send(gitlab.mrHook(project, mr.iid, 'approved'));
    expect(hook.status).toBe(200);
    expect(hook.headers.get(OUTCOME_HEADER)).toBe('ignored');
    expect(bot.logs.filter((l) => l.msg === 'request failed')).toEqual([]);
  });
});
