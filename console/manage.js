// The management view: the health overview first, then accounts, pages and token health,
// then queues, agents (edit, new key, delete) and workstreams.
import { $, el, showError, showFieldErrors, modal, confirmAction } from './dom.js';
import { PRESENCE } from './words.js';
import { WEBHOOK_FIELDS } from './webhook-fields.js';

export function startManage(api) {
  const agentDialog = modal($('agent-dialog'));
  let queues = [];
  let editing = null; // the agent in the edit dialog

  async function refresh() {
    showError($('manage-error'), null);
    try {
      const accounts = (await api.get('/accounts')).items;
      const blocks = await Promise.all(accounts.map(async (account) => {
        const pages = (await api.get(`/accounts/${encodeURIComponent(account.id)}/pages`)).items;
        return renderAccount(account, pages);
      }));
      $('accounts').replaceChildren(...blocks);
    } catch (error) { showError($('manage-error'), error); }
    await Promise.all([refreshHealth(), refreshWorkforce()]);
  }

  async function refreshWorkforce() {
    showError($('workforce-error'), null);
    try {
      const [queueList, agents, workstreams] = await Promise.all(
        ['/queues', '/agents', '/workstreams'].map((path) => everything(path)));
      queues = queueList.slice().sort((a, b) => a.name.localeCompare(b.name));
      const queueName = new Map(queues.map((q) => [q.id, q.name]));
      for (const select of document.querySelectorAll('.queue-choice')) {
        const chosen = select.value;
        select.replaceChildren(...queues.map((q) => el('option', { value: q.id, text: q.name })));
        if (queueName.has(chosen)) select.value = chosen;
      }
      const named = (id) => queueName.get(id) || id;
      $('workstreams').tBodies[0].replaceChildren(...workstreams.map((w) => el('tr', {},
        el('td', { text: w.name }), el('td', { text: w.page_id }),
        el('td', { text: `${w.distribution_mode}, ${w.assignment_method.replaceAll('_', ' ')}` }),
        el('td', { text: named(w.fallback_queue_id) }))));
      const members = (q) => agents.filter((a) => a.queue_ids.includes(q.id)).length;
      $('work-queues').tBodies[0].replaceChildren(...queues.map((q) => queueRow(q, members(q))));
      if (!queues.length) emptyRow('work-queues', 3, 'No queues yet.');
      const sorted = agents.slice().sort((a, b) => a.name.localeCompare(b.name));
      $('agents').tBodies[0].replaceChildren(...sorted.map((a) => agentRow(a, named)));
      if (!agents.length) emptyRow('agents', 6, 'No agents yet.');
    } catch (error) { showError($('workforce-error'), error); }
  }

  // Every page of a list (the API pages at 50 by default).
  async function everything(path) {
    const items = [];
    let cursor = null;
    do {
      const page = await api.get(`${path}?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      items.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return items;
  }

  function emptyRow(tableId, columns, text) {
    $(tableId).tBodies[0].replaceChildren(el('tr', {}, el('td', { colspan: columns, text })));
  }

  // -- queues: rename in place, delete (refused while in use, in the API's words) -----------------

  function queueRow(q, memberCount) {
    const error = el('p', { class: 'error', role: 'alert' });
    const input = el('input', { value: q.name, required: true, maxlength: 100,
      'aria-label': `New name for queue ${q.name}`, autocomplete: 'off' });
    return el('tr', { 'data-queue': q.id },
      el('th', { scope: 'row', text: q.name }),
      el('td', { text: memberCount }),
      el('td', {},
        el('form', {
          class: 'inline',
          onsubmit: async (event) => {
            event.preventDefault();
            showError(error, null);
            try {
              await api.patch(`/queues/${encodeURIComponent(q.id)}`, { name: input.value.trim() });
              await refreshWorkforce();
            } catch (e) { showError(error, e); }
          },
        }, input, el('button', { type: 'submit', text: 'Rename' })),
        el('button', {
          type: 'button', text: 'Delete', 'aria-label': `Delete queue ${q.name}`,
          onclick: async () => {
            const sure = await confirmAction({ title: `Delete queue ${q.name}?`,
              text: 'A queue that agents or workstreams still use cannot be deleted.', yes: 'Delete queue' });
            if (!sure) return;
            showError(error, null);
            try {
              await api.del(`/queues/${encodeURIComponent(q.id)}`);
              await refreshWorkforce();
            } catch (e) { showError(error, e); }
          },
        }),
        error));
  }

  // -- agents: edit (dialog), a new key (shown once), delete ---------------------------------

  function agentRow(a, named) {
    const error = el('p', { class: 'error', role: 'alert' });
    const agentPath = `/agents/${encodeURIComponent(a.id)}`;
    return el('tr', { 'data-agent': a.id },
      el('th', { scope: 'row', text: a.name }),
      el('td', { text: a.role || 'agent' }),
      el('td', { text: PRESENCE[a.presence] || a.presence }),
      el('td', { text: a.queue_ids.map(named).join(', ') || 'none' }),
      el('td', { text: a.capacity }),
      el('td', {}, el('div', { class: 'row-actions' },
        el('button', { type: 'button', text: 'Edit', 'aria-label': `Edit ${a.name}`,
          'aria-haspopup': 'dialog', onclick: () => editAgent(a) }),
        el('button', {
          type: 'button', text: 'New key', 'aria-label': `New key for ${a.name}`,
          onclick: async () => {
            const sure = await confirmAction({ title: `A new key for ${a.name}?`,
              text: 'The key they use now stops working at once; the new one is shown once.',
              yes: 'Make a new key' });
            if (!sure) return;
            showError(error, null);
            try {
              const answer = await api.post(`${agentPath}/key`);
              showKey(answer);
            } catch (e) { showError(error, e); }
          },
        }),
        el('button', {
          type: 'button', text: 'Delete', 'aria-label': `Delete ${a.name}`,
          onclick: async () => {
            const sure = await confirmAction({ title: `Delete ${a.name}?`,
              text: 'Their key stops working; the conversations they hold stay in the history.',
              yes: 'Delete agent' });
            if (!sure) return;
            showError(error, null);
            try {
              await api.del(agentPath);
              $('agent-key-shown').textContent = `${a.name} was deleted.`;
              await refreshWorkforce();
            } catch (e) { showError(error, e); }
          },
        }),
        error)));
  }

  function showKey(agent) {
    $('agent-key-shown').replaceChildren(`New key for ${agent.name} (shown once): `,
      el('code', { class: 'new-key', text: agent.api_key }), ' ', copyButton('the key', agent.api_key));
    $('agent-key-shown').scrollIntoView({ block: 'nearest' });
  }

  function editAgent(a) {
    editing = a;
    const form = $('agent-form');
    showError($('agent-edit-error'), null);
    showFieldErrors(form, null);
    $('agent-dialog-title').textContent = `Edit ${a.name}`;
    form.elements.name.value = a.name;
    form.elements.capacity.value = a.capacity;
    form.elements.role.value = a.role || 'agent';
    $('agent-edit-queues').replaceChildren(...queues.map((q) => {
      const id = `agent-edit-queue-${q.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      return el('div', { class: 'choice' },
        el('input', { type: 'checkbox', id, name: 'queue_ids', value: q.id,
          checked: a.queue_ids.includes(q.id) }),
        el('label', { for: id, text: q.name }));
    }));
    if (!queues.length) $('agent-edit-queues').append(el('p', { class: 'meta', text: 'No queues yet.' }));
    agentDialog.open();
  }

  $('agent-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    showError($('agent-edit-error'), null);
    showFieldErrors(form, null);
    const data = new FormData(form);
    try {
      await api.patch(`/agents/${encodeURIComponent(editing.id)}`, {
        name: String(data.get('name')).trim(), queue_ids: data.getAll('queue_ids'),
        capacity: Number(data.get('capacity')), role: data.get('role'),
      });
      agentDialog.close();
      await refreshWorkforce();
    } catch (e) {
      showError($('agent-edit-error'), e);
      showFieldErrors(form, e);
    }
  });

  async function refreshHealth() {
    try {
      const health = await api.get('/health');
      $('health-status').textContent = health.status === 'ok'
        ? 'Everything is healthy.' : 'Needs attention: see the failing rules.';
      $('failing-rules').replaceChildren(...health.failing_rules.map((f) =>
        el('li', { text: `${f.subject}: ${f.message} (${f.rule})` })));
      if (!health.failing_rules.length) $('failing-rules').replaceChildren(el('li', { text: 'None.' }));
      $('queues').tBodies[0].replaceChildren(...health.queues.map((q) => el('tr', {},
        el('td', { text: q.name }),
        el('td', { text: q.depth === null ? 'not countable' : q.depth }),
        el('td', { text: q.dead_letters === null ? 'unknown'
          : `${q.dead_letters}${q.dead_letters_at_least ? '+' : ''}` }),
        el('td', { text: q.problem || '' }))));
    } catch (error) { showError($('health-status'), error); }
  }

  function copyButton(label, value) {
    const done = el('span', { class: 'meta', 'aria-live': 'polite' });
    const button = el('button', {
      type: 'button', text: `Copy ${label}`,
      onclick: async () => {
        try { await navigator.clipboard.writeText(value); done.textContent = 'copied'; }
        catch { done.textContent = 'select and copy it by hand'; }
      },
    });
    return el('span', {}, button, done);
  }

  function renderAccount(account, pages) {
    const error = el('p', { class: 'error', role: 'alert' });
    const id = `acc-${account.id}`;
    return el('section', { class: 'card account', 'aria-labelledby': id, 'data-account': account.id },
      el('h3', { id, text: `${account.name} (app ${account.app_id})` }),
      el('dl', {},
        el('dt', { text: 'Callback URL' }),
        el('dd', {}, el('code', { text: account.callback_url }), ' ', copyButton('callback URL', account.callback_url)),
        el('dt', { text: 'Verify token' }),
        el('dd', {}, el('code', { text: account.verify_token }), ' ', copyButton('verify token', account.verify_token))),
      el('p', { class: 'meta', id: `${id}-fields`, text: 'In the Facebook app: Messenger → Settings → '
        + 'Webhooks → Add callback URL; paste both values, then subscribe the page to these '
        + `${WEBHOOK_FIELDS.length} webhook fields (adding a page here subscribes it to them too):` }),
      el('ul', { class: 'webhook-fields', 'aria-labelledby': `${id}-fields` },
        ...WEBHOOK_FIELDS.map((field) => el('li', {}, el('code', { text: field })))),
      pageTable(account, pages),
      addPageForm(account),
      el('button', {
        type: 'button', text: `Delete account ${account.name}`,
        onclick: async () => {
          if (!window.confirm(`Delete ${account.name} and deprovision its pages?`)) return;
          try { await api.del(`/accounts/${encodeURIComponent(account.id)}`); await refresh(); }
          catch (e) { showError(error, e); }
        },
      }),
      error);
  }

  function pageTable(account, pages) {
    if (!pages.length) return el('p', { class: 'meta', text: 'No pages yet.' });
    // Wide on a phone: the table scrolls inside its own box, never the whole page.
    return el('div', { class: 'table-scroll', role: 'region', tabindex: '0',
      'aria-label': `Pages of ${account.name} table` },
    el('table', {},
      el('caption', { text: `Pages of ${account.name}` }),
      el('thead', {}, el('tr', {}, ...['Page', 'State', 'Token', 'Actions'].map((h) =>
        el('th', { scope: 'col', text: h })))),
      el('tbody', {}, ...pages.map((page) => pageRow(account, page)))));
  }

  function pageRow(account, page) {
    const error = el('p', { class: 'error', role: 'alert' });
    const path = `/accounts/${encodeURIComponent(account.id)}/pages/${encodeURIComponent(page.page_id)}`;
    const token = page.token_health;
    const expiry = token.expires_at ? `, expires ${token.expires_at.slice(0, 10)}` : '';
    const tokenInput = el('input', { type: 'password', autocomplete: 'off',
      'aria-label': `New access token for ${page.name}` });
    return el('tr', { 'data-page': page.page_id },
      el('td', { text: `${page.name} (${page.page_id})` }),
      el('td', {}, el('span', { class: `state state-${page.provisioning_state}`, text: page.provisioning_state }),
        page.provisioning_error ? el('p', { class: 'error', text: page.provisioning_error }) : null),
      el('td', { text: `${token.status.replaceAll('_', ' ')}${expiry}` }),
      el('td', {},
        el('form', {
          class: 'inline',
          onsubmit: async (event) => {
            event.preventDefault();
            try { await api.patch(path, { access_token: tokenInput.value }); await refresh(); }
            catch (e) { showError(error, e); }
          },
        }, tokenInput, el('button', { type: 'submit', text: 'Rotate token' })),
        el('button', {
          type: 'button', text: 'Delete page',
          onclick: async () => {
            if (!window.confirm(`Deprovision ${page.name}?`)) return;
            try { await api.del(path); await refresh(); } catch (e) { showError(error, e); }
          },
        }),
        error));
  }

  function addPageForm(account) {
    const error = el('p', { class: 'error', role: 'alert' });
    const field = (name, label, type = 'text') => {
      const id = `page-${name}-${account.id}`;
      return [el('label', { for: id, text: label }),
        el('input', { id, name, type, required: true, autocomplete: 'off' })];
    };
    const form = el('form', { class: 'stack add-page' },
      el('h4', { text: `Add a page to ${account.name}` }),
      ...field('page_id', 'Page id'), ...field('name', 'Page name'),
      ...field('access_token', 'Page access token', 'password'),
      el('button', { type: 'submit', text: 'Add page' }), error);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      showError(error, null);
      const data = Object.fromEntries(new FormData(form));
      try {
        await api.post(`/accounts/${encodeURIComponent(account.id)}/pages`, data);
        await refresh();
      } catch (e) { showError(error, e); }
    });
    return form;
  }

  // One behaviour for every "add" form: post its fields, show the API's words (per field when
  // it names them) next to the form, refresh the lists on success.
  function bindCreate(formId, path, body, created = () => {}) {
    const form = $(formId);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = form.querySelector('p.error[role="alert"]');
      showError(error, null);
      showFieldErrors(form, null);
      try {
        const answer = await api.post(path, body(Object.fromEntries(new FormData(form))));
        form.reset();
        created(answer);
        await refresh();
      } catch (e) {
        showError(error, e);
        showFieldErrors(form, e);
      }
    });
  }

  bindCreate('add-account', '/accounts', (data) => data);
  bindCreate('add-queue', '/queues', (data) => data);
  bindCreate('add-agent', '/agents', (data) => ({
    name: data.name, queue_ids: data.queue_ids ? [data.queue_ids] : [],
    capacity: Number(data.capacity), role: data.role || 'agent',
  }), (agent) => {
    // The key is shown once by the API: the operator hands it to the agent now.
    $('agent-new-key').textContent = `Key for ${agent.name} (shown once): ${agent.api_key}`;
  });
  bindCreate('add-workstream', '/workstreams', (data) => data);

  refresh();
}
