/**
 * The operator console: users and their entitlements, grant and revoke (admin), the monthly usage
 * report with its daily chart and CSV, its filings (file, what changed since, amend) and a banner
 * when a filed month has drifted, reconciliation mismatches, the unused entitlements and the audit
 * log. What it shows follows `GET /admin/me`; the hub checks every call again whatever the page
 * shows.
 */
import { adminApi } from './admin-api.js';
import { drawDailyChart } from './chart.js';
import { byId, currentMonth, el, fill, tokenStore, utc } from './dom.js';
import { agreementsMissing, onboarding } from './onboarding.js';

const token = tokenStore('mdhub.console.token');
const ui = {
  who: byId('who'),
  signOut: byId('sign-out'),
  signInSection: byId('sign-in-section'),
  signInForm: byId('sign-in-form'),
  signInToken: byId('sign-in-token'),
  signInError: byId('sign-in-error'),
  console: byId('console'),
  search: byId('user-search'),
  q: byId('q'),
  usersStatus: byId('users-status'),
  userRows: byId('user-rows'),
  detail: byId('user-detail'),
  userTitle: byId('user-title'),
  userFacts: byId('user-facts'),
  grantNote: byId('grant-note'),
  decisionRows: byId('decision-rows'),
  grantRows: byId('grant-rows'),
  agreementRows: byId('agreement-rows'),
  historyRows: byId('history-rows'),
  monthForm: byId('month-form'),
  month: byId('month'),
  download: byId('download-csv'),
  reportStatus: byId('report-status'),
  usageCaption: byId('usage-caption'),
  usageRows: byId('usage-rows'),
  chart: byId('chart'),
  driftBanner: byId('drift-banner'),
  driftText: byId('drift-text'),
  driftShow: byId('drift-show'),
  filingsStatus: byId('filings-status'),
  filingRows: byId('filing-rows'),
  fileMonth: byId('file-month'),
  downloadPack: byId('download-pack'),
  showDiff: byId('show-diff'),
  diff: byId('diff'),
  diffSummary: byId('diff-summary'),
  diffRows: byId('diff-rows'),
  diffSubscribers: byId('diff-subscribers'),
  amendForm: byId('amend-form'),
  amendReason: byId('amend-reason'),
  reconStatus: byId('recon-status'),
  reconRows: byId('recon-rows'),
  unusedStatus: byId('unused-status'),
  unusedRows: byId('unused-rows'),
  verifyStatus: byId('verify-status'),
  verify: byId('verify'),
  confirm: byId('confirm'),
  confirmText: byId('confirm-text'),
  confirmOk: byId('confirm-ok'),
};

/** `{id, role, permissions}` of the signed-in operator. */
let me = null;
let openUserId = null;
/** The user the detail shows, as last loaded. */
let openedUser = null;
/** The latest filing of every licensor for the month shown, when there is one. */
let latestFiling = null;
/** The first drifted month the banner names. */
let driftedMonth = null;

const { api, json } = adminApi(token, () => signOut('Your operator token was not accepted; sign in again.'));
const may = (permission) => me?.permissions.includes(permission) ?? false;
const userPath = (id) => `/admin/users/${encodeURIComponent(id)}`;

function modeBadge(mode) {
  const label = { realtime: 'Real time', delayed: 'Delayed', refused: 'Refused' }[mode] ?? String(mode);
  return el('span', { class: 'badge', 'data-mode': mode }, label);
}

/** Resolves true when the operator confirms in the modal dialog. */
function confirmAction(text, action) {
  ui.confirmText.textContent = text;
  ui.confirmOk.textContent = action;
  ui.confirm.returnValue = '';
  ui.confirm.showModal();
  return new Promise((resolve) => {
    ui.confirm.addEventListener('close', () => resolve(ui.confirm.returnValue === 'confirm'), { once: true });
  });
}

const onboard = onboarding({
  api,
  json,
  may,
  confirmAction,
  userPath,
  opened: () => openedUser,
  note: (text) => {
    ui.grantNote.textContent = text;
  },
  refresh: (id, fresh = false) => Promise.all([openUser(id, fresh), searchUsers()]),
});

async function searchUsers() {
  ui.usersStatus.textContent = 'Searching…';
  try {
    const q = ui.q.value.trim();
    const page = await json(`/admin/users?${new URLSearchParams(q ? { q, limit: '50' } : { limit: '50' })}`);
    fill(
      ui.userRows,
      page.users.map((user) => {
        const open = el(
          'button',
          { type: 'button', class: 'quiet', 'aria-label': `Open ${user.id}` },
          'Open',
        );
        open.addEventListener('click', () => openUser(user.id));
        return el(
          'tr',
          { 'data-user': user.id },
          el('th', { scope: 'row' }, user.id),
          el('td', {}, user.name ?? user.email ?? ''),
          el('td', {}, user.status, user.delinquent ? ' (billing overdue)' : ''),
          el('td', {}, user.category.replace('_', '-')),
          el(
            'td',
            {},
            el(
              'ul',
              { class: 'modes' },
              Object.entries(user.decisions).map(([product, d]) =>
                el('li', {}, `${product} `, modeBadge(d.mode)),
              ),
            ),
          ),
          el('td', {}, open),
        );
      }),
    );
    const more = page.next ? ' (the first 50; narrow the search to see others)' : '';
    ui.usersStatus.textContent =
      page.users.length === 0 ? 'No user matches.' : `${page.users.length} user(s)${more}.`;
  } catch (error) {
    ui.usersStatus.textContent = `Could not list users: ${error.message}`;
  }
}

/** A grant still to have an effect (now or later): the one a revocation would end. */
function liveGrant(user, product, now) {
  return user.grants.some(
    (g) => g.product === product && g.revokedAt === null && (g.validTo === null || g.validTo > now),
  );
}

async function changeGrant(user, product, grant) {
  const waits = agreementsMissing(user).includes(product)
    ? ` Real time starts only once their subscriber agreement for ${product} is recorded.`
    : '';
  const text = grant
    ? `Grant ${user.id} real-time ${product}? It applies to their open sessions within a second.${waits}`
    : `Revoke ${user.id}'s real-time ${product}? Their open sessions switch to delayed data within a second.`;
  if (!(await confirmAction(text, grant ? `Grant ${product}` : `Revoke ${product}`))) return;
  try {
    const path = `${userPath(user.id)}/entitlements/${encodeURIComponent(product)}`;
    await api(path, grant ? { method: 'PUT', body: { realtime: true } } : { method: 'DELETE' });
    ui.grantNote.textContent = grant ? `Real-time ${product} granted.` : `Real-time ${product} revoked.`;
  } catch (error) {
    ui.grantNote.textContent = `Not changed: ${error.message}`;
  }
  await Promise.all([openUser(user.id, false), searchUsers()]);
}

function showDecisions(user) {
  const now = Date.now();
  const canChange = may('grants.change');
  const missing = new Set(agreementsMissing(user));
  fill(
    ui.decisionRows,
    Object.entries(user.decisions).map(([product, d]) => {
      const actions = [];
      if (canChange) {
        const grant = !liveGrant(user, product, now);
        const button = el(
          'button',
          { type: 'button', class: grant ? '' : 'danger', 'data-action': grant ? 'grant' : 'revoke' },
          grant ? `Grant real-time ${product}` : `Revoke real-time ${product}`,
        );
        button.addEventListener('click', () => changeGrant(user, product, grant));
        actions.push(button);
      }
      if (missing.has(product)) {
        const record = onboard.agreementButton(user, product);
        if (record) actions.push(record);
        if (canChange)
          actions.push(
            el(
              'p',
              { class: 'hint', 'data-note': 'agreement' },
              `A grant gives real time only once the subscriber agreement for ${product} is recorded${record ? '' : ' (by compliance or an admin)'}.`,
            ),
          );
      }
      return el(
        'tr',
        { 'data-product': product, 'data-mode': d.mode },
        el('th', { scope: 'row' }, product),
        el('td', {}, modeBadge(d.mode)),
        el('td', {}, d.words.length ? d.words.join(' ') : 'Every condition for real time holds.'),
        el('td', { class: 'actions' }, actions),
      );
    }),
  );
}

function showHistoryRecords(records, append) {
  const rows = records.map((r) =>
    el(
      'tr',
      {},
      el('td', { class: 'num' }, r.seq),
      el('td', {}, utc(r.at)),
      el('td', {}, r.action),
      el('td', {}, `${r.actor.type} ${r.actor.id}${r.actor.role ? ` (${r.actor.role})` : ''}`),
      el('td', { class: 'json' }, summarize(r)),
    ),
  );
  if (append) ui.historyRows.append(...rows);
  else fill(ui.historyRows, rows);
}

/** A record's change in one short line: what it became, else what it was, else its details. */
function summarize(record) {
  const value = record.after ?? record.details ?? record.before ?? null;
  if (value === null) return '';
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

async function showHistory(userId, after) {
  const query = new URLSearchParams({ subject: `user:${userId}`, limit: '100' });
  if (after !== undefined) query.set('after', String(after));
  const page = await json(`/admin/audit?${query}`);
  if (openUserId !== userId) return;
  showHistoryRecords(page.records, after !== undefined);
  if (page.next !== null) {
    const more = el('button', { type: 'button', class: 'quiet' }, 'Show more records');
    more.addEventListener('click', () => {
      more.closest('tr').remove();
      showHistory(userId, page.next);
    });
    ui.historyRows.append(el('tr', {}, el('td', { colspan: 5 }, more)));
  }
}

async function openUser(userId, focus = true) {
  openUserId = userId;
  try {
    const user = await json(userPath(userId));
    if (openUserId !== userId) return;
    openedUser = user;
    ui.detail.hidden = false;
    ui.userTitle.textContent = `${user.id}${user.name ? ` · ${user.name}` : ''}`;
    const facts = [
      ['Status', user.status],
      ['Category', user.category.replace('_', '-')],
      ['Billing', user.delinquent ? 'overdue' : 'in good standing'],
      ['Email', user.email ?? '—'],
      ['Session limit', user.sessionLimit],
      ['Created', utc(user.createdAt)],
    ];
    fill(
      ui.userFacts,
      facts.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]),
    );
    if (focus)
      ui.grantNote.textContent = may('grants.change') ? '' : 'Only an admin can grant or revoke real time.';
    showDecisions(user);
    onboard.show(user, focus);
    fill(
      ui.grantRows,
      user.grants.map((g) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, g.product),
          el('td', {}, utc(g.validFrom)),
          el('td', {}, g.validTo === null ? 'open-ended' : utc(g.validTo)),
          el('td', {}, g.createdBy),
          el('td', {}, g.revokedAt === null ? '—' : `${utc(g.revokedAt)} by ${g.revokedBy ?? 'unknown'}`),
        ),
      ),
    );
    fill(
      ui.agreementRows,
      user.agreements.map((a) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, a.licensor),
          el('td', {}, a.version),
          el('td', {}, utc(a.acceptedAt)),
        ),
      ),
    );
    if (may('audit.read')) await showHistory(userId);
    if (focus) ui.userTitle.focus();
  } catch (error) {
    ui.usersStatus.textContent = `Could not open ${userId}: ${error.message}`;
  }
}

async function showReport(month) {
  ui.reportStatus.textContent = `Loading ${month}…`;
  try {
    const [report, daily] = await Promise.all([
      json(`/admin/reports/usage?${new URLSearchParams({ month })}`),
      json(`/admin/reports/usage/daily?${new URLSearchParams({ month })}`),
    ]);
    ui.usageCaption.textContent = `Subscribers per product and category in ${report.month} (catalog ${report.catalogVersion}), as declared to the exchanges.`;
    fill(
      ui.usageRows,
      report.rows.map((row) =>
        el(
          'tr',
          { 'data-product': row.product, 'data-category': row.category },
          el('th', { scope: 'row' }, row.product),
          el('td', {}, row.category.replace('_', '-')),
          el('td', { class: 'num' }, row.subscribers),
          el('td', { class: 'num' }, row.devices),
          el('td', { class: 'num' }, row.queries),
          el('td', { class: 'num' }, row.fee),
        ),
      ),
    );
    drawDailyChart(ui.chart, daily, [...new Set(report.rows.map((row) => row.product))]);
    ui.reportStatus.textContent = report.rows.length ? '' : `No subscribers in ${report.month}.`;
  } catch (error) {
    ui.reportStatus.textContent = `Could not load the report: ${error.message}`;
  }
}

async function downloadCsv() {
  const month = ui.month.value;
  try {
    const response = await api(`/admin/reports/usage?${new URLSearchParams({ month, format: 'csv' })}`);
    const url = URL.createObjectURL(await response.blob());
    const link = el('a', { href: url, download: `mdhub-usage-${month}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    ui.reportStatus.textContent = `Downloaded the ${month} report as CSV.`;
  } catch (error) {
    ui.reportStatus.textContent = `Could not download the report: ${error.message}`;
  }
}

const scope = (licensor) => (licensor === null ? 'all licensors' : licensor);
const actorWords = (a) => `${a.type} ${a.id}${a.role ? ` (${a.role})` : ''}`;

/** The month's filings, oldest first, with whether the live report still matches each. */
async function showFilings(month) {
  ui.filingsStatus.textContent = `Loading the filings of ${month}…`;
  fill(ui.filingRows);
  ui.diff.hidden = true;
  try {
    const list = await json(`/admin/reports/filings?${new URLSearchParams({ month })}`);
    fill(
      ui.filingRows,
      list.filings.map((f) =>
        el(
          'tr',
          { 'data-filing': f.id, 'data-kind': f.kind },
          el('th', { scope: 'row' }, f.id),
          el('td', {}, f.kind === 'amendment' ? `amendment of ${f.replaces}` : 'filing'),
          el('td', {}, scope(f.licensor)),
          el('td', {}, utc(f.filedAt)),
          el('td', {}, actorWords(f.filedBy)),
          el(
            'td',
            { class: 'live', 'data-state': f.matchesLive ? 'matches' : 'differs' },
            f.replacedBy === null ? '' : `replaced by ${f.replacedBy}; `,
            f.matchesLive ? 'matches' : 'differs',
          ),
        ),
      ),
    );
    latestFiling = list.filings.find((f) => f.licensor === null && f.replacedBy === null) ?? null;
    const drifted = latestFiling !== null && !latestFiling.matchesLive;
    ui.fileMonth.hidden = latestFiling !== null;
    ui.showDiff.hidden = !drifted;
    ui.amendForm.hidden = !drifted;
    ui.filingsStatus.textContent =
      latestFiling === null
        ? `${month} is not filed yet.`
        : drifted
          ? `The report regenerated now differs from filing ${latestFiling.id}: usage arrived late or an entitlement was corrected.`
          : `Filing ${latestFiling.id} still matches the report regenerated now, byte for byte.`;
  } catch (error) {
    ui.filingsStatus.textContent = `Could not list the filings: ${error.message}`;
  }
}

/** The month's evidence pack for an auditor (a .tar.gz that re-verifies itself offline); audited by the hub. */
async function downloadPack() {
  const month = ui.month.value;
  ui.filingsStatus.textContent = `Packing the evidence of ${month}…`;
  try {
    const response = await api(`/admin/audit/pack?${new URLSearchParams({ month })}`);
    const url = URL.createObjectURL(await response.blob());
    const link = el('a', { href: url, download: `mdhub-evidence-${month}.tar.gz`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    ui.filingsStatus.textContent = `Downloaded the ${month} evidence pack (SHA-256 ${response.headers.get('x-pack-sha256')}); unpack it and run node verify.mjs in its folder.`;
  } catch (error) {
    ui.filingsStatus.textContent = `No evidence pack: ${error.message}`;
  }
}

async function fileMonth() {
  const month = ui.month.value;
  const text = `File the ${month} usage report of all licensors? Its exact bytes are kept for good; a later change becomes an amendment.`;
  if (!(await confirmAction(text, `File ${month}`))) return;
  try {
    const filing = await json('/admin/reports/filings', { method: 'POST', body: { month } });
    await showFilings(month);
    ui.filingsStatus.textContent = `Filed ${month} as filing ${filing.id}.`;
  } catch (error) {
    ui.filingsStatus.textContent = `Not filed: ${error.message}`;
  }
  await showDrift();
}

/** One change in words: `subscribers 1 → 2, fee 1.000000 → 2.000000`. */
function changeWords(change, fields) {
  if (change.change !== 'changed') {
    const row = change.after ?? change.before;
    return `${change.change}, fee ${row.fee}`;
  }
  return fields
    .filter((f) => change.before[f] !== change.after[f])
    .map((f) => `${f} ${change.before[f]} → ${change.after[f]}`)
    .join(', ');
}

function reasonItems(s) {
  const items = [
    ...s.lateEvents.map((e) => `late event ${e.id} (${e.kind} on ${e.day}, received ${utc(e.receivedAt)})`),
    ...s.corrections.map(
      (c) =>
        `correction ${c.action} (audit record ${c.seq}) by ${actorWords(c.by)}, entered ${utc(c.enteredAt)}, effective ${utc(c.effectiveAt)}${c.reason ? `: ${c.reason}` : ''}`,
    ),
  ];
  if (items.length === 0) items.push('no late event or correction explains it');
  return el(
    'ul',
    {},
    items.map((text) => el('li', {}, text)),
  );
}

async function showDiff() {
  const month = ui.month.value;
  try {
    const diff = await json(`/admin/reports/diff?${new URLSearchParams({ month })}`);
    ui.diff.hidden = false;
    ui.diffSummary.textContent = diff.matches
      ? `The live report still matches filing ${diff.filing.id}.`
      : `Against filing ${diff.filing.id}: ${diff.rows.length} row(s) and ${diff.subscribers.length} subscriber(s) changed, ${diff.lateEvents} late event(s) since.`;
    fill(
      ui.diffRows,
      diff.rows.map((r) =>
        el(
          'li',
          { 'data-product': r.product, 'data-category': r.category },
          `${r.product} ${r.category.replace('_', '-')}: `,
          changeWords(r, ['subscribers', 'devices', 'queries', 'fee']),
        ),
      ),
    );
    fill(
      ui.diffSubscribers,
      diff.subscribers.map((s) =>
        el(
          'li',
          { 'data-user': s.user, 'data-product': s.product },
          `${s.product} ${(s.after ?? s.before).category.replace('_', '-')} ${s.user}${s.device ? ` (device ${s.device})` : ''}: `,
          changeWords(s, [
            'category',
            'entitled',
            'accessed',
            'firstAccess',
            'lastAccess',
            'devices',
            'queries',
            'fee',
          ]),
          reasonItems(s),
        ),
      ),
    );
  } catch (error) {
    ui.filingsStatus.textContent = `Could not compare with the filing: ${error.message}`;
  }
}

async function amendFiling(event) {
  event.preventDefault();
  const month = ui.month.value;
  const reason = ui.amendReason.value.trim();
  if (!latestFiling || !reason) return;
  try {
    const path = `/admin/reports/filings/${encodeURIComponent(latestFiling.id)}/amendments`;
    const amendment = await json(path, { method: 'POST', body: { reason } });
    ui.amendReason.value = '';
    await showFilings(month);
    ui.filingsStatus.textContent = `Filed amendment ${amendment.id} of filing ${amendment.replaces}.`;
  } catch (error) {
    ui.filingsStatus.textContent = `Not amended: ${error.message}`;
  }
  await showDrift();
}

/** The banner: every filed month whose latest filing no longer matches the live report. */
async function showDrift() {
  try {
    const state = await json('/admin/reports/drift');
    const drifted = state.chains.filter((c) => c.drifted);
    ui.driftBanner.hidden = drifted.length === 0;
    driftedMonth = drifted[0]?.month ?? null;
    ui.driftText.textContent = drifted.length
      ? `A filed month has drifted: ${drifted.map((c) => `${c.month} (${scope(c.licensor)}, filing ${c.filing})`).join(', ')} no longer matches the report regenerated now.`
      : '';
  } catch {
    // The banner is a convenience: the filings table says the same for the month shown.
    ui.driftBanner.hidden = true;
  }
}

async function showReconciliation(month) {
  ui.reconStatus.textContent = `Loading ${month}…`;
  fill(ui.reconRows);
  try {
    const result = await json(`/admin/reports/reconciliation?${new URLSearchParams({ month })}`);
    const rows = result.rows.filter((row) => row.mismatches.length > 0);
    fill(
      ui.reconRows,
      rows.map((row) =>
        el(
          'tr',
          { 'data-user': row.user, 'data-product': row.product },
          el('th', { scope: 'row' }, row.user),
          el('td', {}, row.product),
          el('td', { class: 'num' }, row.exchangeFee),
          el('td', { class: 'num' }, row.billable),
          el('td', { class: 'num' }, row.sent),
          el('td', { class: 'num' }, row.stripe ?? 'not checked'),
          el(
            'td',
            {},
            el(
              'ul',
              {},
              row.mismatches.map((m) =>
                el('li', {}, el('strong', {}, m.reason.replaceAll('_', ' ')), `: ${m.detail}`),
              ),
            ),
          ),
        ),
      ),
    );
    const stripe = result.stripeChecked ? '' : ' Stripe is not configured, so it was not consulted.';
    ui.reconStatus.textContent =
      rows.length === 0
        ? `No mismatches in ${result.month}: ${result.rows.length} user × product rows agree.${stripe}`
        : `${rows.length} of ${result.rows.length} user × product rows disagree in ${result.month}.${stripe}`;
  } catch (error) {
    ui.reconStatus.textContent =
      error.status === 404 && error.code === 'not_found'
        ? 'Reconciliation is not available on this hub.'
        : `Could not load the reconciliation: ${error.message}`;
  }
}

/** An ISO-8601 instant as the console writes times. */
function isoUtc(iso) {
  return utc(Date.parse(iso));
}

async function showUnused(month) {
  ui.unusedStatus.textContent = `Loading ${month}…`;
  fill(ui.unusedRows);
  try {
    const result = await json(`/admin/reports/unused?${new URLSearchParams({ month })}`);
    fill(
      ui.unusedRows,
      result.rows.map((row) =>
        el(
          'tr',
          { 'data-user': row.user, 'data-product': row.product, 'data-category': row.category },
          el('th', { scope: 'row' }, row.user),
          el('td', {}, row.product),
          el('td', {}, row.category.replace('_', '-')),
          el('td', {}, isoUtc(row.entitledFirst)),
          el('td', {}, isoUtc(row.entitledLast)),
          el('td', { class: 'num' }, row.fee),
        ),
      ),
    );
    ui.unusedStatus.textContent =
      result.rows.length === 0
        ? `Every entitlement open in ${result.month} was used.`
        : `${result.rows.length} entitlement(s) open in ${result.month} were never used, costing ${result.total} USD: what revoking them in time would have saved.`;
  } catch (error) {
    ui.unusedStatus.textContent = `Could not load the unused entitlements: ${error.message}`;
  }
}

async function verifyAudit() {
  ui.verifyStatus.dataset.state = 'checking';
  ui.verifyStatus.textContent = 'Verifying the audit log…';
  try {
    const result = await json('/admin/audit/verify');
    ui.verifyStatus.dataset.state = result.ok ? 'ok' : 'bad';
    ui.verifyStatus.textContent = result.ok
      ? `Intact: ${result.records} records verified against ${result.checkpoints ?? 0} signed checkpoint(s), ${utc(Date.now())}.`
      : `Not intact: ${result.message ?? result.reason}${result.firstBad === null ? '' : ` (first bad record: ${result.firstBad})`}.`;
  } catch (error) {
    ui.verifyStatus.dataset.state = 'unknown';
    ui.verifyStatus.textContent = `Could not verify: ${error.message}`;
  }
}

function showMonth(month) {
  return Promise.all([showReport(month), showReconciliation(month), showUnused(month), showFilings(month)]);
}

async function signIn() {
  try {
    me = await json('/admin/me');
  } catch (error) {
    if (error.status !== 401) signOut(`Could not sign in: ${error.message}`);
    return;
  }
  for (const node of document.querySelectorAll('[data-permission]')) {
    node.hidden = !may(node.dataset.permission);
  }
  ui.signInSection.hidden = true;
  ui.console.hidden = false;
  ui.signOut.hidden = false;
  ui.signInError.textContent = '';
  ui.who.dataset.state = 'signed-in';
  ui.who.textContent = `Signed in as ${me.id} (${me.role})`;
  ui.month.value ||= currentMonth();
  const loads = [];
  if (may('users.read')) loads.push(searchUsers());
  if (may('reports.read')) loads.push(showMonth(ui.month.value), showDrift());
  if (may('audit.read')) loads.push(verifyAudit());
  await Promise.all(loads);
}

function signOut(error = '') {
  me = null;
  openUserId = null;
  openedUser = null;
  onboard.reset();
  token.clear();
  ui.console.hidden = true;
  ui.detail.hidden = true;
  ui.signOut.hidden = true;
  ui.signInSection.hidden = false;
  ui.who.dataset.state = 'signed-out';
  ui.who.textContent = 'Signed out';
  ui.signInError.textContent = error;
  ui.driftBanner.hidden = true;
  latestFiling = null;
  for (const rows of [ui.userRows, ui.decisionRows, ui.grantRows, ui.agreementRows, ui.historyRows])
    fill(rows);
  for (const rows of [
    ui.usageRows,
    ui.reconRows,
    ui.unusedRows,
    ui.chart,
    ui.filingRows,
    ui.diffRows,
    ui.diffSubscribers,
  ])
    fill(rows);
  ui.signInToken.focus();
}

ui.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const value = ui.signInToken.value.trim();
  if (!value) return;
  ui.signInToken.value = '';
  token.set(value);
  signIn();
});
ui.signOut.addEventListener('click', () => signOut());
ui.search.addEventListener('submit', (event) => {
  event.preventDefault();
  searchUsers();
});
ui.monthForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (ui.month.value) showMonth(ui.month.value);
});
ui.download.addEventListener('click', downloadCsv);
ui.fileMonth.addEventListener('click', fileMonth);
ui.downloadPack.addEventListener('click', downloadPack);
ui.showDiff.addEventListener('click', showDiff);
ui.amendForm.addEventListener('submit', amendFiling);
ui.driftShow.addEventListener('click', () => {
  if (!driftedMonth) return;
  ui.month.value = driftedMonth;
  showMonth(driftedMonth);
  byId('filings').scrollIntoView();
});
ui.verify.addEventListener('click', verifyAudit);

if (token.get()) signIn();
else ui.signInToken.focus();
