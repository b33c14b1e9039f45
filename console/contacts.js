// Contacts in the agent view: link the open conversation's customer to a contact (found or
// created), and start or reopen a conversation with a customer who wrote before.
import { $, el, showError, showFieldErrors } from './dom.js';

export function startContacts(api, { openId, opened }) {
  const linkForm = $('link-contact');
  const linkError = linkForm.querySelector('p.error[role="alert"]');

  async function link(contact) {
    showError(linkError, null);
    try {
      const conversation = await api.post(
        `/conversations/${encodeURIComponent(openId())}/contact`, { contact_id: contact.id });
      $('contact-linked').textContent = `Linked to ${contact.name}.`;
      opened(conversation);
    } catch (error) { showError(linkError, error); }
  }

  linkForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(linkError, null);
    try {
      const query = encodeURIComponent($('contact-query').value.trim());
      // Profiles (customers' Messenger identities) are found too, but only contacts link.
      const found = (await api.get(`/contacts?query=${query}`)).items
        .filter((c) => (c.kind ?? 'contact') === 'contact');
      $('contact-results').replaceChildren(...found.map((c) => el('li', {},
        el('button', { type: 'button', text: `Link ${c.name}${c.email ? ` <${c.email}>` : ''}`,
          onclick: () => link(c) }))));
      if (!found.length) $('contact-results').replaceChildren(el('li', { text: 'No contact found.' }));
    } catch (error) { showError(linkError, error); }
  });

  $('contact-create').addEventListener('click', async () => {
    showError(linkError, null);
    const name = $('contact-query').value.trim();
    if (!name) {
      showError(linkError, 'Type the contact\'s name first.');
      return;
    }
    try { await link(await api.post('/contacts', { name })); }
    catch (error) { showError(linkError, error); }
  });

  const startForm = $('start');
  startForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = startForm.querySelector('p.error[role="alert"]');
    showError(error, null);
    showFieldErrors(startForm, null);
    try {
      const conversation = await api.post('/conversations', Object.fromEntries(new FormData(startForm)));
      startForm.reset();
      opened(conversation, true);
    } catch (e) {
      showError(error, e);
      showFieldErrors(startForm, e);
    }
  });

  return {
    reset() {
      $('contact-results').replaceChildren();
      $('contact-linked').textContent = '';
      showError(linkError, null);
    },
  };
}
