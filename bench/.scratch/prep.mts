import { execa } from 'execa';
import { Workspaces } from '/work/main/src/workspace/workspaces.ts';
import { startHarness, TOKEN } from '/work/main/test/support/harness.ts';
import { makeMr } from '/work/main/bench/support.ts';
const h = await startHarness({ LOG_LEVEL: 'warn' });
const origExeca = execa;
const { project, mr } = await makeMr(h, { path: 'x/y' });
const root = h.dataDir + '/ws';
const ws = new Workspaces({ root, token: TOKEN });
let t = performance.now();
await ws.prepare(project, mr.iid, mr.headSha, 'main');
console.log('cold', performance.now() - t);
for (let i = 1; i <= 4; i++) {
  const m = await makeMr(h, { path: 'x/y', project, branch: 'f' + i });
  const n0 = h.gitlab.gitRequests.length;
  t = performance.now();
  await ws.fetch(project, m.mr.iid, 'main');
  const tf = performance.now() - t;
  const t2 = performance.now();
  await ws.prepare(project, m.mr.iid, m.mr.headSha, 'main');
  console.log('warm fetch', tf.toFixed(1), 'prepare (incl 2nd fetch)', (performance.now() - t2).toFixed(1), h.gitlab.gitRequests.slice(n0).map(r => r.method + ' ' + r.path.split('.git')[1] + ' ' + r.bytesOut));
}
// individual commands
const mirror = ws.mirrorPath(project.id);
for (const args of [['--version'], ['-C', mirror, 'cat-file', '-e', mr.headSha + '^{commit}'], ['-C', mirror, 'worktree', 'prune'], ['-C', mirror, 'show', 'refs/heads/main:README.md']]) {
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) { const t = performance.now(); await execa('git', args, { reject: false }); ts.push(performance.now() - t); }
  console.log(args.slice(-2).join(' '), ts.map(x => x.toFixed(1)).join(' '));
}
await h.close();
