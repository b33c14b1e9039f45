// Builds elements from data with textContent only: customer text can never become markup.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

export function showError(target, error) {
  target.textContent = error ? String(error.message || error) : '';
}

// "3 min", "2 h 5 min": how long ago or how long left, in words an agent reads at a glance.
export function duration(ms) {
  const minutes = Math.max(0, Math.round(ms / 60000));
  if (minutes < 1) return 'less than a minute';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days`;
}

// The API's 422 names each field: its message goes right under that input, linked for screen
// readers; fields it does not name keep only the form's summary.
export function showFieldErrors(form, error) {
  for (const old of form.querySelectorAll('.field-error')) old.remove();
  for (const input of form.querySelectorAll('[aria-invalid]')) {
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-describedby');
  }
  for (const field of (error && error.fields) || []) {
    const input = form.elements[field.field.split(/[.[]/)[0]];
    if (!input || !input.id) continue;
    const note = el('p', { class: 'error field-error', id: `${input.id}-error`, text: field.message });
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', note.id);
    input.after(note);
  }
}

// A time as an agent reads it: the time alone today, the date too before today (and the year
// when it is not this year's).
export function stamp(iso) {
  if (!iso) return '';
  const at = new Date(iso);
  const now = new Date();
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (at.toDateString() === now.toDateString()) return time;
  const date = at.toLocaleDateString([], {
    day: 'numeric', month: 'short',
    year: at.getFullYear() === now.getFullYear() ? undefined : 'numeric',
  });
  return `${date}, ${time}`;
}

export function initials(name) {
  const words = (name || '?').split(/\s+/).filter((w) => /^\p{L}/u.test(w));
  return (words.slice(0, 2).map((w) => w[0]).join('') || '?').toUpperCase();
}

// A modal <dialog>: the page behind is inert, Tab and Shift+Tab stay inside, Esc closes, and
// focus goes back to the button that opened it.
export function modal(dialog) {
  let opener = null;
  const focusable = () => [...dialog.querySelectorAll(
    'button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"])')]
    .filter((node) => !node.disabled && node.offsetParent !== null);
  dialog.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab') return;
    const nodes = focusable();
    if (!nodes.length) return;
    const first = nodes[0];
    const last = nodes[nodes.length - 1];
    const active = document.activeElement;
    // A radio group is one Tab stop: any radio of the first group counts as the first.
    const atFirst = active === first || (first.type === 'radio' && active.type === 'radio'
      && active.name === first.name);
    if (event.shiftKey && atFirst) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  });
  dialog.addEventListener('close', () => {
    if (opener && opener.isConnected) opener.focus();
  });
  for (const cancel of dialog.querySelectorAll('.cancel')) {
    cancel.addEventListener('click', () => dialog.close());
  }
  return {
    open() {
      opener = document.activeElement;
      dialog.showModal();
      const first = focusable()[0];
      if (first) first.focus();
    },
    close() { if (dialog.open) dialog.close(); },
  };
}

// A question before something that cannot be undone (delete, close, a new key): the page's
// own modal dialog rather than window.confirm, so it is styled, labelled and keyboard-safe.
// Resolves true when the person confirms. Focus starts on Cancel.
let confirmDialog = null;
export function confirmAction({ title, text, yes }) {
  const dialog = $('confirm-dialog');
  if (!confirmDialog) confirmDialog = modal(dialog);
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-yes').textContent = yes;
  return new Promise((resolve) => {
    let answer = false;
    const form = $('confirm-form');
    const submit = (event) => {
      event.preventDefault();
      answer = true;
      confirmDialog.close();
    };
    form.addEventListener('submit', submit);
    dialog.addEventListener('close', () => {
      form.removeEventListener('submit', submit);
      resolve(answer);
    }, { once: true });
    confirmDialog.open();
    dialog.querySelector('.cancel').focus();
  });
}

// Seconds as a person reads a duration: "45 s", "4 min", "2 h 5 min"; none: "no data".
export function seconds(value) {
  if (value === null || value === undefined) return 'no data';
  if (value < 60) return `${Math.round(value)} s`;
  return duration(value * 1000);
}

// A UTC calendar day as YYYY-MM-DD, ``offset`` days from today.
export function utcDay(offset = 0) {
  const day = new Date(Date.now() + offset * 86400000);
  return day.toISOString().slice(0, 10);
}
