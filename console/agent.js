// The agent view: presence, the inbox (read with the since= cursor on each live hint, and
// polled), the open conversation and the customer panel side by side; on a phone one pane at a
// time with back buttons.
import { $, el, showError, duration, stamp } from './dom.js';
import { STATES, customerName, refusal, unsentOnClose } from './words.js';
import { startContacts } from './contacts.js';
import { startTranscript } from './transcript.js';
import { startComposer } from './composer.js';
import { startCustomer } from './customer.js';
import { startCollaboration } from './collaborate.js';
import { coalesce } from './live.js';

const POLL_MS = 2000; // without live updates; with them, live.js says how often
// since= reports what left this agent for an hour (a departure); a full reload now and then
// (a poll, never a hint's read: those stay small) drops whatever slipped through.
const FULL_RELOAD_MS = 30000;
const LATE_AFTER_MS = 5 * 60 * 1000; // a customer waiting longer is shown in red

// The caller's relation to a conversation; an API without `role` still gets the right buttons.
function roleOf(c) {
  if (c.role !== undefined) return c.role;
  return c.state === 'offered' ? 'offered' : 'owner';
}

// Waiting since the customer's last message that no agent answered: stops once answered.
function waitingSince(c) {
  if (!['waiting', 'offered', 'active'].includes(c.state)) return null;
  if (c.waiting_since !== undefined) return c.waiting_since ? Date.parse(c.waiting_since) : null;
  const asked = Date.parse(c.last_customer_message_at);
  const answered = Date.parse(c.last_agent_message_at);
  if (!asked || (answered && answered >= asked)) return null;
  return asked;
}

export function startAgent(api, live) {
  const inbox = new Map(); // conversation id -> conversation, merged from since= polls
  const queueNames = new Map();
  let inboxSince = null;
  let fullDue = true; // the next read of the inbox is a whole one
  let lastFull = 0;
  let openId = null;
  let me = { id: null, name: '' };
  let timer = null;
  const baseTitle = document.title;
  const current = () => inbox.get(openId);
  const queueName = (id) => (id ? queueNames.get(id) : null);
  const knowQueues = (items) => { for (const q of items) queueNames.set(q.id, q.name); };

  const transcript = startTranscript(api, {
    openId: () => openId, conversation: current,
    gone: (id) => left({ id }, 'That conversation is no longer yours: it went to someone else, '
      + 'or the consult ended.'),
  });
  const composer = startComposer(api, {
    openId: () => openId,
    sent: (note) => { if (note) transcript.add(note); transcript.poll(); },
  });
  const customer = startCustomer(api, {
    openId: () => openId, changed, renderMessage: (m) => transcript.renderMessage(m), queueName,
  });
  const collaboration = startCollaboration(api, {
    current, me: () => me, changed, left, knowQueues,
  });
  const contacts = startContacts(api, {
    openId: () => openId,
    // A linked or started conversation comes back whole: keep it, and open it if new.
    opened: (conversation, open = false) => {
      if (open) {
        inbox.set(conversation.id, conversation);
        openConversation(conversation.id);
      } else changed(conversation);
      renderInbox();
    },
  });

  async function loadMe() {
    try {
      me = await api.get('/me');
      $('agent-name').textContent = `Signed in as ${me.name}`;
      $('presence').value = me.presence;
    } catch (error) { showError($('presence-error'), error); }
    // Queue names for lists that carry only ids; the inbox shows no raw id.
    try { knowQueues((await api.get('/queues')).items); renderInbox(); } catch { /* names wait */ }
  }

  $('presence').addEventListener('change', async (event) => {
    showError($('presence-error'), null);
    try { await api.put('/presence', { presence: event.target.value }); }
    catch (error) { showError($('presence-error'), error); }
  });

  // -- the inbox ------------------------------------------------------------------------------

  const pollInbox = coalesce(readInbox);
  async function readInbox() {
    const full = fullDue || !inboxSince;
    fullDue = false;
    if (full) lastFull = Date.now();
    const query = inboxSince && !full ? `?since=${encodeURIComponent(inboxSince)}` : '';
    try {
      const page = await api.get(`/conversations${query}`);
      if (full) {
        const seen = new Set(page.items.map((c) => c.id));
        for (const id of inbox.keys()) if (!seen.has(id)) inbox.delete(id);
      }
      let newOffers = 0;
      let departed = null; // how the open conversation left, when a poll says it did
      for (const conversation of page.items) {
        const before = inbox.get(conversation.id);
        if (conversation.state === 'offered' && (!before || before.state !== 'offered')) newOffers++;
        // Closed, or no longer this agent's (transferred, consult ended): out of the inbox.
        if (conversation.state === 'closed' || conversation.role === null) {
          inbox.delete(conversation.id);
          if (conversation.id === openId) departed = conversation;
        }
        else inbox.set(conversation.id, { ...before, ...conversation, customer: {
          ...(before && before.customer), ...dropNulls(conversation.customer) } });
      }
      inboxSince = page.since || inboxSince;
      showError($('inbox-error'), null);
      if (newOffers) announce(newOffers);
      renderInbox();
      if (openId) {
        if (inbox.has(openId)) renderConversation(inbox.get(openId));
        else if (departed && departed.state === 'closed') left(null, 'The open conversation was closed.');
        else {
          left(null, 'The open conversation is no longer yours: it was transferred or reassigned, '
            + 'or the consult ended.');
        }
      }
    } catch (error) { showError($('inbox-error'), error); }
  }

  // A list item may lack what GET one gave (the picture, the locale): keep those.
  function dropNulls(object) {
    return Object.fromEntries(Object.entries(object || {}).filter(([, v]) => v !== null && v !== undefined));
  }

  function announce(count) {
    const offered = [...inbox.values()].filter((c) => c.state === 'offered').length;
    $('announce').textContent = `${count} new conversation${count > 1 ? 's' : ''} offered to you`;
    $('announce').classList.add('flash');
    // The tab title tells an agent working in another tab; it clears when the offers are gone.
    document.title = `(${offered}) New offer · ${baseTitle}`;
    chime();
  }

  // A short tone made on the spot (no audio file to serve). Browsers allow it after the
  // sign-in click; where they do not, the visual and title announcements remain.
  function chime() {
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      const volume = audio.createGain();
      volume.gain.value = 0.05;
      tone.frequency.value = 880;
      tone.connect(volume).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.15);
      tone.onended = () => audio.close();
    } catch { /* no audio here: nothing else to do */ }
  }

  function renderInbox() {
    const list = $('inbox');
    const items = [...inbox.values()].sort((a, b) => activity(b) - activity(a));
    const offered = items.filter((c) => c.state === 'offered').length;
    if (!offered) {
      document.title = baseTitle;
      $('announce').textContent = '';
      $('announce').classList.remove('flash');
    }
    list.replaceChildren(...items.map((c) => el('li', {}, inboxItem(c))));
    if (!items.length) list.replaceChildren(el('li', { class: 'meta', text: 'No conversations right now.' }));
  }

  function inboxItem(c) {
    const role = roleOf(c);
    const since = waitingSince(c);
    const waiting = since ? `waiting ${duration(Date.now() - since)}` : null;
    const answered = !since && c.state === 'active' && c.last_agent_message_at ? 'answered' : null;
    const where = [c.page_name, c.queue_name || queueName(c.queue_id)].filter(Boolean).join(' · ');
    return el('button', {
      type: 'button', class: `inbox-item role-${role}`, 'aria-current': c.id === openId ? 'true' : null,
      'data-id': c.id, onclick: () => openConversation(c.id),
    },
    el('span', { class: 'item-top' },
      el('span', { class: 'who', text: customerName(c.customer) }),
      el('time', { class: 'when', datetime: c.updated_at, text: stamp(c.updated_at) })),
    where ? el('span', { class: 'where', text: where }) : null,
    c.last_message_preview ? el('span', { class: 'preview', text: c.last_message_preview }) : null,
    el('span', { class: 'item-bottom' },
      el('span', { class: `state state-${c.state}`,
        text: role === 'consultant' ? 'consulting' : STATES[c.state] || c.state }),
      waiting ? el('span', { class: `waiting${Date.now() - since > LATE_AFTER_MS ? ' late' : ''}`, text: waiting }) : null,
      answered ? el('span', { class: 'meta', text: answered }) : null,
      c.state === 'offered' && c.offer_expires_at
        ? el('span', { class: 'meta', text: `offer ends in ${duration(Date.parse(c.offer_expires_at) - Date.now())}` })
        : null,
      (c.labels || []).length ? el('span', { class: 'meta', text: c.labels.join(', ') }) : null,
      c.unread ? el('span', { class: 'unread', text: `${c.unread} unread` }) : null));
  }

  function activity(c) {
    return Date.parse(c.updated_at || c.last_customer_message_at || c.created_at) || 0;
  }

  // -- the open conversation --------------------------------------------------------------------

  function renderConversation(c) {
    const role = roleOf(c);
    $('conversation-title').textContent = customerName(c.customer);
    const where = [c.page_name ? `page ${c.page_name}` : null,
      `queue ${c.queue_name || queueName(c.queue_id) || 'none'}`].filter(Boolean).join(' · ');
    $('conversation-meta').textContent = `${STATES[c.state] || c.state} · ${where}`;
    const win = c.window;
    if (c.state === 'closed') $('window-left').textContent = '';
    else if (win.kind === 'closed' || !win.ends_at) {
      $('window-left').textContent = 'Messaging window closed: Facebook will refuse replies.';
    } else {
      const kind = win.kind === 'human_agent' ? '7-day human agent window' : '24-hour window';
      $('window-left').textContent =
        `Messaging window: ${duration(Date.parse(win.ends_at) - Date.now())} left (${kind}).`;
    }
    collaboration.renderParticipants(c);
    const owner = role === 'owner';
    $('accept').hidden = role !== 'offered';
    $('transfer').hidden = !(owner && c.state === 'active');
    $('consult').hidden = !(owner && c.state === 'active');
    $('leave-consult').hidden = role !== 'consultant';
    $('close').hidden = !(owner && (c.state === 'active' || c.state === 'wrap_up'));
    $('close').textContent = c.state === 'wrap_up' ? 'End wrap-up' : 'Close conversation';
    $('reply').hidden = !((owner && c.state === 'active') || (role === 'consultant' && c.state !== 'closed'));
    composer.setRole(role);
    $('link-contact').hidden = !(owner && (c.state === 'active' || c.state === 'wrap_up'));
    $('contact-section').hidden = $('link-contact').hidden && !$('contact-linked').textContent;
    $('role-banner').textContent = role === 'offered'
      ? 'Offered to you: read the conversation, then accept it to reply.'
      : role === 'consultant'
        ? 'You are consulting: you read the conversation and write notes; the customer sees none of them.'
        : '';
    $('conversation').dataset.role = role || '';
    customer.show(c);
  }

  function setPane(pane) {
    $('workspace').dataset.pane = pane;
  }

  async function openConversation(id) {
    openId = id;
    transcript.reset();
    contacts.reset();
    collaboration.closeDialogs();
    showError($('conversation-error'), null);
    $('conversation-empty').hidden = true;
    $('conversation').hidden = false;
    const c = inbox.get(id);
    composer.reset(roleOf(c));
    renderConversation(c);
    renderInbox();
    setPane('conversation');
    $('conversation-title').setAttribute('tabindex', '-1');
    $('conversation-title').focus();
    // GET one gives what lists may leave out (the picture, the locale, participants).
    const [one] = await Promise.all([
      api.get(`/conversations/${encodeURIComponent(id)}`).catch(() => null),
      transcript.poll(),
    ]);
    if (one && openId === id && inbox.has(id)) changed(one);
  }

  // The conversation as the server now has it (after an action, or read whole).
  // Leaving is decided by the action that leaves (transfer, consult) or by the inbox: a role
  // missing from an answer keeps the one known.
  function changed(c) {
    const before = inbox.get(c.id);
    // Closed, and already gone from the inbox (a hint's read came before this answer): gone.
    if (!before && c.state === 'closed' && c.id !== openId) return;
    const role = c.role === null && before ? before.role : c.role;
    inbox.set(c.id, { ...before, ...c, role,
      customer: { ...(before && before.customer), ...dropNulls(c.customer) } });
    if (c.id === openId) renderConversation(inbox.get(c.id));
    renderInbox();
  }

  // The conversation left this agent (transferred, consult left or ended): out of the inbox,
  // the pane emptied, and the agent told why.
  function left(c, message) {
    const id = c ? c.id : openId;
    inbox.delete(id);
    if (id === openId) {
      openId = null;
      collaboration.closeDialogs();
      transcript.reset();
      customer.clear();
      $('conversation').hidden = true;
      $('conversation-empty').hidden = false;
      setPane('inbox');
    }
    renderInbox();
    if (message) $('agent-notice').textContent = message;
    // Focus that was in the emptied pane (or a dialog about it) goes to the inbox.
    const focus = document.activeElement;
    if (!focus || focus === document.body || $('conversation-pane').contains(focus)
        || focus.closest('dialog')) {
      ($('inbox').querySelector('.inbox-item') || $('inbox-title')).focus();
    }
  }

  $('accept').addEventListener('click', async () => {
    showError($('conversation-error'), null);
    // Reset before the answer, not after: a live hint can show the reply box first, and an
    // agent who already started typing must not lose the draft when the answer arrives.
    composer.reset('owner');
    try {
      const c = await api.post(`/conversations/${encodeURIComponent(openId)}/accept`);
      changed(c);
      await transcript.poll();
      $('reply-text').focus();
    } catch (error) {
      showError($('conversation-error'), error.status === 404
        ? 'This conversation is no longer offered to you.' : refusal(error));
    }
  });

  $('close').addEventListener('click', async () => {
    showError($('conversation-error'), null);
    try {
      const closed = await api.post(`/conversations/${encodeURIComponent(openId)}/close`);
      changed(closed);
      const unsent = unsentOnClose(closed);
      if (unsent) showError($('conversation-error'), unsent);
    } catch (error) { showError($('conversation-error'), error); }
  });

  // -- one pane at a time on a phone ------------------------------------------------------------

  $('back-to-inbox').addEventListener('click', () => {
    setPane('inbox');
    const item = $('inbox').querySelector(`[data-id="${CSS.escape(openId || '')}"]`);
    (item || $('inbox-title')).focus();
  });
  $('show-customer').addEventListener('click', () => {
    setPane('customer');
    $('customer-title').setAttribute('tabindex', '-1');
    $('customer-title').focus();
  });
  $('back-to-conversation').addEventListener('click', () => {
    setPane(openId ? 'conversation' : 'inbox');
    (openId ? $('conversation-title') : $('inbox-title')).focus();
  });

  // -- refreshing: on the server's hints, and by polling (live.js says how often) -------------

  const pollTranscript = coalesce(() => transcript.poll());

  async function tick() {
    clearTimeout(timer);
    if (Date.now() - lastFull >= FULL_RELOAD_MS) fullDue = true;
    await pollInbox();
    if (openId) await pollTranscript();
    clearTimeout(timer); // one chain of polls, even when a state change restarted it meanwhile
    timer = setTimeout(tick, live.pollMs(POLL_MS));
  }

  // An offer or a change: the inbox; a message: the inbox (preview, unread) and the open
  // transcript when it is that conversation's; after a (re)connection, both.
  function hinted(hint) {
    const about = hint.conversation_id;
    switch (hint.type) {
      case 'conversation.offered':
      case 'conversation.updated':
        pollInbox();
        break;
      case 'message.created':
      case 'message.updated':
        if (openId && (!about || about === openId)) pollTranscript();
        if (hint.type === 'message.created') pollInbox();
        break;
      case 'resync':
        pollInbox();
        if (openId) pollTranscript();
        break;
      default:
        break; // queue figures are the supervisor's
    }
  }
  const unsubscribe = live.subscribe(hinted);
  // Down: the next poll comes sooner (15 s); up again: a read at once (the resync hint), then
  // the slow safety net.
  const unwatch = live.watch(() => {
    clearTimeout(timer);
    timer = setTimeout(tick, live.pollMs(POLL_MS));
  });

  $('inbox-title').setAttribute('tabindex', '-1');
  loadMe();
  tick();
  return () => {
    clearTimeout(timer);
    unsubscribe();
    unwatch();
    document.title = baseTitle;
  };
}
