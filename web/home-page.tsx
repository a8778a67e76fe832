import { Layout } from './layout.js';

/** `GET /`: where a newcomer lands — the two pages, the API's description and the operator's endpoints. */
export function HomePage() {
  return (
    <Layout title="mdhub">
      <header class="bar">
        <h1>mdhub</h1>
      </header>
      <main>
        <section class="panel" aria-labelledby="pages-title">
          <h2 id="pages-title">Pages</h2>
          <ul class="links">
            <li>
              <a href="/console">Operator console</a> — onboard users, grant and revoke real time, the monthly
              usage report and its filings, reconciliation, the audit log. Sign in with an operator token (the
              first admin's is printed when the hub first starts).
            </li>
            <li>
              <a href="/app">Quote board</a> — live quotes and trades as a user sees them: real time when
              licensed, delayed otherwise. Sign in with a user token issued in the console.
            </li>
          </ul>
        </section>
        <section class="panel" aria-labelledby="api-title">
          <h2 id="api-title">For developers and operators</h2>
          <ul class="links">
            <li>
              <a href="/openapi.json">/openapi.json</a> — the admin and market-data REST API (OpenAPI 3).
            </li>
            <li>
              <code>ws://…/stocks</code> — the streaming API, Polygon's protocol: Polygon's own client
              libraries work unchanged.
            </li>
            <li>
              <a href="/readyz">/readyz</a>, <a href="/healthz">/healthz</a> and{' '}
              <a href="/metrics">/metrics</a> — for load balancers and Prometheus.
            </li>
          </ul>
        </section>
      </main>
    </Layout>
  );
}
