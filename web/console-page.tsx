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
      <NewUserPart />
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
        <AttestationPart />
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
        <TokensPart />
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

/** Onboarding starts here: support and admin create users (`users.create`). */
function NewUserPart() {
  return (
    <details id="new-user" data-permission="users.create" hidden>
      <summary>New user</summary>
      <form id="new-user-form" class="stack">
        <label for="new-user-id">User id</label>
        <input
          id="new-user-id"
          name="id"
          required
          maxlength={128}
          autocomplete="off"
          spellcheck={false}
          aria-describedby="new-user-id-hint"
        />
        <p id="new-user-id-hint" class="hint">
          Your system's id for this person; it appears in the usage reports filed with the exchanges.
        </p>
        <label for="new-user-name">Name</label>
        <input id="new-user-name" name="name" maxlength={200} autocomplete="off" />
        <label for="new-user-email">Email</label>
        <input id="new-user-email" name="email" type="email" maxlength={320} autocomplete="off" />
        <label for="new-user-address">Postal address</label>
        <textarea id="new-user-address" name="address" rows={3} maxlength={500} />
        <button type="submit">Create user</button>
        <p id="new-user-status" class="hint" role="status" />
      </form>
    </details>
  );
}

/**
 * The non-professional questionnaire (DESIGN rule 2; the exchanges' definition): compliance records
 * the answers as the attestation's evidence, and the status they imply.
 */
function AttestationPart() {
  const question = (name: string, text: string) => (
    <fieldset class="question">
      <legend>{text}</legend>
      <label>
        <input type="radio" name={name} value="yes" required /> Yes
      </label>
      <label>
        <input type="radio" name={name} value="no" /> No
      </label>
    </fieldset>
  );
  return (
    <div data-permission="attestations.record" hidden>
      <h4>Professional status</h4>
      <form id="attest-form" class="stack">
        <p class="hint">
          Until an attestation says otherwise a user counts as professional. Ask the subscriber, and record
          the answers:
        </p>
        {question(
          'registered',
          'Registered or qualified with the SEC, the CFTC, a state securities agency, an exchange or a self-regulatory association?',
        )}
        {question('adviser', 'Acting as an investment adviser, registered or not?')}
        {question(
          'organisation',
          'Receiving the data for a company, partnership, trust or other organisation rather than as a private person?',
        )}
        <p id="attest-outcome" class="hint" aria-live="polite" />
        <button type="submit">Record attestation</button>
        <p id="attest-status" class="hint" role="status" />
      </form>
    </div>
  );
}

/** The user's API tokens: listed for every reader; issued (shown once) and revoked with `tokens.manage`. */
function TokensPart() {
  return (
    <>
      <h4>API tokens</h4>
      <table id="tokens" class="grid">
        <caption class="visually-hidden">Every token issued to this user; only its hash is kept.</caption>
        <thead>
          <tr>
            <th scope="col">Token</th>
            <th scope="col">Device</th>
            <th scope="col">Use</th>
            <th scope="col">Issued</th>
            <th scope="col">Revoked</th>
            <th scope="col">
              <span class="visually-hidden">Revoke</span>
            </th>
          </tr>
        </thead>
        <tbody id="token-rows" />
      </table>
      <div data-permission="tokens.manage" hidden>
        <form id="token-form" class="inline">
          <label for="token-device">Device id (optional)</label>
          <input id="token-device" name="deviceId" maxlength={80} autocomplete="off" spellcheck={false} />
          <label for="token-usage">Use</label>
          <select id="token-usage" name="usage">
            <option value="display">display (a person's screen)</option>
            <option value="non_display">non-display (an application)</option>
          </select>
          <button type="submit">Issue a token</button>
        </form>
        <div id="new-token" class="banner" role="status" hidden>
          <p>
            Copy this token now and give it to the user: it is shown only once, and the hub keeps only its
            hash.
          </p>
          <output id="new-token-value" class="secret" />
          <button id="copy-token" type="button">
            Copy
          </button>
        </div>
        <p id="token-status" class="hint" role="status" />
      </div>
    </>
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
