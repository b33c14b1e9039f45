// The customer panel: who the customer is (picture, locale, page, contact), the conversation's
// labels (edited inline), and the same customer's earlier conversations.
import { $, el, showError, showFieldErrors, stamp, initials } from './dom.js';
import { STATES, customerName, localeName } from './words.js';

const HISTORY_PAGE = 5;

export function startCustomer(api, { openId, changed, renderMessage, queueName }) {
  let current = null; // the conversation shown
  let historyNext = null;
  let historyFor = null;

  function show(c) {
    const first = !current || current.id !== c.id;
    current = c;
    $('customer-empty').hidden = true;
    $('customer').hidden = false;
    renderProfile(c);
    renderLabels(c);
    if (first) {
      showError($('label-error'), null);
      showFieldErrors($('label-form'), null);
      $('label-new').value = '';
      loadHistory(c.id, true);
    }
  }

  function clear() {
    current = null;
    historyFor = null;
    $('customer-empty').hidden = false;
    $('customer').hidden = true;
    $('history').replaceChildren();
  }

  function renderProfile(c) {
    const name = customerName(c.customer);
    $('customer-name').textContent = name;
    const avatar = $('customer-avatar');
    const picture = c.customer.profile_pic;
    const key = `${c.id} ${picture || ''}`;
    if (avatar.dataset.shown !== key) {
      avatar.dataset.shown = key;
      const letters = el('span', { text: initials(c.customer.name) });
      avatar.replaceChildren(letters);
      if (picture) {
        // Shown once it loads; a picture the browser may not load (policy, expired link)
        // leaves the initials.
        const img = el('img', { src: picture, alt: '', hidden: true });
        img.addEventListener('load', () => { img.hidden = false; letters.hidden = true; });
        img.addEventListener('error', () => img.remove());
        avatar.append(img);
      }
    }
    const facts = [
      ['Language', localeName(c.customer.locale) || 'not shared'],
      ['Page', c.page_name || 'unknown page'],
      ['Queue', c.queue_name || queueName(c.queue_id) || 'none'],
    ];
    for (const [key, value] of Object.entries(c.attributes || {})) facts.push([key, String(value)]);
    for (const [key, value] of Object.entries(c.survey_answers || {})) facts.push([key, value]);
    $('customer-facts').replaceChildren(...facts.flatMap(([term, value]) =>
      [el('dt', { text: term }), el('dd', { text: value })]));
  }

  // -- labels ---------------------------------------------------------------------------------

  function canEdit(c) {
    return c.role === 'owner' && c.state !== 'closed';
  }

  function renderLabels(c) {
    const labels = c.labels || [];
    const editable = canEdit(c);
    // Redrawn only when something changed: a focused remove button keeps its focus.
    const key = JSON.stringify([c.id, labels, editable]);
    if ($('labels').dataset.shown === key) return;
    $('labels').dataset.shown = key;
    $('labels').replaceChildren(...labels.map((label) => el('li', { class: 'chip label' },
      el('span', { text: label }),
      editable ? el('button', {
        type: 'button', class: 'chip-remove', text: '×', 'aria-label': `Remove label ${label}`,
        onclick: () => saveLabels(labels.filter((l) => l !== label)),
      }) : null)));
    if (!labels.length) $('labels').append(el('li', { class: 'meta', text: 'No labels.' }));
    $('label-form').hidden = !editable;
    $('label-hint').hidden = !editable;
  }

  async function saveLabels(labels) {
    const id = current.id;
    showError($('label-error'), null);
    showFieldErrors($('label-form'), null);
    try {
      const c = await api.put(`/conversations/${encodeURIComponent(id)}/labels`, { labels });
      if (current && current.id === id) {
        $('label-new').value = '';
        changed(c);
      }
      return true;
    } catch (error) {
      // The 422 names the label at fault (labels.N): its words go under the input.
      const fields = (error.fields || []).map((f) => ({ ...f, field: 'labels' }));
      showError($('label-error'), fields.length
        ? 'Not saved: a label is lowercase letters, digits, - and _, starting with a letter or digit.' : error);
      showFieldErrors($('label-form'), { fields });
      return false;
    }
  }

  $('label-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const label = $('label-new').value.trim();
    if (!label || !current) return;
    const labels = current.labels || [];
    if (labels.includes(label)) {
      $('label-new').value = '';
      return;
    }
    if (await saveLabels([...labels, label])) $('label-new').focus();
  });

  // -- earlier conversations ------------------------------------------------------------------

  async function loadHistory(id, fresh) {
    if (fresh) {
      historyFor = id;
      historyNext = null;
      $('history').replaceChildren(el('li', { class: 'meta', text: 'Loading…' }));
    }
    showError($('history-error'), null);
    const cursor = historyNext ? `&cursor=${encodeURIComponent(historyNext)}` : '';
    try {
      const page = await api.get(
        `/conversations/${encodeURIComponent(id)}/history?limit=${HISTORY_PAGE}${cursor}`);
      if (historyFor !== id) return;
      if (fresh) $('history').replaceChildren();
      $('history').append(...page.items.map(renderEarlier));
      historyNext = page.next;
      $('history-more').hidden = !historyNext;
      if (!$('history').childElementCount) {
        $('history').append(el('li', { class: 'meta', text: 'None: this is the first conversation.' }));
      }
    } catch (error) {
      if (historyFor !== id) return;
      if (fresh) $('history').replaceChildren();
      showError($('history-error'), error.status === 404
        ? 'Earlier conversations cannot be read yet.' : error);
    }
  }

  function renderEarlier({ conversation: c, messages }) {
    const visible = messages.filter((m) => m.author !== 'system');
    const last = visible[visible.length - 1];
    return el('li', { class: 'earlier' }, el('details', {},
      el('summary', {},
        el('span', { class: 'who', text: stamp(c.created_at) }),
        ` · ${c.queue_name || queueName(c.queue_id) || 'no queue'} · ${STATES[c.state] || c.state}`,
        ` · ${visible.length} message${visible.length === 1 ? '' : 's'}`,
        (c.labels || []).length ? ` · ${c.labels.join(', ')}` : null,
        last && last.text ? el('span', { class: 'preview', text: last.text }) : null),
      el('ol', { class: 'messages earlier-messages', 'aria-label': `Messages of ${stamp(c.created_at)}` },
        ...messages.map((m) => renderMessage(m)))));
  }

  $('history-more').addEventListener('click', () => {
    if (current) loadHistory(current.id, false);
  });

  return { show, clear, isShowing: (id) => current && current.id === id && openId() === id };
}
