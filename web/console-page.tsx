import { Layout, TokenForm } from './layout.js';

/**
 * `/console`: users, grants, reports and the audit log for operators. Every section names the
 * permission it needs (`data-permission`); console.js shows only those the operator holds.
 */
export function ConsolePage() {
  return (
    <Layout title="mdhub · console" script="console.js">
      <header class="bar">
        <h1>mdhub console</h1>
        <p id="who" class="connection" role="status" aria-live="polite" data-state="signed-out">
          Signed out
        </p>
        <button id="sign-out" type="button" hidden>
          Sign out
        </button>
      </header>
      <main>
        <TokenForm
          id="sign-in"
          label="Your operator token"
          hint="The token stays in this browser tab only and is sent as an Authorization header, never in an address."
        />
        <div id="console" hidden>
          <div id="drift-banner" class="banner" role="alert" hidden>
            <p id="drift-text" />
            <button id="drift-show" type="button" class="quiet">
              Show the month
            </button>
          </div>
          <nav aria-label="Sections" class="sections">
            <a href="#users" data-permission="users.read">
              Users
            </a>
            <a href="#reports" data-permission="reports.read">
              Usage report
            </a>
            <a href="#reconciliation" data-permission="reports.read">
              Reconciliation
            </a>
            <a href="#unused" data-permission="reports.read">
              Unused entitlements
            </a>
            <a href="#audit" data-permission="audit.read">
              Audit log
            </a>
          </nav>
          <UsersSection />
          <ReportSection />
          <ReconciliationSection />
          <UnusedSection />
          <AuditSection />
        </div>
        <dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text">
          <form method="dialog" class="stack">
            <h2 id="confirm-title">Please confirm</h2>
            <p id="confirm-text" />
            <div class="actions">
              <button value="cancel" type="submit">
                Cancel
              </button>
              <button id="confirm-ok" value="confirm" type="submit" class="danger">
                Confirm
              </button>
            </div>
          </form>
        </dialog>
      </main>
    </Layout>
  );
}

function UsersSection() {
  return (
    <section id="users" class="panel" aria-labelledby="users-title" data-permission="users.read" hidden>
      <h2 id="users-title">Users</h2>
      <search>
        <form id="user-search" class="inline">
          <label for="q">Id, email or name contains</label>
          <input id="q" name="q" type="search" autocomplete="off" />
          <button type="submit">Search</button>
        </form>
      </search>
      <p id="users-status" class="hint" role="status" />
      <table id="user-list" class="grid">
        <caption>Users, with their category and whether they get each product in real time now.</caption>
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col">Category</th>
            <th scope="col">Real time now</th>
            <th scope="col">
              <span class="visually-hidden">Open</span>
            </th>
          </tr>
        </thead>
        <tbody id="user-rows" />
      </table>
      <article id="user-detail" class="detail" aria-labelledby="user-title" hidden>
        <h3 id="user-title" tabindex={-1}>
          User
        </h3>
        <dl id="user-facts" class="facts" />
        <h4>Decisions now</h4>
        <p id="grant-note" class="hint" />
        <table id="decisions" class="grid">
          <caption class="visually-hidden">Per product: the mode this user gets now, and why.</caption>
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col">Mode</th>
              <th scope="col">Why</th>
              <th scope="col">
                <span class="visually-hidden">Change</span>
              </th>
            </tr>
          </thead>
          <tbody id="decision-rows" />
        </table>
        <h4>Real-time grants</h4>
        <table id="grants" class="grid">
          <caption class="visually-hidden">Every grant this user ever had, oldest first.</caption>
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col">From</th>
              <th scope="col">To</th>
              <th scope="col">Granted by</th>
              <th scope="col">Ended</th>
            </tr>
          </thead>
          <tbody id="grant-rows" />
        </table>
        <h4>Subscriber agreements</h4>
        <table id="agreements" class="grid">
          <caption class="visually-hidden">Exchange agreements this user accepted.</caption>
          <thead>
            <tr>
              <th scope="col">Licensor</th>
              <th scope="col">Version</th>
              <th scope="col">Accepted</th>
            </tr>
          </thead>
          <tbody id="agreement-rows" />
        </table>
        <div data-permission="audit.read" hidden>
          <h4>Audit history</h4>
          <table id="history" class="grid">
            <caption class="visually-hidden">Audit records about this user, oldest first.</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">By</th>
                <th scope="col">What</th>
              </tr>
            </thead>
            <tbody id="history-rows" />
          </table>
        </div>
      </article>
    </section>
  );
}

function ReportSection() {
  return (
    <section id="reports" class="panel" aria-labelledby="reports-title" data-permission="reports.read" hidden>
      <h2 id="reports-title">Monthly usage report</h2>
      <form id="month-form" class="inline">
        <label for="month">Month (UTC)</label>
        <input id="month" name="month" type="month" required />
        <button type="submit">Show</button>
        <button id="download-csv" type="button">
          Download CSV
        </button>
      </form>
      <p id="report-status" class="hint" role="status" />
      <table id="usage" class="grid">
        <caption id="usage-caption">
          Subscribers per product and category, as declared to the exchanges.
        </caption>
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Category</th>
            <th scope="col" class="num">
              Subscribers
            </th>
            <th scope="col" class="num">
              Devices
            </th>
            <th scope="col" class="num">
              Queries
            </th>
            <th scope="col" class="num">
              Fee (USD)
            </th>
          </tr>
        </thead>
        <tbody id="usage-rows" />
      </table>
      <figure id="daily" class="chart">
        <figcaption>Real-time subscribers per day, by product</figcaption>
        <div id="chart" />
      </figure>
      <FilingsPart />
    </section>
  );
}

/**
 * The month's filings with the exchanges: each chain (filing → amendment) and whether the report
 * regenerated now still matches it; filing and amending need `reports.file`, the auditor's evidence
 * pack `reports.pack`.
 */
function FilingsPart() {
  return (
    <section id="filings" aria-labelledby="filings-title">
      <h3 id="filings-title">Filings of this month</h3>
      <p id="filings-status" class="hint" role="status" />
      <table id="filing-list" class="grid">
        <caption class="visually-hidden">
          Every filing and amendment of the month, oldest first, and whether the live report still matches it.
        </caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Kind</th>
            <th scope="col">Licensors</th>
            <th scope="col">Filed</th>
            <th scope="col">By</th>
            <th scope="col">Live report</th>
          </tr>
        </thead>
        <tbody id="filing-rows" />
      </table>
      <div data-permission="reports.file" hidden>
        <button id="file-month" type="button">
          File this month
        </button>
      </div>
      <div data-permission="reports.pack" hidden>
        <button id="download-pack" type="button">
          Download evidence pack
        </button>
      </div>
      <button id="show-diff" type="button" hidden>
        Show what changed since the filing
      </button>
      <div id="diff" hidden>
        <p id="diff-summary" />
        <h4>Rows</h4>
        <ul id="diff-rows" />
        <h4>Subscribers</h4>
        <ul id="diff-subscribers" />
      </div>
      <div data-permission="reports.file" hidden>
        <form id="amend-form" class="inline" hidden>
          <label for="amend-reason">Why the filing is amended</label>
          <input id="amend-reason" name="reason" required maxlength={2000} autocomplete="off" />
          <button type="submit">File an amendment</button>
        </form>
      </div>
    </section>
  );
}

function ReconciliationSection() {
  return (
    <section
      id="reconciliation"
      class="panel"
      aria-labelledby="reconciliation-title"
      data-permission="reports.read"
      hidden
    >
      <h2 id="reconciliation-title">Reconciliation</h2>
      <p id="recon-status" class="hint" role="status" />
      <table id="recon" class="grid">
        <caption class="visually-hidden">
          Per user and product: billed, sent to Stripe and owed to the exchange, where they disagree.
        </caption>
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Product</th>
            <th scope="col" class="num">
              Owed to exchange
            </th>
            <th scope="col" class="num">
              Billable
            </th>
            <th scope="col" class="num">
              Sent
            </th>
            <th scope="col" class="num">
              Stripe
            </th>
            <th scope="col">Mismatches</th>
          </tr>
        </thead>
        <tbody id="recon-rows" />
      </table>
    </section>
  );
}

/** For finance: real time open to a user at some instant of the month and never received, with its fee. */
function UnusedSection() {
  return (
    <section id="unused" class="panel" aria-labelledby="unused-title" data-permission="reports.read" hidden>
      <h2 id="unused-title">Unused entitlements</h2>
      <p id="unused-status" class="hint" role="status" />
      <table id="unused-list" class="grid">
        <caption class="visually-hidden">
          Per user and product: real time open during the month but never received, and the exchange fee it
          cost.
        </caption>
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Product</th>
            <th scope="col">Category</th>
            <th scope="col">Entitled from</th>
            <th scope="col">Entitled until</th>
            <th scope="col" class="num">
              Fee (USD)
            </th>
          </tr>
        </thead>
        <tbody id="unused-rows" />
      </table>
    </section>
  );
}

function AuditSection() {
  return (
    <section id="audit" class="panel" aria-labelledby="audit-title" data-permission="audit.read" hidden>
      <h2 id="audit-title">Audit log</h2>
      <p id="verify-status" class="verify" role="status" aria-live="polite" data-state="unknown">
        Not verified yet.
      </p>
      <button id="verify" type="button">
        Verify the chain now
      </button>
    </section>
  );
}
