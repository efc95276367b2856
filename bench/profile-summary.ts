/**
 * Self time by package and by function, and inclusive time by package (the
 * share of busy samples with that package anywhere on the stack), from a V8
 * `.cpuprofile` (what `node --cpu-prof` writes).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** `graphql`, `@pothos/core`, `src/schema/cursors.ts`, `node:internal`... */
function packageOf(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  if (url.startsWith('node:')) return url;
  return url === '' ? '(native/vm)' : url;
}

export function summarizeProfile(profile: CpuProfile, top = 25): string {
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const total = [...selfMs.values()].reduce((a, b) => a + b, 0);
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id) ?? 0;
    if (ms === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const pkg = ['(idle)', '(program)', '(garbage collector)'].includes(functionName) ? functionName : packageOf(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
    const fn = `${functionName || '(anonymous)'} ${packageOf(url)}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  }
  const busy = total - (byPackage.get('(idle)') ?? 0);
  // Inclusive: every package on a sample's stack gets the sample once.
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const inclusive = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (frame.url) seen.add(packageOf(frame.url));
    }
    for (const pkg of seen) inclusive.set(pkg, (inclusive.get(pkg) ?? 0) + ms);
  }
  byPackage.delete('(idle)');
  for (const key of [...byFunction.keys()]) if (key.startsWith('(idle)')) byFunction.delete(key);
  const rows = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => `${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(6)} ms  ${name}`)
      .join('\n');
  return (
    `busy ${busy.toFixed(0)} ms of ${total.toFixed(0)} ms sampled\n\nself time by package:\n${rows(byPackage)}\n\n` +
    `inclusive time by package (on the stack):\n${rows(inclusive)}\n\nself time by function:\n${rows(byFunction)}\n`
  );
}
