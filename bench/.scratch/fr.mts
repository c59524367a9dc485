import { randomUUID } from 'node:crypto';
import { bareClaude, benchHarness, makeMr, reviewViaWebhook } from '../support.ts';
const h = await benchHarness();
const { project, mr } = await makeMr(h, { path: 'a/b' });
await reviewViaWebhook(h, project, mr.iid);
const c = h.calls.at(-1)!;
const sys = c.systemPrompt, schema = c.jsonSchema;
const tr = (id: string) => h.bot.deps.sessions.transcript(c.cwd, id);
const log = h.model.log;
for (let i = 0; i < 3; i++) {
  let n = h.model.requests.length, l = log.length;
  const id = randomUUID();
  const tn = await bareClaude(h, { cwd: c.cwd, prompt: c.prompt, systemPrompt: sys, jsonSchema: schema, mode: { kind: 'new', sessionId: id } });
  console.log('new', tn.toFixed(0), h.model.requests.length - n, log.slice(l));
  n = h.model.requests.length; l = log.length;
  const fid = randomUUID();
  const tf = await bareClaude(h, { cwd: c.cwd, prompt: 'why?', systemPrompt: sys, jsonSchema: schema, mode: { kind: 'fork', transcript: tr(id), sessionId: fid } });
  console.log('fork', tf.toFixed(0), h.model.requests.length - n, log.slice(l));
  n = h.model.requests.length; l = log.length;
  const tr2 = await bareClaude(h, { cwd: c.cwd, prompt: 'and?', systemPrompt: sys, jsonSchema: schema, mode: { kind: 'resume', transcript: tr(fid) } });
  console.log('resume', tr2.toFixed(0), h.model.requests.length - n, log.slice(l));
}
await h.close();
