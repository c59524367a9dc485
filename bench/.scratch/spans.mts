import { benchHarness, makeMr, reviewViaWebhook } from '../support.ts';
const h = await benchHarness();
const first = await makeMr(h, { path: 'a/b' });
await reviewViaWebhook(h, first.project, first.mr.iid);
for (let i = 1; i <= 2; i++) {
  const { mr } = await makeMr(h, { path: 'a/b', project: first.project, branch: 'f' + i });
  const { t0 } = await reviewViaWebhook(h, first.project, mr.iid);
  if (i === 2) for (const s of h.timeline.since(t0)) console.log(s.name.padEnd(30), (s.start - t0).toFixed(1).padStart(7), (s.end - t0).toFixed(1).padStart(7), (s.end - s.start).toFixed(1).padStart(6));
}
await h.close();
