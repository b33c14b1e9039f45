// Agents working together: transfer to a queue or an agent, consult a colleague (who reads
// and writes notes), end a consult (the owner) or leave it (the consultant).
import { $, el, showError, modal } from './dom.js';
import { PRESENCE, refusal } from './words.js';

export function startCollaboration(api, { current, me, changed, left, knowQueues }) {
  const transferDialog = modal($('transfer-dialog'));
  const consultDialog = modal($('consult-dialog'));
  const path = (c) => `/conversations/${encodeURIComponent(c.id)}`;

  function choice(name, value, label, detail, disabled = false) {
    const id = `${name}-${value.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    return el('div', { class: `choice${disabled ? ' disabled' : ''}` },
      el('input', { type: 'radio', name, value, id, disabled,
        'aria-describedby': detail ? `${id}-detail` : null }),
      el('label', { for: id, text: label }),
      detail ? el('span', { class: 'meta', id: `${id}-detail`, text: detail }) : null);
  }

  function colleagueDetail(a, queueName) {
    const queues = (a.queue_ids || []).map(queueName).filter(Boolean).join(', ');
    const room = a.free_capacity === null || a.free_capacity === undefined
      ? '' : ` · free capacity ${a.free_capacity}`;
    return `${PRESENCE[a.presence] || a.presence}${room}${queues ? ` · ${queues}` : ''}`;
  }

  async function loadChoices(error) {
    const [queues, colleagues] = await Promise.all([api.get('/queues'), api.get('/colleagues')]);
    knowQueues(queues.items);
    const names = new Map(queues.items.map((q) => [q.id, q.name]));
    // Available first, then by name: the ones who can take it now are at hand.
    const order = { available: 0, busy: 1, away: 2, offline: 3 };
    const agents = colleagues.items.slice().sort((a, b) =>
      (order[a.presence] ?? 4) - (order[b.presence] ?? 4) || a.name.localeCompare(b.name));
    showError(error, null);
    return { queues: queues.items, agents, queueName: (id) => names.get(id) };
  }

  // A long list (every queue, every colleague) narrowed by what the agent types.
  function finder(input, ...lists) {
    input.addEventListener('input', () => {
      const words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      for (const list of lists) {
        for (const item of list.querySelectorAll('.choice')) {
          const text = item.textContent.toLowerCase();
          item.hidden = !words.every((w) => text.includes(w));
        }
      }
    });
    // Enter in the search box must not submit the dialog's form.
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') event.preventDefault();
    });
  }
  finder($('transfer-find'), $('transfer-queues'), $('transfer-agents'));
  finder($('consult-find'), $('consult-agents'));

  // -- transfer ---------------------------------------------------------------------------------

  $('transfer').addEventListener('click', async () => {
    const c = current();
    showError($('conversation-error'), null);
    try {
      const { queues, agents, queueName } = await loadChoices($('transfer-error'));
      $('transfer-queues').replaceChildren(...queues.map((q) => choice('target', `queue:${q.id}`,
        q.name, q.id === c.queue_id ? 'its queue now' : null)));
      if (!queues.length) $('transfer-queues').append(el('p', { class: 'meta', text: 'No queue.' }));
      $('transfer-agents').replaceChildren(...agents.map((a) => choice('target', `agent:${a.id}`,
        a.name, colleagueDetail(a, queueName),
        a.presence !== 'available' || a.free_capacity === 0)));
      if (!agents.length) $('transfer-agents').append(el('p', { class: 'meta', text: 'No other agent.' }));
      $('transfer-note').value = '';
      $('transfer-find').value = '';
      transferDialog.open();
    } catch (error) { showError($('conversation-error'), error); }
  });

  $('transfer-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const c = current();
    const picked = $('transfer-form').querySelector('input[name="target"]:checked');
    if (!picked) {
      showError($('transfer-error'), 'Choose a queue or an agent.');
      return;
    }
    const [kind, id] = [picked.value.slice(0, picked.value.indexOf(':')),
      picked.value.slice(picked.value.indexOf(':') + 1)];
    const body = kind === 'queue' ? { queue_id: id } : { agent_id: id };
    const note = $('transfer-note').value.trim();
    if (note) body.note = note;
    const target = $('transfer-form').querySelector(`label[for="${picked.id}"]`).textContent;
    showError($('transfer-error'), null);
    try {
      const after = await api.post(`${path(c)}/transfer`, body);
      transferDialog.close();
      left(after, `${c.customer.name || 'The conversation'} was transferred to ${target}.`);
    } catch (error) { showError($('transfer-error'), refusal(error)); }
  });

  // -- consult ----------------------------------------------------------------------------------

  $('consult').addEventListener('click', async () => {
    const c = current();
    showError($('conversation-error'), null);
    try {
      const { agents, queueName } = await loadChoices($('consult-error'));
      const inside = new Set((c.participants || []).map((p) => p.agent_id));
      const free = agents.filter((a) => !inside.has(a.id));
      $('consult-agents').replaceChildren(...free.map((a) => choice('consultant', a.id, a.name,
        colleagueDetail(a, queueName), a.presence === 'offline')));
      if (!free.length) $('consult-agents').append(el('p', { class: 'meta', text: 'No other agent.' }));
      $('consult-find').value = '';
      consultDialog.open();
    } catch (error) { showError($('conversation-error'), error); }
  });

  $('consult-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const c = current();
    const picked = $('consult-form').querySelector('input[name="consultant"]:checked');
    if (!picked) {
      showError($('consult-error'), 'Choose a colleague.');
      return;
    }
    showError($('consult-error'), null);
    try {
      changed(await api.post(`${path(c)}/consult`, { agent_id: picked.value }));
      consultDialog.close();
    } catch (error) { showError($('consult-error'), refusal(error)); }
  });

  async function endConsult(c, agentId) {
    showError($('conversation-error'), null);
    try {
      await api.del(`${path(c)}/consult/${encodeURIComponent(agentId)}`);
      if (agentId === me().id) {
        left(null, `You left the consult on ${c.customer.name || 'the conversation'}.`);
      } else changed(await api.get(path(c)));
    } catch (error) { showError($('conversation-error'), refusal(error)); }
  }

  $('leave-consult').addEventListener('click', () => endConsult(current(), me().id));

  // "Owner: Ann · Consulting: Bob [End consult with Bob]"
  function renderParticipants(c) {
    const people = c.participants || [];
    const owner = people.find((p) => p.role === 'owner');
    const consultants = people.filter((p) => p.role === 'consultant');
    const line = $('participants');
    const key = JSON.stringify([c.id, c.role, people.map((p) => [p.agent_id, p.role])]);
    if (line.dataset.shown === key) return;
    line.dataset.shown = key;
    line.replaceChildren();
    if (owner) line.append(`Owner: ${owner.agent_id === me().id ? 'you' : owner.name || 'an agent'}`);
    for (const p of consultants) {
      line.append(owner ? ' · ' : '', `Consulting: ${p.agent_id === me().id ? 'you' : p.name || 'an agent'}`);
      if (c.role === 'owner') {
        line.append(' ', el('button', {
          type: 'button', class: 'small', text: `End consult with ${p.name || 'agent'}`,
          onclick: () => endConsult(c, p.agent_id),
        }));
      }
    }
  }

  return {
    renderParticipants,
    closeDialogs() { transferDialog.close(); consultDialog.close(); },
  };
}
