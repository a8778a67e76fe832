/**
 * Onboarding in the console: a new user (name, email, postal address), the professional-status
 * questionnaire recorded as an attestation, the exchanges' subscriber agreements, and the user's
 * API tokens (issued and shown once, revoked). The hub audits each change and refuses it to a
 * role that may not; the page only hides what the signed-in role cannot do.
 */
import { byId, el, fill, utc } from './dom.js';

const ui = {
  newUser: byId('new-user'),
  newUserForm: byId('new-user-form'),
  newUserStatus: byId('new-user-status'),
  attestForm: byId('attest-form'),
  attestOutcome: byId('attest-outcome'),
  attestStatus: byId('attest-status'),
  tokenRows: byId('token-rows'),
  tokenForm: byId('token-form'),
  newToken: byId('new-token'),
  newTokenValue: byId('new-token-value'),
  copyToken: byId('copy-token'),
  tokenStatus: byId('token-status'),
};

const QUESTIONS = ['registered', 'adviser', 'organisation'];

/** Non-professional only when every answer is no: anyone registered, advising or an organisation is professional. */
function statusFrom(form) {
  const answers = {};
  for (const name of QUESTIONS) {
    const value = form.elements[name].value;
    if (value === '') return { answers, status: null };
    answers[name] = value === 'yes';
  }
  const status = Object.values(answers).some(Boolean) ? 'professional' : 'non_professional';
  return { answers, status };
}

/** The products whose subscriber agreement the user still has to accept, from the decisions now. */
export function agreementsMissing(user) {
  return Object.entries(user.decisions)
    .filter(([, d]) => d.reasons.includes('agreement_missing') || d.reasons.includes('agreement_outdated'))
    .map(([product]) => product);
}

/**
 * Wires the forms. `deps`: `{ api, json, may, confirmAction, userPath, opened, refresh }`, where
 * `opened()` is the user shown now, `refresh(id, fresh)` shows a user again (and the list) and
 * `note(text)` says what became of a change to the user's decisions.
 */
export function onboarding(deps) {
  const { api, json, may, confirmAction, userPath, opened, refresh } = deps;

  ui.newUserForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = new FormData(ui.newUserForm);
    const body = { id: String(form.get('id')).trim() };
    for (const name of ['name', 'email', 'address']) {
      // The hub keeps an address on one line (the licensors' files are line-based): lines become ", ".
      const value = String(form.get(name) ?? '')
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter(Boolean)
        .join(', ');
      if (value) body[name] = value;
    }
    ui.newUserStatus.textContent = `Creating ${body.id}…`;
    try {
      await json('/admin/users', { method: 'POST', body });
      ui.newUserForm.reset();
      ui.newUserStatus.textContent = `${body.id} created. Next: record their professional status and subscriber agreements, then issue a token.`;
      await refresh(body.id, true);
    } catch (error) {
      ui.newUserStatus.textContent = `Not created: ${error.message}`;
    }
  });

  ui.attestForm.addEventListener('change', () => {
    const { status } = statusFrom(ui.attestForm);
    ui.attestOutcome.textContent =
      status === null
        ? ''
        : `These answers make the user ${status === 'professional' ? 'professional' : 'non-professional'}.`;
  });

  ui.attestForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const user = opened();
    const { answers, status } = statusFrom(ui.attestForm);
    if (user === null || status === null) return;
    try {
      await json(`${userPath(user.id)}/attestations`, { method: 'POST', body: { status, answers } });
      ui.attestForm.reset();
      ui.attestOutcome.textContent = '';
      ui.attestStatus.textContent = `Recorded: ${user.id} is ${status === 'professional' ? 'professional' : 'non-professional'}.`;
    } catch (error) {
      ui.attestStatus.textContent = `Not recorded: ${error.message}`;
    }
    await refresh(user.id);
  });

  ui.tokenForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const user = opened();
    if (user === null) return;
    const form = new FormData(ui.tokenForm);
    const body = { usage: String(form.get('usage')) };
    const device = String(form.get('deviceId') ?? '').trim();
    if (device) body.deviceId = device;
    try {
      const issued = await json(`${userPath(user.id)}/tokens`, { method: 'POST', body });
      ui.tokenForm.reset();
      ui.newTokenValue.textContent = issued.token;
      ui.newToken.hidden = false;
      ui.tokenStatus.textContent = `Token ${issued.id} issued to ${user.id}.`;
    } catch (error) {
      ui.tokenStatus.textContent = `No token issued: ${error.message}`;
    }
    await refresh(user.id);
  });

  ui.copyToken.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(ui.newTokenValue.textContent);
      ui.tokenStatus.textContent = 'Copied to the clipboard.';
    } catch {
      ui.tokenStatus.textContent = 'The browser refused the clipboard: select the token and copy it by hand.';
    }
  });

  async function recordAgreement(user, product) {
    try {
      const accepted = await json(`${userPath(user.id)}/agreements`, { method: 'POST', body: { product } });
      deps.note(`Recorded ${user.id}'s acceptance of ${accepted.name} (version ${accepted.version}).`);
    } catch (error) {
      deps.note(`Agreement not recorded: ${error.message}`);
    }
    await refresh(user.id);
  }

  async function revokeToken(user, tokenId) {
    if (
      !(await confirmAction(`Revoke token ${tokenId} of ${user.id}? Its open sessions end.`, 'Revoke token'))
    )
      return;
    try {
      await api(`${userPath(user.id)}/tokens/${encodeURIComponent(tokenId)}`, { method: 'DELETE' });
      ui.tokenStatus.textContent = `Token ${tokenId} revoked.`;
    } catch (error) {
      ui.tokenStatus.textContent = `Not revoked: ${error.message}`;
    }
    await refresh(user.id);
  }

  return {
    /** The button that records a missing agreement for `product`, when the role may. */
    agreementButton(user, product) {
      if (!may('agreements.record')) return null;
      const button = el(
        'button',
        { type: 'button', 'data-action': 'agreement' },
        `Record the subscriber agreement for ${product}`,
      );
      button.addEventListener('click', () => recordAgreement(user, product));
      return button;
    },

    /** Shows the user's tokens; a user opened anew hides the last one's freshly issued token. */
    show(user, fresh) {
      if (fresh) {
        ui.newToken.hidden = true;
        ui.newTokenValue.textContent = '';
        ui.tokenStatus.textContent = '';
        ui.attestStatus.textContent = '';
        ui.attestForm.reset();
        ui.attestOutcome.textContent = '';
      }
      const manage = may('tokens.manage');
      fill(
        ui.tokenRows,
        user.tokens.map((t) => {
          let action = '';
          if (manage && t.revokedAt === null) {
            action = el('button', { type: 'button', class: 'danger' }, `Revoke ${t.id}`);
            action.addEventListener('click', () => revokeToken(user, t.id));
          }
          return el(
            'tr',
            { 'data-token': t.id },
            el('th', { scope: 'row' }, t.id),
            el('td', {}, t.deviceId ?? '—'),
            el('td', {}, t.usage.replace('_', '-')),
            el('td', {}, utc(t.createdAt)),
            el('td', {}, t.revokedAt === null ? '—' : utc(t.revokedAt)),
            el('td', {}, action),
          );
        }),
      );
    },

    reset() {
      ui.newUser.open = false;
      ui.newUserStatus.textContent = '';
      ui.newToken.hidden = true;
      ui.newTokenValue.textContent = '';
      fill(ui.tokenRows);
    },
  };
}
