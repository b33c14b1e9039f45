// The open conversation's messages: polled with the since= cursor, shown oldest first.
// Customer and agent messages are bubbles, notes are yellow cards labelled "Note", system lines
// (transfers, consults) are small centred text; a failed message says why and offers Retry.
import { $, el, showError, stamp } from './dom.js';
import { FAILURE_REASONS, reason, refusal, customerName } from './words.js';

// ``list`` and ``errorTarget``: where it is shown (the agent's pane unless told); ``live``
// false for a reader (a supervisor's): attachments named, not fetched, and no Retry.
export function startTranscript(api, {
  openId, conversation, gone, list = $('messages'), errorTarget = $('conversation-error'),
  live = true,
}) {
  let messages = new Map();
  let since = null;
  const blobUrls = new Map(); // attachment id -> {url: blob: URL, inline}: re-renders fetch nothing

  function reset() {
    messages = new Map();
    since = null;
    for (const { url } of blobUrls.values()) URL.revokeObjectURL(url);
    blobUrls.clear();
    list.replaceChildren();
  }

  // The offered agent reads too: an offer can be read before it is accepted.
  async function poll() {
    const id = openId();
    if (!id) return;
    const query = since ? `?since=${encodeURIComponent(since)}` : '';
    try {
      const page = await api.get(`/conversations/${encodeURIComponent(id)}/messages${query}`);
      if (id !== openId()) return;
      for (const m of page.items) messages.set(m.id, m);
      since = page.since || since;
      if (page.items.length || !list.childElementCount) render();
    } catch (error) {
      if (id !== openId()) return;
      // Not this agent's any more (transferred, consult ended, offer gone to someone else).
      if (error.status === 404) gone(id);
      else showError(errorTarget, error);
    }
  }

  function render() {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const ordered = [...messages.values()]
      .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    list.replaceChildren(...ordered.map((m) => renderMessage(m, { live })));
    if (!ordered.length) list.append(el('li', { class: 'system', text: 'No messages yet.' }));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function author(m) {
    const c = conversation();
    switch (m.author) {
      case 'customer': return c ? customerName(c.customer) : 'Customer';
      case 'agent': return m.author_name || 'Agent';
      case 'automated': return 'Automated message';
      case 'bot': return m.author_name || 'Bot (before an agent)';
      case 'outside': return 'Sent outside the console';
      default: return m.author || '';
    }
  }

  // ``live``: the open conversation (attachments fetched, Retry offered); the customer
  // panel's earlier conversations reuse this without them.
  function renderMessage(m, { live = false } = {}) {
    const at = el('time', { datetime: m.created_at, text: stamp(m.created_at) });
    if (m.author === 'system') {
      return el('li', { class: 'system', 'data-id': m.id }, m.text || '', ' · ', at);
    }
    const internal = m.visibility === 'internal';
    const kind = internal ? 'note' : `message ${m.direction}`;
    return el('li', { class: `${kind} author-${m.author}`, 'data-id': m.id },
      el('p', { class: 'meta' },
        internal ? el('strong', { class: 'note-label', text: 'Note' }) : null,
        internal ? ' · ' : null, `${author(m)} · `, at,
        m.edits && m.edits.length ? ' · edited' : null),
      m.text ? el('p', { class: 'text', text: m.text }) : null,
      ...(m.attachments || []).map((a) => live
        ? renderAttachment(a)
        : el('p', { class: 'meta', text: `attachment: ${a.name}` })),
      m.payload && m.direction === 'in'
        ? el('p', { class: 'meta', text: `tapped a button (${m.payload})` }) : null,
      m.quick_replies && m.quick_replies.length
        ? el('ul', { class: 'chips sent-buttons', 'aria-label': 'Buttons offered' },
          ...m.quick_replies.map((q) => el('li', { class: 'chip', text: q.title || q })))
        : null,
      m.reaction ? el('p', { class: 'meta', text: `reaction: ${m.reaction}` }) : null,
      m.direction === 'out' && !internal ? renderStatus(m, live) : null);
  }

  function renderStatus(m, live) {
    if (m.status !== 'failed') {
      return el('p', { class: `status status-${m.status}`, 'data-status': m.status, text: m.status });
    }
    const holder = el('div', { class: 'failed' },
      el('p', { class: 'status status-failed', 'data-status': 'failed', text: reason(m.failure_reason) }));
    const c = conversation();
    // The owner sends to the customer: the owner retries (an agent's or an automated message).
    if (live && ['agent', 'automated'].includes(m.author) && c && (c.role ?? 'owner') === 'owner') {
      const error = el('p', { class: 'error', role: 'alert' });
      holder.append(el('button', {
        type: 'button', class: 'retry', text: 'Retry',
        'aria-label': `Retry sending: ${(m.text || 'the message').slice(0, 40)}`,
        onclick: async (event) => {
          event.target.disabled = true;
          showError(error, null);
          try {
            await api.post(`/conversations/${encodeURIComponent(openId())}/messages/${
              encodeURIComponent(m.id)}/retry`);
            messages.set(m.id, { ...m, status: 'queued', failure_reason: null });
            render();
            await poll();
          } catch (e) {
            event.target.disabled = false;
            showError(error, FAILURE_REASONS[e.code] ? reason(e.code) : refusal(e));
          }
        },
      }), error);
    }
    return holder;
  }

  function renderAttachment(a) {
    if (a.status !== 'stored' || !a.url) {
      return el('p', { class: 'meta', text: `${a.name}: ${a.error || a.status}` });
    }
    const holder = el('div', { class: 'attachment' });
    // Fetched with the Authorization header, then shown from a blob: URL; a bare <img src>
    // would send no key.
    const known = blobUrls.get(a.id);
    const loaded = known ? Promise.resolve(known) : api.get(a.url).then((blob) => {
      // The server serves raster images, audio and video as themselves, anything else as
      // application/octet-stream. A link's blob: URL is a download whatever it holds: opened
      // in a tab, a customer's .html or .svg would run on this origin, next to the agent's key.
      const inline = blob.type.startsWith('image/');
      const url = URL.createObjectURL(inline
        ? blob : new Blob([blob], { type: 'application/octet-stream' }));
      const shown = { url, inline };
      blobUrls.set(a.id, shown);
      return shown;
    });
    loaded.then(({ url, inline }) => {
      if (inline) {
        holder.append(el('img', { src: url, alt: `image ${a.name}` }));
      } else {
        holder.append(el('a', { href: url, download: a.name, text: `${a.name} (${a.size || '?'} bytes)` }));
      }
    }).catch((error) => holder.append(el('p', { class: 'error', text: `${a.name}: ${error.message}` })));
    return holder;
  }

  return { reset, poll, render, renderMessage, add: (m) => { messages.set(m.id, m); render(); } };
}
