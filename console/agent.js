// The agent view: presence, the inbox (polled with the since= cursor), one open conversation.
import { $, el, showError, duration } from './dom.js';
import { STATES, reason, customerName } from './words.js';
import { startContacts } from './contacts.js';

const POLL_MS = 2000;
// since= returns only what this agent still sees, so an offer passed on to someone else never
// arrives as a change: a full reload now and then drops it.
const FULL_RELOAD_EVERY = 15;
const TYPING_IDLE_MS = 3000;

export function startAgent(api) {
  const inbox = new Map(); // conversation id -> conversation, merged from since= polls
  let inboxSince = null;
  let polls = 0;
  let openId = null;
  let messages = new Map();
  let messagesSince = null;
  let timer = null;
  let typingOff = null;
  const blobUrls = new Map(); // attachment id -> blob: URL, so re-renders fetch nothing
  const baseTitle = document.title;
  const contacts = startContacts(api, {
    openId: () => openId,
    // A linked or started conversation comes back whole: keep it, and open it if new.
    opened: (conversation, open = false) => {
      inbox.set(conversation.id, conversation);
      if (open) openConversation(conversation.id);
      else if (conversation.id === openId) renderHeader(conversation);
      renderInbox();
    },
  });

  async function loadMe() {
    try {
      const me = await api.get('/me');
      $('agent-name').textContent = `Signed in as ${me.name}`;
      $('presence').value = me.presence;
    } catch (error) { showError($('presence-error'), error); }
  }

  $('presence').addEventListener('change', async (event) => {
    showError($('presence-error'), null);
    try { await api.put('/presence', { presence: event.target.value }); }
    catch (error) { showError($('presence-error'), error); }
  });

  async function pollInbox() {
    const full = polls++ % FULL_RELOAD_EVERY === 0;
    const query = inboxSince && !full ? `?since=${encodeURIComponent(inboxSince)}` : '';
    try {
      const page = await api.get(`/conversations${query}`);
      if (full) {
        const seen = new Set(page.items.map((c) => c.id));
        for (const id of inbox.keys()) if (!seen.has(id)) inbox.delete(id);
      }
      let newOffers = 0;
      for (const conversation of page.items) {
        const before = inbox.get(conversation.id);
        if (conversation.state === 'offered' && (!before || before.state !== 'offered')) newOffers++;
        if (conversation.state === 'closed') inbox.delete(conversation.id);
        else inbox.set(conversation.id, conversation);
      }
      inboxSince = page.since || inboxSince;
      showError($('inbox-error'), null);
      if (newOffers) announce(newOffers);
      renderInbox();
      if (openId && inbox.has(openId)) renderHeader(inbox.get(openId));
    } catch (error) { showError($('inbox-error'), error); }
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
    list.replaceChildren(...items.map((c) => {
      const waiting = c.last_customer_message_at
        ? `waiting ${duration(Date.now() - Date.parse(c.last_customer_message_at))}` : '';
      const button = el('button', {
        type: 'button', class: 'inbox-item', 'aria-current': c.id === openId ? 'true' : null,
        'data-id': c.id, onclick: () => openConversation(c.id),
      },
      el('span', { class: 'who', text: customerName(c.customer) }),
      el('span', { class: `state state-${c.state}`, text: STATES[c.state] || c.state }),
      c.last_message_preview ? el('span', { class: 'preview', text: c.last_message_preview }) : null,
      el('span', { class: 'meta', text: `page ${c.page_id} · queue ${c.queue_id || 'none'} · ${waiting}` }),
      c.state === 'offered' && c.offer_expires_at
        ? el('span', { class: 'meta', text: `offer ends in ${duration(Date.parse(c.offer_expires_at) - Date.now())}` })
        : null,
      c.unread ? el('span', { class: 'unread', text: `${c.unread} unread` }) : null);
      return el('li', {}, button);
    }));
    if (!items.length) list.replaceChildren(el('li', { class: 'meta', text: 'No conversations right now.' }));
  }

  function activity(c) {
    return Date.parse(c.updated_at || c.last_customer_message_at || c.created_at) || 0;
  }

  function renderHeader(c) {
    $('conversation-title').textContent = customerName(c.customer);
    $('conversation-meta').textContent =
      `${STATES[c.state] || c.state} · page ${c.page_id} · queue ${c.queue_id || 'none'}`;
    const win = c.window;
    if (win.kind === 'closed' || !win.ends_at) {
      $('window-left').textContent = 'Messaging window closed: Facebook will refuse replies.';
    } else {
      const kind = win.kind === 'human_agent' ? '7-day human agent window' : '24-hour window';
      $('window-left').textContent =
        `Messaging window: ${duration(Date.parse(win.ends_at) - Date.now())} left (${kind}).`;
    }
    $('accept').hidden = c.state !== 'offered';
    $('close').hidden = !(c.state === 'active' || c.state === 'wrap_up');
    $('close').textContent = c.state === 'wrap_up' ? 'End wrap-up' : 'Close conversation';
    $('reply').hidden = c.state !== 'active';
    $('link-contact').hidden = !(c.state === 'active' || c.state === 'wrap_up');
  }

  async function openConversation(id) {
    openId = id;
    messages = new Map();
    messagesSince = null;
    for (const url of blobUrls.values()) URL.revokeObjectURL(url);
    blobUrls.clear();
    $('messages').replaceChildren();
    contacts.reset();
    showError($('conversation-error'), null);
    showError($('reply-error'), null);
    $('conversation').hidden = false;
    renderHeader(inbox.get(id));
    renderInbox();
    await pollMessages();
    $('conversation-title').setAttribute('tabindex', '-1');
    $('conversation-title').focus();
  }

  async function pollMessages() {
    const c = inbox.get(openId);
    // Only the agent holding a conversation reads its history; an offer shows the accept button.
    if (!c || c.state === 'offered') return;
    const id = openId;
    const query = messagesSince ? `?since=${encodeURIComponent(messagesSince)}` : '';
    try {
      const page = await api.get(`/conversations/${encodeURIComponent(id)}/messages${query}`);
      if (id !== openId) return;
      for (const m of page.items) messages.set(m.id, m);
      messagesSince = page.since || messagesSince;
      if (page.items.length) renderMessages();
    } catch (error) { showError($('conversation-error'), error); }
  }

  function renderMessages() {
    const list = $('messages');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const ordered = [...messages.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    list.replaceChildren(...ordered.map(renderMessage));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderMessage(m) {
    const status = m.status === 'failed' ? reason(m.failure_reason) : m.status;
    return el('li', { class: `message ${m.direction} author-${m.author}`, 'data-id': m.id },
      el('p', { class: 'meta', text: `${m.author} · ${new Date(m.created_at).toLocaleTimeString()}` }),
      m.text ? el('p', { class: 'text', text: m.text }) : null,
      ...m.attachments.map((a) => renderAttachment(a, m.direction === 'in')),
      m.reaction ? el('p', { class: 'meta', text: `reaction: ${m.reaction}` }) : null,
      m.direction === 'out'
        ? el('p', { class: `status status-${m.status}`, 'data-status': m.status, text: status })
        : null);
  }

  function renderAttachment(a, fromCustomer) {
    if (a.status !== 'stored') {
      return el('p', { class: 'meta', text: `${a.name}: ${a.error || a.status}` });
    }
    const holder = el('div', { class: 'attachment' });
    // Fetched with the Authorization header, then shown from a blob: URL; a bare <img src>
    // would send no key.
    const known = blobUrls.get(a.id);
    const loaded = known ? Promise.resolve(known)
      // A customer's file is found through its conversation; an agent's upload by id alone.
      : api.get(`/attachments/${encodeURIComponent(a.id)}${fromCustomer
        ? `?conversation_id=${encodeURIComponent(openId)}` : ''}`).then((blob) => {
        const url = URL.createObjectURL(blob);
        blobUrls.set(a.id, url);
        return url;
      });
    loaded.then((url) => {
      if ((a.content_type || '').startsWith('image/')) {
        holder.append(el('img', { src: url, alt: `image ${a.name}` }));
      } else {
        holder.append(el('a', { href: url, download: a.name, text: `${a.name} (${a.size || '?'} bytes)` }));
      }
    }).catch((error) => holder.append(el('p', { class: 'error', text: `${a.name}: ${error.message}` })));
    return holder;
  }

  $('accept').addEventListener('click', async () => {
    showError($('conversation-error'), null);
    try {
      const c = await api.post(`/conversations/${encodeURIComponent(openId)}/accept`);
      inbox.set(c.id, c);
      renderHeader(c);
      renderInbox();
      await pollMessages();
      $('reply-text').focus();
    } catch (error) {
      if (error.code === 'already_assigned') {
        showError($('conversation-error'), 'Another agent accepted this conversation first.');
      } else if (error.code === 'offer_expired') {
        showError($('conversation-error'), 'The offer expired before you accepted it.');
      } else if (error.status === 404) {
        showError($('conversation-error'), 'This conversation is no longer offered to you.');
      } else showError($('conversation-error'), error);
    }
  });

  $('close').addEventListener('click', async () => {
    showError($('conversation-error'), null);
    try {
      const c = await api.post(`/conversations/${encodeURIComponent(openId)}/close`);
      inbox.set(c.id, c);
      renderHeader(c);
      renderInbox();
    } catch (error) { showError($('conversation-error'), error); }
  });

  $('reply-text').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $('reply').requestSubmit();
    }
  });

  // One "typing on" when the agent starts, "off" after a pause: not one request per key.
  $('reply-text').addEventListener('input', () => {
    const id = openId;
    if (!typingOff) api.post(`/conversations/${encodeURIComponent(id)}/typing`, { on: true }).catch(() => {});
    clearTimeout(typingOff);
    typingOff = setTimeout(() => {
      typingOff = null;
      api.post(`/conversations/${encodeURIComponent(id)}/typing`, { on: false }).catch(() => {});
    }, TYPING_IDLE_MS);
  });

  $('reply').addEventListener('submit', async (event) => {
    event.preventDefault();
    showError($('reply-error'), null);
    const text = $('reply-text').value.trim();
    const file = $('reply-file').files[0];
    if (!text && !file) return;
    try {
      const body = {};
      if (text) body.text = text;
      if (file) {
        const form = new FormData();
        form.append('file', file);
        const uploaded = await api.post('/attachments', form);
        body.attachment_ids = [uploaded.id];
      }
      await api.post(`/conversations/${encodeURIComponent(openId)}/messages`, body);
      $('reply-text').value = '';
      $('reply-file').value = '';
      await pollMessages();
    } catch (error) { showError($('reply-error'), error); }
  });

  async function tick() {
    await pollInbox();
    if (openId) await pollMessages();
    timer = setTimeout(tick, POLL_MS);
  }

  loadMe();
  tick();
  return () => { clearTimeout(timer); document.title = baseTitle; };
}
