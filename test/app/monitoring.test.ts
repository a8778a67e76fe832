import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../config/index.js';
import { startWebHub, type WebHub } from '../web/harness.js';

/** Metric names a rule file or dashboard queries: ours, and Node's and the process's standard ones. */
function namesIn(text: string): Set<string> {
  return new Set(text.match(/\b(?:mdhub|process|nodejs)_[a-z0-9_]+/g) ?? []);
}

/** The metric family a series name belongs to (histograms expose `_bucket`, `_sum`, `_count`). */
function family(name: string, families: ReadonlySet<string>): string | undefined {
  if (families.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return families.has(base) ? base : undefined;
}

let web: WebHub;
let exposed: Set<string>;

beforeAll(async () => {
  web = await startWebHub();
  const text = await (await fetch(`${web.origin}/metrics`)).text();
  exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
});

afterAll(async () => {
  await web?.stop();
});

describe('monitoring', () => {
  it('exports the process and Node.js metrics under their standard names, and only ours with mdhub_', () => {
    expect(exposed).toContain('process_resident_memory_bytes');
    expect(exposed).toContain('nodejs_eventloop_lag_seconds');
    expect([...exposed].filter((name) => /^mdhub_(process|nodejs)_/.test(name))).toEqual([]);
    expect(exposed).toContain('mdhub_entitlements_verified');
    expect(exposed).toContain('mdhub_edge_realtime_withheld_total');
  });

  it.each([['docs/prometheus/alerts.yml'], ['docs/grafana/mdhub.json']])(
    '%s queries only metrics a running hub exports',
    (file) => {
      const names = namesIn(readFileSync(`${packageRoot()}/${file}`, 'utf8'));
      expect(names.size).toBeGreaterThan(5);
      const unknown = [...names].filter((name) => family(name, exposed) === undefined);
      expect(unknown).toEqual([]);
    },
  );

  it('the dashboard is a Grafana dashboard whose every panel has a query', () => {
    const dashboard = JSON.parse(readFileSync(`${packageRoot()}/docs/grafana/mdhub.json`, 'utf8')) as {
      uid: string;
      panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
    };
    expect(dashboard.uid).toBe('mdhub');
    const graphs = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(graphs.length).toBeGreaterThan(10);
    for (const panel of graphs) expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
  });
});
