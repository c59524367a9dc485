// `mr-reviewer review <project> <iid>`: one review from the command line, in this process, then print it.
// It starts the bot on a loopback port (the same wiring as `serve`), so state lands in DATA_DIR and later thread
// replies find the trunk. It takes DATA_DIR's lock like `serve` (two processes must not share its queue), and gives
// up on an unreachable GitLab after GITLAB_WAIT_MS instead of waiting like a server.
import { postedIndex } from '../flows/context.js';
import { reviewMr } from '../flows/review.js';
import { startBot, type Bot } from '../main.js';
import { makeRedactor } from '../redact.js';
import { configOrExit, lockOrExit } from './config.js';

const GITLAB_WAIT_MS = 30_000;

const stripMarker = (body: string) => body.replace(/<!--[\s\S]*?-->/g, '').trim();

export async function reviewCommand(o: { project: string; iid: number }): Promise<number> {
  if (!Number.isInteger(o.iid) || o.iid < 1) {
    console.error('usage: mr-reviewer review <project path|id> <iid>');
    return 2;
  }
  const config = configOrExit({ ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  lockOrExit(config);
  const redact = makeRedactor(config.secrets);
  const fail = (e: unknown) => {
    console.error(`review failed: ${redact((e as Error).message)}`);
    return 1;
  };
  let bot: Bot;
  try {
    bot = await startBot(config, { gitlabWaitMs: GITLAB_WAIT_MS });
  } catch (e) {
    return fail(e);
  }
  try {
    const d = bot.deps;
    const p = await d.gitlab.project(/^\d+$/.test(o.project) ? Number(o.project) : o.project);
    const project = { id: p.id, path: p.path, webUrl: p.webUrl };
    console.error(`reviewing ${p.path}!${o.iid} …`);
    const outcome = await reviewMr(d, { project, iid: o.iid, reason: 'command' });
    if ('skipped' in outcome) {
      console.log(`skipped: ${outcome.skipped}`);
      return 0;
    }
    const idx = await postedIndex(d, p.id, o.iid);
    const summary = idx.discussions.flatMap((x) => x.notes).find((n) => n.id === idx.summary?.noteId);
    const rec = await d.store.getMr(p.id, o.iid);
    console.log(redact(stripMarker(summary?.body ?? '(no summary note found)')));
    const open = Object.values(rec?.findings ?? {}).filter((f) => f.status === 'open');
    if (open.length) {
      console.log('\nFindings:');
      for (const f of open) console.log(`  [${f.severity}] ${f.file}:${f.line}  ${f.title}`);
    }
    console.log(`\nsession ${outcome.trunkSessionId} · ${outcome.posted} note(s) posted · $${(rec?.costUsd ?? 0).toFixed(4)} so far on this MR`);
    return 0;
  } catch (e) {
    return fail(e);
  } finally {
    await bot.stop();
  }
}
