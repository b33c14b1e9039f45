// The composer: a reply to the customer or an internal note (a toggle; a consultant writes
// notes only), canned responses by "/shortcut" with keyboard selection, buttons (quick
// replies) the customer can tap, an attached file, and the typing signal.
import { $, el, showError } from './dom.js';
import { reason } from './words.js';

const TYPING_IDLE_MS = 3000;
const CANNED_DELAY_MS = 150;
const MAX_BUTTONS = 13; // Messenger's limit
const TITLE_MAX = 20;

export function startComposer(api, { openId, sent }) {
  const form = $('reply');
  const box = $('reply-text');
  const cannedList = $('canned');
  let mode = 'reply';
  let notesOnly = false;
  let typingOff = null;
  let canned = null; // the canned response inserted: {id, text, quick_replies}
  let found = []; // the canned responses listed under the box
  let active = -1;
  let cannedTimer = null;
  let cannedAsked = 0;

  // -- reply or note ------------------------------------------------------------------------

  function setMode(next) {
    mode = notesOnly ? 'note' : next;
    form.dataset.mode = mode;
    $('mode-reply').setAttribute('aria-pressed', String(mode === 'reply'));
    $('mode-note').setAttribute('aria-pressed', String(mode === 'note'));
    form.querySelector('.mode').hidden = notesOnly;
    $('reply-label').textContent = mode === 'note'
      ? (notesOnly ? 'Note (agents only; you are consulting)' : 'Note (agents only)')
      : 'Reply';
    $('send').textContent = mode === 'note' ? 'Add note' : 'Send';
    // Buttons and files go to the customer: not part of a note.
    for (const part of form.querySelectorAll('.for-reply')) part.hidden = mode === 'note';
    renumber();
    closeCanned();
  }

  $('mode-reply').addEventListener('click', () => { setMode('reply'); box.focus(); });
  $('mode-note').addEventListener('click', () => { setMode('note'); box.focus(); });

  // -- canned responses ---------------------------------------------------------------------

  function cannedQuery() {
    const match = /^\/(\S*)$/.exec(box.value);
    return match ? match[1] : null;
  }

  function closeCanned() {
    clearTimeout(cannedTimer);
    cannedAsked++;
    found = [];
    active = -1;
    cannedList.hidden = true;
    cannedList.replaceChildren();
    box.removeAttribute('aria-activedescendant');
  }

  async function lookUpCanned(query) {
    const asked = ++cannedAsked;
    try {
      const page = await api.get(`/canned-responses?query=${encodeURIComponent(query)}`);
      if (asked !== cannedAsked) return;
      found = page.items;
      active = found.length ? 0 : -1;
      renderCanned();
    } catch (error) {
      if (asked === cannedAsked) showError($('reply-error'), error);
    }
  }

  function renderCanned() {
    cannedList.hidden = false;
    cannedList.replaceChildren(...found.map((c, index) => el('li', {
      id: `canned-${index}`, role: 'option', class: 'canned-option',
      'aria-selected': String(index === active),
      // mousedown, not click: the box keeps its focus.
      onmousedown: (event) => { event.preventDefault(); insertCanned(c); },
    },
    el('span', { class: 'shortcut', text: `/${c.shortcut}` }), ' ',
    el('span', { class: 'who', text: c.title }),
    el('span', { class: 'preview', text: c.text }))));
    if (!found.length) {
      cannedList.append(el('li', { class: 'meta', role: 'option', 'aria-disabled': 'true',
        'aria-selected': 'false', text: 'No canned response matches.' }));
    }
    if (active >= 0) {
      box.setAttribute('aria-activedescendant', `canned-${active}`);
      $(`canned-${active}`).scrollIntoView({ block: 'nearest' });
    } else box.removeAttribute('aria-activedescendant');
    $('canned-status').textContent = found.length
      ? `${found.length} canned response${found.length > 1 ? 's' : ''}: arrows choose, Enter inserts, Esc closes.`
      : 'No canned response matches.';
  }

  function insertCanned(c) {
    closeCanned();
    canned = { id: c.id, text: c.text, quick_replies: c.quick_replies || [] };
    box.value = c.text;
    setButtons(canned.quick_replies);
    $('canned-status').textContent = `Inserted ${c.title}. Placeholders are filled when it is sent.`;
    box.focus();
  }

  box.addEventListener('keydown', (event) => {
    if (!cannedList.hidden) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        if (!found.length) return;
        active = (active + (event.key === 'ArrowDown' ? 1 : found.length - 1)) % found.length;
        renderCanned();
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        closeCanned();
        return;
      }
      if ((event.key === 'Enter' || event.key === 'Tab') && active >= 0 && !event.isComposing) {
        event.preventDefault();
        insertCanned(found[active]);
        return;
      }
    }
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  box.addEventListener('input', () => {
    const query = cannedQuery();
    if (query === null) closeCanned();
    else {
      clearTimeout(cannedTimer);
      cannedTimer = setTimeout(() => lookUpCanned(query), CANNED_DELAY_MS);
    }
    if (canned && box.value !== canned.text && !box.value.trim()) canned = null;
    typing();
  });
  box.addEventListener('blur', () => setTimeout(() => {
    if (document.activeElement !== box) closeCanned();
  }, 0));

  // -- buttons (quick replies) ---------------------------------------------------------------

  function buttonRows() {
    return [...$('quick-reply-list').children];
  }

  function buttons() {
    return buttonRows().map((row) => {
      const title = row.querySelector('.qr-title').value.trim();
      const payload = row.querySelector('.qr-payload').value.trim();
      return { title, payload: payload || title };
    }).filter((b) => b.title);
  }

  function addButton(button = { title: '', payload: '' }) {
    const n = buttonRows().length + 1;
    const row = el('li', { class: 'qr-row' },
      el('input', { class: 'qr-title', id: `qr-title-${n}`, maxlength: TITLE_MAX, value: button.title,
        'aria-label': `Button ${n} title (up to ${TITLE_MAX} characters)`, placeholder: 'Title' }),
      el('input', { class: 'qr-payload', id: `qr-payload-${n}`, maxlength: 1000,
        value: button.payload && button.payload !== button.title ? button.payload : '',
        'aria-label': `Button ${n} payload (optional; the title when empty)`, placeholder: 'Payload (optional)' }),
      el('button', { type: 'button', text: 'Remove', 'aria-label': `Remove button ${n}`,
        onclick: () => { row.remove(); renumber(); } }));
    $('quick-reply-list').append(row);
    renumber();
    return row;
  }

  function renumber() {
    buttonRows().forEach((row, index) => {
      const n = index + 1;
      row.querySelector('.qr-title').setAttribute('aria-label', `Button ${n} title (up to ${TITLE_MAX} characters)`);
      row.querySelector('.qr-payload').setAttribute('aria-label', `Button ${n} payload (optional; the title when empty)`);
      row.querySelector('button').setAttribute('aria-label', `Remove button ${n}`);
    });
    $('add-quick-reply').disabled = buttonRows().length >= MAX_BUTTONS;
    $('quick-replies').hidden = mode === 'note' || !buttonRows().length;
  }

  function setButtons(list) {
    $('quick-reply-list').replaceChildren();
    for (const b of list) addButton({ title: b.title || b, payload: b.payload || '' });
    renumber();
  }

  $('add-quick-reply').addEventListener('click', () => addButton().querySelector('input').focus());

  // -- typing ---------------------------------------------------------------------------------

  // One "typing on" when the agent starts, "off" after a pause: not one request per key.
  // Notes are not typed to the customer.
  function typing() {
    const id = openId();
    if (mode === 'note' || !id) return;
    if (!typingOff) api.post(`/conversations/${encodeURIComponent(id)}/typing`, { on: true }).catch(() => {});
    clearTimeout(typingOff);
    typingOff = setTimeout(() => {
      typingOff = null;
      api.post(`/conversations/${encodeURIComponent(id)}/typing`, { on: false }).catch(() => {});
    }, TYPING_IDLE_MS);
  }

  // -- sending --------------------------------------------------------------------------------

  function sameButtons(a, b) {
    return JSON.stringify(a.map((x) => [x.title, x.payload || x.title]))
      === JSON.stringify(b.map((x) => [x.title || x, x.payload || x.title || x]));
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!cannedList.hidden) return;
    showError($('reply-error'), null);
    const id = openId();
    const text = box.value.trim();
    const file = $('reply-file').files[0];
    try {
      if (mode === 'note') {
        if (!text) return;
        const note = await api.post(`/conversations/${encodeURIComponent(id)}/notes`, { text });
        clear();
        sent(note);
        return;
      }
      const quick = buttons();
      if (!text && !file) return;
      if (quick.length && !text) {
        showError($('reply-error'), 'Buttons go with a text: write one.');
        return;
      }
      const body = {};
      // A canned response sent as it was inserted: the server fills its placeholders.
      if (canned && box.value === canned.text) {
        body.canned_response_id = canned.id;
        if (!sameButtons(quick, canned.quick_replies)) body.quick_replies = quick;
      } else {
        // Only a canned response sent as inserted has its placeholders filled: never let a
        // customer read "{{customer.first_name}}".
        const placeholder = /\{\{\s*[\w.]+\s*\}\}/.exec(text);
        if (placeholder) {
          showError($('reply-error'), `Replace ${placeholder[0]} with its value: placeholders are `
            + 'filled only in a canned response sent as it was inserted.');
          return;
        }
        if (text) body.text = text;
        if (quick.length) body.quick_replies = quick;
      }
      if (file) {
        const upload = new FormData();
        upload.append('file', file);
        const uploaded = await api.post('/attachments', upload);
        body.attachment_ids = [uploaded.id];
      }
      await api.post(`/conversations/${encodeURIComponent(id)}/messages`, body);
      clear();
      sent(null);
    } catch (error) {
      showError($('reply-error'), error.status === 409 && error.code ? reason(error.code) : error);
    }
  });

  function clear() {
    box.value = '';
    $('reply-file').value = '';
    canned = null;
    setButtons([]);
    closeCanned();
  }

  return {
    // Called when another conversation opens, or the caller's role in it changes.
    reset(role) {
      clear();
      showError($('reply-error'), null);
      notesOnly = role === 'consultant';
      setMode(notesOnly ? 'note' : 'reply');
    },
    setRole(role) {
      const was = notesOnly;
      notesOnly = role === 'consultant';
      if (was !== notesOnly) setMode(notesOnly ? 'note' : 'reply');
    },
  };
}
