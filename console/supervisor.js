// The supervisor view: the live queue and agent tables (read again on the server's hints and
// polled while they are on screen), every conversation with filters and a transcript reader with Assign
// and Close, and the reports page (reports.js). Names everywhere, never raw ids.
import { $, el, showError, duration, stamp, modal, confirmAction } from './dom.js';
import { STATES, PRESENCE, customerName, refusal, unsentOnClose } from './words.js';
import { startTranscript } from './transcript.js';
import { startReports } from './reports.js';
import { coalesce } from './live.js';

const REFRESH_MS = 5000; // without live updates; with them, live.js says how often
const PAGE_SIZE = 25;
const PRESENCE_ORDER = { available: 0, busy: 1, away: 2, offline: 3 };
// The agent's words, except an offer: here it is offered to someone, not to the reader.
const stateWord = (state) => (state === 'offered' ? 'offered' : STATES[state] || state);

export function startSupervisor(api, live) {
  let page = 'live';
  let timer = null;
  let agents = []; // /supervisor/agents, the latest read
  const queueNames = new Map();
  const agentNames = new Map();
  const pageNames = new Map(); // learnt from the rows: the API names each row's page
  const rows = new Map(); // conversation id -> conversation, as listed
  let cursor = null;
  let filters = {};
  let openId = null;
  let open = null; // the conversation in the reader, as last read
  const assignDialog = modal($('assign-dialog'));
  const reports = startReports(api);

  const transcript = startTranscript(api, {
    openId: () => openId, conversation: () => open, live: false,
    list: $('sv-messages'), errorTarget: $('sv-reader-error'),
    gone: () => showError($('sv-reader-error'), 'This conversation cannot be found any more.'),
  });

  // -- pages of the view ------------------------------------------------------------------------

  function showPage(name) {
    if (name !== page) $('sv-notice').textContent = '';
    page = name;
    for (const button of document.querySelectorAll('#supervisor-view .subnav button')) {
      button.setAttribute('aria-pressed', String(button.dataset.page === name));
    }
    $('sv-live').hidden = name !== 'live';
    $('sv-conversations').hidden = name !== 'conversations';
    $('sv-reports').hidden = name !== 'reports';
    sessionStorage.setItem('supervisorPage', name);
    if (name === 'conversations' && !rows.size) loadList(true);
    if (name === 'reports') reports.show();
    tick();
  }
  for (const button of document.querySelectorAll('#supervisor-view .subnav button')) {
    button.addEventListener('click', () => showPage(button.dataset.page));
  }

  // -- names for the filters --------------------------------------------------------------------

  function fillSelect(select, entries, any) {
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '', text: any }),
      ...[...entries].sort((a, b) => a[1].localeCompare(b[1]))
        .map(([id, name]) => el('option', { value: id, text: name })));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }

  function learnNames(queues, agentList) {
    if (queues) for (const q of queues) queueNames.set(q.queue_id, q.name);
    if (agentList) for (const a of agentList) agentNames.set(a.agent_id, a.name);
    fillSelect($('sv-queue'), queueNames, 'Any queue');
    fillSelect($('sv-agent'), agentNames, 'Any agent');
  }

  // Two pages may share a name: those are told apart by their ids.
  function learnPages(items) {
    let added = false;
    for (const c of items) {
      if (!pageNames.has(c.page_id)) {
        pageNames.set(c.page_id, c.page_name || `page ${c.page_id}`);
        added = true;
      }
    }
    if (!added) return;
    const counts = new Map();
    for (const name of pageNames.values()) counts.set(name, (counts.get(name) || 0) + 1);
    fillSelect($('sv-page'), [...pageNames].map(([id, name]) =>
      [id, counts.get(name) > 1 ? `${name} (${id})` : name]), 'Any page');
  }

  // -- the live tables --------------------------------------------------------------------------

  const refreshLive = coalesce(readLive);
  async function readLive() {
    try {
      const [queues, people] = await Promise.all([api.get('/queues'), api.get('/agents')]);
      agents = people.items;
      learnNames(queues.items, agents);
      renderQueues(queues.items);
      renderAgents(agents);
      $('sv-live-updated').textContent = `Updated at ${new Date().toLocaleTimeString()}; `
        + (live.state() === 'live' ? 'updated as things change while this page is open.'
          : `refreshed every ${live.pollMs(REFRESH_MS) / 1000} seconds while this page is open.`);
      showError($('sv-live-error'), null);
    } catch (error) { showError($('sv-live-error'), error); }
  }

  function renderQueues(items) {
    const sorted = items.slice().sort((a, b) => a.name.localeCompare(b.name));
    $('sv-queues').tBodies[0].replaceChildren(...sorted.map((q) => el('tr', { 'data-queue': q.queue_id },
      el('th', { scope: 'row', text: q.name }),
      el('td', { class: q.waiting ? 'busy' : null, text: q.waiting }),
      el('td', { text: q.offered }),
      el('td', { text: q.active }),
      el('td', { text: q.longest_wait_seconds === null ? 'none waiting'
        : duration(q.longest_wait_seconds * 1000) }),
      el('td', { class: q.agents_available ? null : 'warn', text: q.agents_available }))));
    if (!sorted.length) {
      $('sv-queues').tBodies[0].replaceChildren(el('tr', {}, el('td', { colspan: 6, text: 'No queues.' })));
    }
  }

  function renderAgents(items) {
    const sorted = items.slice().sort((a, b) =>
      (PRESENCE_ORDER[a.presence] ?? 4) - (PRESENCE_ORDER[b.presence] ?? 4)
      || a.name.localeCompare(b.name));
    $('sv-agents').tBodies[0].replaceChildren(...sorted.map((a) => el('tr', { 'data-agent': a.agent_id },
      el('th', { scope: 'row' }, a.name,
        a.role === 'supervisor' ? el('span', { class: 'meta', text: ' (supervisor)' }) : null),
      el('td', {}, el('span', { class: `presence presence-${a.presence}`,
        text: PRESENCE[a.presence] || a.presence })),
      el('td', { class: 'capacity' },
        el('meter', { min: 0, max: a.capacity, value: Math.min(a.used, a.capacity),
          'aria-label': `${a.name}: ${a.used} of ${a.capacity} used` }),
        el('span', { class: 'capacity-text', text: `${a.used} / ${a.capacity}` })),
      el('td', { text: a.conversations }))));
    if (!sorted.length) {
      $('sv-agents').tBodies[0].replaceChildren(el('tr', {}, el('td', { colspan: 4, text: 'No agents.' })));
    }
  }

  // -- every conversation -----------------------------------------------------------------------

  function query(extra = {}) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...filters, ...extra })) {
      if (value) params.set(name, value);
    }
    return params.toString();
  }

  // Only the latest request is shown: filters applied twice quickly never mix their answers.
  let generation = 0;
  async function loadList(fresh) {
    const mine = ++generation;
    showError($('sv-list-error'), null);
    if (fresh) cursor = null;
    const button = $('sv-more');
    button.disabled = true;
    try {
      const answer = await api.get(`/conversations?${query({ limit: PAGE_SIZE, cursor })}`);
      if (mine !== generation) return;
      if (fresh) rows.clear();
      for (const c of answer.items) rows.set(c.id, c);
      learnPages(answer.items);
      cursor = answer.next;
      renderList();
    } catch (error) { showError($('sv-list-error'), error); }
    button.disabled = false;
  }

  function ownerName(c) {
    const owner = (c.participants || []).find((p) => p.role === 'owner');
    return owner ? owner.name || agentNames.get(owner.agent_id) || 'an agent' : '';
  }

  // Re-rendered on every refresh: a keyboard user's focus on a row stays on that row.
  function renderList() {
    const body = $('sv-list').tBodies[0];
    const focused = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.closest('tr').dataset.id : null;
    body.replaceChildren(...[...rows.values()].map((c) => el('tr', {
      'data-id': c.id, 'aria-current': c.id === openId ? 'true' : null },
    el('th', { scope: 'row' }, el('button', { type: 'button', class: 'link', text: customerName(c.customer),
      onclick: () => openReader(c.id) }),
    c.last_message_preview ? el('span', { class: 'preview', text: c.last_message_preview }) : null),
    el('td', {}, el('span', { class: `state state-${c.state}`, text: stateWord(c.state) })),
    el('td', { text: c.page_name || c.page_id }),
    el('td', { text: c.queue_name || queueNames.get(c.queue_id) || '' }),
    el('td', { text: ownerName(c) }),
    el('td', { text: (c.labels || []).join(', ') }),
    el('td', {}, el('time', { datetime: c.created_at, text: stamp(c.created_at) })))));
    if (!rows.size) body.replaceChildren(el('tr', {}, el('td', { colspan: 7, text: 'No conversation matches.' })));
    if (focused) {
      const again = body.querySelector(`tr[data-id="${CSS.escape(focused)}"] button`);
      if (again) again.focus();
    }
    $('sv-more').hidden = !cursor;
    $('sv-count').textContent = `${rows.size} conversation${rows.size === 1 ? '' : 's'} shown`
      + (cursor ? '; more can be loaded.' : '.');
  }

  $('sv-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    filters = Object.fromEntries([...new FormData(event.target)].map(([k, v]) => [k, String(v).trim()]));
    loadList(true);
  });
  $('sv-filters').addEventListener('reset', () => {
    filters = {};
    // After the form has cleared its fields.
    setTimeout(() => loadList(true));
  });
  // Focus goes to the first row loaded, where reading goes on (the button may be gone).
  $('sv-more').addEventListener('click', async () => {
    const shown = rows.size;
    await loadList(false);
    const first = $('sv-list').tBodies[0].querySelectorAll('tr[data-id] button')[shown];
    if (first) first.focus();
  });

  // -- the transcript reader --------------------------------------------------------------------

  function renderReader(c) {
    $('sv-reader-title').textContent = customerName(c.customer);
    const where = [c.page_name ? `page ${c.page_name}` : null,
      `queue ${c.queue_name || queueNames.get(c.queue_id) || 'none'}`];
    $('sv-reader-meta').textContent = `${stateWord(c.state)} · ${where.filter(Boolean).join(' · ')}`
      + ` · started ${stamp(c.created_at)}`
      + ((c.labels || []).length ? ` · labels: ${c.labels.join(', ')}` : '');
    const people = c.participants || [];
    $('sv-reader-people').textContent = people.map((p) =>
      `${p.role === 'owner' ? 'Owner' : 'Consulting'}: ${p.name || agentNames.get(p.agent_id) || 'an agent'}`)
      .join(' · ') || 'No agent holds it.';
    $('sv-assign').hidden = !['bot', 'waiting', 'offered', 'active'].includes(c.state);
    $('sv-close').hidden = c.state === 'closed';
  }

  async function openReader(id) {
    openId = id;
    open = rows.get(id) || null;
    transcript.reset();
    showError($('sv-reader-error'), null);
    $('sv-reader').hidden = false;
    if (open) renderReader(open);
    renderList();
    $('sv-reader-title').focus();
    await Promise.all([reloadOpen(), transcript.poll()]);
  }

  async function reloadOpen() {
    const id = openId;
    if (!id) return;
    try {
      const c = await api.get(`/conversations/${encodeURIComponent(id)}`);
      if (id !== openId) return;
      const before = rows.get(id);
      open = c;
      if (before && before.updated_at !== c.updated_at) { rows.set(id, c); renderList(); }
      renderReader(c);
    } catch (error) { if (id === openId) showError($('sv-reader-error'), error); }
  }

  $('sv-reader-hide').addEventListener('click', () => {
    const id = openId;
    openId = null;
    open = null;
    transcript.reset();
    $('sv-reader').hidden = true;
    renderList();
    const row = $('sv-list').querySelector(`tr[data-id="${CSS.escape(id || '')}"] button`);
    (row || $('sv-conversations-title')).focus();
  });

  // Available first, then by name; an offline agent cannot be assigned (the API says 409).
  function assignChoice(a, holder) {
    const id = `assign-${a.agent_id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const free = Math.max(0, a.capacity - a.used);
    const detail = `${PRESENCE[a.presence] || a.presence} · free capacity ${free} of ${a.capacity}`
      + ` · ${a.conversations} conversation${a.conversations === 1 ? '' : 's'}`
      + (a.agent_id === holder ? ' · holds it now' : '')
      + (a.presence === 'offline' ? ' · offline agents cannot be assigned' : '');
    return el('div', { class: `choice${a.presence === 'offline' ? ' disabled' : ''}` },
      el('input', { type: 'radio', name: 'assignee', value: a.agent_id, id,
        disabled: a.presence === 'offline', 'aria-describedby': `${id}-detail` }),
      el('label', { for: id, text: a.name }),
      el('span', { class: 'meta', id: `${id}-detail`, text: detail }));
  }

  $('sv-assign').addEventListener('click', async () => {
    showError($('sv-reader-error'), null);
    try {
      agents = (await api.get('/agents')).items;
      const holder = ((open && open.participants) || []).find((p) => p.role === 'owner');
      const sorted = agents.slice().sort((a, b) =>
        (PRESENCE_ORDER[a.presence] ?? 4) - (PRESENCE_ORDER[b.presence] ?? 4)
        || a.name.localeCompare(b.name));
      $('assign-agents').replaceChildren(...sorted.map((a) => assignChoice(a, holder && holder.agent_id)));
      if (!sorted.length) $('assign-agents').append(el('p', { class: 'meta', text: 'No agent.' }));
      $('assign-find').value = '';
      showError($('assign-error'), null);
      assignDialog.open();
    } catch (error) { showError($('sv-reader-error'), error); }
  });

  $('assign-find').addEventListener('input', () => {
    const words = $('assign-find').value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    for (const item of $('assign-agents').querySelectorAll('.choice')) {
      item.hidden = !words.every((w) => item.textContent.toLowerCase().includes(w));
    }
  });
  $('assign-find').addEventListener('keydown', (event) => {
    if (event.key === 'Enter') event.preventDefault();
  });

  $('assign-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const picked = $('assign-form').querySelector('input[name="assignee"]:checked');
    if (!picked) {
      showError($('assign-error'), 'Choose an agent.');
      return;
    }
    const name = $('assign-form').querySelector(`label[for="${picked.id}"]`).textContent;
    showError($('assign-error'), null);
    try {
      const c = await api.post(`/conversations/${encodeURIComponent(openId)}/assign`,
        { agent_id: picked.value });
      assignDialog.close();
      open = c;
      if (rows.has(c.id)) rows.set(c.id, c);
      renderList();
      renderReader(c);
      $('sv-notice').textContent = `${customerName(c.customer)} is now assigned to ${name}.`;
      await transcript.poll();
    } catch (error) { showError($('assign-error'), refusal(error)); }
  });

  $('sv-close').addEventListener('click', async () => {
    const c = open;
    if (!c) return;
    const who = customerName(c.customer);
    const sure = await confirmAction({
      title: 'Close the conversation?',
      text: `The conversation with ${who} ends now, without wrap-up; the agent's capacity is `
        + 'freed and the customer\'s next message starts a new conversation.',
      yes: 'Close it',
    });
    if (!sure) return;
    showError($('sv-reader-error'), null);
    try {
      const closed = await api.post(`/conversations/${encodeURIComponent(c.id)}/close`);
      open = closed;
      if (rows.has(closed.id)) rows.set(closed.id, closed);
      renderList();
      renderReader(closed);
      // The reader's error line is the transcript's (its next poll clears it): say it here.
      $('sv-notice').textContent = unsentOnClose(closed)
        || `The conversation with ${who} is closed.`;
      $('sv-reader-title').focus();
      await transcript.poll();
    } catch (error) { showError($('sv-reader-error'), refusal(error)); }
  });

  // -- refreshing -------------------------------------------------------------------------------

  // Only what is on screen is refreshed, and nothing while the browser tab is hidden.
  const onScreen = () => !document.hidden && !$('supervisor-view').hidden;
  const reloadReader = coalesce(reloadOpen);
  const pollReader = coalesce(() => transcript.poll());

  async function tick() {
    clearTimeout(timer);
    if (onScreen()) {
      if (page === 'live') await refreshLive();
      else if (page === 'conversations' && openId) await Promise.all([reloadReader(), pollReader()]);
    }
    clearTimeout(timer); // one chain of polls, even when a state change restarted it meanwhile
    timer = setTimeout(tick, live.pollMs(REFRESH_MS));
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });

  // Hints: any change of a conversation or a queue moves the live tables' figures (waiting,
  // capacity used); the reader follows its own conversation.
  live.subscribe((hint) => {
    if (!onScreen()) return; // read when shown again (tick)
    const about = hint.conversation_id;
    if (hint.type === 'resync') { tick(); return; }
    if (page === 'live') refreshLive();
    else if (page === 'conversations' && openId && (!about || about === openId)) {
      if (hint.type.startsWith('message.')) pollReader();
      else reloadReader();
    }
  });
  live.watch(() => {
    clearTimeout(timer);
    timer = setTimeout(tick, live.pollMs(REFRESH_MS));
  });

  // Names for the filters even before the live page is read.
  api.get('/agents').then((people) => learnNames(null, people.items)).catch(() => {});
  api.get('/queues').then((queues) => learnNames(queues.items, null)).catch(() => {});
  showPage(sessionStorage.getItem('supervisorPage') || 'live');
  return { shown: () => tick() };
}
