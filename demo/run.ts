// `npm run demo`: the whole bot against a local GitLab stand-in, no GitLab needed. A sample MR with real bugs
// is opened, reviewed, and questioned in one finding's thread (a question and a follow-up).
// Without ANTHROPIC_API_KEY the model is a scripted stand-in; with it, the real model reviews the sample.
// The stand-ins live in standins/ and are shared with the tests and the benchmarks.
// Afterwards the bot and the stand-ins keep running (status page, metrics) until Ctrl-C or SIGTERM, in a terminal or
// not; `--once` exits after the walk-through. DEMO_PORT fixes the bot's port (default: a free one).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config.js';
import { setupWebhook } from '../src/cli/setup-webhook.js';
import { GitLabClient } from '../src/gitlab/client.js';
import { readMarker } from '../src/gitlab/markers.js';
import { createLogger } from '../src/logger.js';
import { startBot } from '../src/main.js';
import { makeRedactor } from '../src/redact.js';
import { startGitlabStandin, type NoteJson } from '../standins/gitlab.js';
import { startModelStandin } from '../standins/model.js';
import { BASE, FEATURE, FOLLOW_UP, QUESTION, scripted } from './sample.js';

const realModel = !!process.env.ANTHROPIC_API_KEY;
const once = process.argv.includes('--once');
const out = (s = '') => process.stdout.write(`${s}\n`);
const strip = (body: string) => body.replace(/<!--[\s\S]*?-->/g, '').trim();
const indent = (s: string) => s.split('\n').map((l) => `    ${l}`).join('\n');

async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves at the first SIGINT or SIGTERM; a second one exits at once. `on`, not `once`: see src/main.ts. */
function untilSignal(): Promise<NodeJS.Signals> {
  let seen = false;
  return new Promise((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        if (seen) process.exit(1);
        seen = true;
        resolve(sig);
      });
    }
  });
}

async function main(): Promise<number> {
  const signalled = untilSignal();
  const token = `glpat-demo-${randomBytes(8).toString('hex')}`;
  const secret = `demo-secret-${randomBytes(8).toString('hex')}`;
  const adminToken = `demo-admin-${randomBytes(6).toString('hex')}`;
  const alice = { id: 11, username: 'alice', name: 'Alice' };
  const gitlab = await startGitlabStandin({ token, bot: { id: 99, username: 'review-bot' } });
  gitlab.addUser(alice);
  const model = realModel ? undefined : await startModelStandin();
  model?.respond(scripted);
  out(realModel
    ? 'Using the real model (ANTHROPIC_API_KEY is set): this review costs a few cents.'
    : 'No ANTHROPIC_API_KEY: using the scripted model stand-in (canned findings and answers). Set ANTHROPIC_API_KEY to see a real review.');

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mr-reviewer-demo-'));
  const logFile = path.join(dataDir, 'bot.log');
  const config = loadConfig({
    PATH: process.env.PATH ?? '',
    GITLAB_URL: gitlab.url,
    GITLAB_TOKEN: token,
    GITLAB_WEBHOOK_SECRET: secret,
    ADMIN_TOKEN: adminToken,
    PORT: process.env.DEMO_PORT ?? '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    // a Ctrl-C mid-review should not wait long for the CLI
    SHUTDOWN_DEADLINE_MS: '5000',
    ...(realModel
      ? { ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY, CLAUDE_MODEL: process.env.CLAUDE_MODEL }
      : { ANTHROPIC_API_KEY: 'sk-ant-demo-standin', ANTHROPIC_BASE_URL: model!.url, CLAUDE_MAX_RETRIES: '0' }),
  });
  const logger = createLogger({ level: 'info', redact: makeRedactor(config.secrets), destination: fs.createWriteStream(logFile) });
  const bot = await startBot(config, { logger });
  const botUrl = `http://127.0.0.1:${bot.port}`;

  let failed = false;
  const walkThrough = async () => {
    const project = await gitlab.createProject('demo/shop', { 'README.md': '# shop\n\nA tiny shopping cart.\n', 'src/cart.js': BASE });
    await gitlab.commit(project, 'cart-helpers', { 'src/cart.js': FEATURE }, 'Add cart helpers');
    const hook = await setupWebhook(new GitLabClient({ url: gitlab.url, token }), { project: project.path, url: `${botUrl}/webhooks/gitlab`, secret });
    out(`GitLab stand-in at ${gitlab.url}; project demo/shop, webhook #${hook.id} ${hook.action} by setup-webhook.`);

    const mr = await gitlab.createMr(project, { sourceBranch: 'cart-helpers', title: 'Add cart helpers', description: 'Average price, discount codes and a "most expensive" box.', authorId: alice.id });
    await gitlab.deliverHook(project, gitlab.mrHook(project, mr.iid, 'open'));
    out(`Opened !${mr.iid} "${mr.title}"; waiting for the review…`);
    const limit = realModel ? 600_000 : 90_000;
    const botNotes = () => gitlab.notes(project, mr.iid).filter((n) => n.author.id === 99);
    const summary = await waitFor('the review', () => botNotes().find((n) => readMarker(n.body)?.kind === 'summary'), limit);
    const findings = botNotes().filter((n) => readMarker(n.body)?.kind === 'finding');

    out('\n=== Review ===');
    out(indent(strip(summary.body)));
    for (const n of findings) out(`\n  ── ${n.position ? `${n.position.new_path}:${n.position.new_line}` : 'general'}\n${indent(strip(n.body))}`);
    if (findings.length === 0) {
      out('\n(no findings, so no thread to talk in)');
      return;
    }

    const target = findings.find((n) => /critical/i.test(n.body)) ?? findings[0]!;
    const ask = async (text: string): Promise<NoteJson> => {
      const { note, discussion } = gitlab.addNote(project, mr.iid, alice.id, text, { discussionId: target.discussion_id });
      await gitlab.deliverHook(project, gitlab.noteHook(project, mr.iid, note, discussion));
      out(`\n  @alice: ${text}`);
      const answer = await waitFor('the answer', () => gitlab.discussions(project, mr.iid).find((d) => d.id === target.discussion_id)!
        .notes.find((x) => x.id > note.id && x.author.id === 99), limit);
      out(`  @review-bot:\n${indent(strip(answer.body))}`);
      return answer as NoteJson;
    };
    out(`\n=== Thread on "${strip(target.body).split('\n')[0]}" ===`);
    await ask(QUESTION);
    await ask(FOLLOW_UP);
    await bot.queue.drained();

    const rec = await bot.deps.store.getMr(project.id, mr.iid);
    const threads = await bot.deps.store.listThreads(project.id, mr.iid);
    out('\n=== Sessions ===');
    out(`  trunk ${rec?.trunkSessionId} (the review)`);
    for (const t of threads) out(`  └─ fork ${t.forkSessionId} (this thread, ${t.turns} turns; the follow-up resumed it)`);
    const cost = (rec?.costUsd ?? 0) + threads.reduce((s, t) => s + t.costUsd, 0);
    if (realModel) out(`  cost: $${cost.toFixed(4)}`);
  };
  // A signal during the walk-through stops the demo too.
  const interrupted = await Promise.race([
    walkThrough().then(
      () => undefined,
      (e: Error) => {
        failed = true;
        out(`\ndemo failed: ${e.message}\nbot log: ${logFile}`);
      },
    ),
    signalled,
  ]);

  // a walk-through cut short by the signal may fail while it stops: that is not the demo failing
  const ok = !failed;
  const keepRunning = !once && ok && !interrupted;
  if (!interrupted) {
    out(`\nStatus page: ${botUrl}/?token=${adminToken}`);
    out(`Metrics:     ${botUrl}/metrics`);
    if (!once || failed) out(`Bot log:     ${logFile}`);
  }
  if (keepRunning) {
    out('\nThe bot and the stand-ins keep running so you can look around. Press Ctrl-C to stop (or run with --once).');
    await signalled;
  }
  out('stopping…');
  await bot.stop();
  await model?.close();
  await gitlab.close();
  // the log stays for whoever watched it while the demo ran, or after a failure
  if (once && ok) fs.rmSync(dataDir, { recursive: true, force: true });
  return ok ? 0 : 1;
}

// exit explicitly: a stand-in's keep-alive socket must not keep the demo alive after Ctrl-C
process.exit(await main());
