// Entry point: sign-in with a key kept in sessionStorage (gone when the tab closes), then one
// of the views. An agent's key whose owner is a supervisor also opens the supervisor view
// (GET /api/supervisor/queues answers 200; an agent's key would get 403: no such tab).
import { client } from './api.js';
import { $, showError } from './dom.js';
import { startAgent } from './agent.js';
import { startManage } from './manage.js';
import { startSupervisor } from './supervisor.js';
import { startLive } from './live.js';

const API = new URL('../', document.baseURI).pathname; // /api/ wherever the console is mounted
const VIEWS = ['agent', 'supervisor', 'manage'];
let stopAgent = null;
let supervisor = null;
let manageStarted = false;
let isSupervisor = false;
let live = null; // the socket the server's hints come by, one for both agent views

// Opened with the first agent or supervisor view; the views read again on its hints.
function liveUpdates() {
  if (!live) live = startLive(client(`${API}agent`, sessionStorage.getItem('agentKey')));
  return live;
}

function show(view) {
  $('sign-in').hidden = view !== 'sign-in';
  for (const name of VIEWS) {
    $(`${name}-view`).hidden = view !== name;
    $(`show-${name}`).setAttribute('aria-pressed', String(view === name));
  }
  $('views').hidden = view === 'sign-in';
  $('show-agent').hidden = !sessionStorage.getItem('agentKey');
  $('show-supervisor').hidden = !isSupervisor;
  $('show-manage').hidden = !sessionStorage.getItem('manageKey');
  if (view !== 'sign-in') sessionStorage.setItem('view', view);
}

function openAgent() {
  show('agent');
  if (!stopAgent) {
    stopAgent = startAgent(client(`${API}agent`, sessionStorage.getItem('agentKey')), liveUpdates());
  }
}

function openSupervisor() {
  show('supervisor');
  if (!supervisor) {
    supervisor = startSupervisor(client(`${API}supervisor`, sessionStorage.getItem('agentKey')),
      liveUpdates());
  }
  else supervisor.shown();
}

function openManage() {
  show('manage');
  if (!manageStarted) {
    manageStarted = true;
    startManage(client(`${API}manage`, sessionStorage.getItem('manageKey')));
  }
}

// Whether the agent key is a supervisor's. /agent/me names the role: an agent's key is never
// sent to the supervisor routes (no 403 in the console's log); a supervisor's is checked there
// (200), and so is a key whose /me names no role.
async function probeSupervisor(key) {
  try {
    const me = await client(API, key).get('agent/me');
    if (me.role !== undefined && me.role !== 'supervisor') return false;
    await client(API, key).get('supervisor/queues');
    return true;
  } catch { return false; }
}

// A key is checked once before it is kept, so a typo is reported on the sign-in form.
async function signIn(form, storageKey, probe, errorId, open) {
  const key = form.elements.key.value.trim();
  showError($(errorId), null);
  try {
    await client(API, key).get(probe);
    sessionStorage.setItem(storageKey, key);
    form.reset();
    await open(key);
  } catch (error) {
    showError($(errorId), error.status === 401 || error.status === 403
      ? 'This key is not valid here.' : error);
  }
}

// A supervisor starts on the supervisor view, an agent on their inbox.
async function openAgentOrSupervisor(key) {
  isSupervisor = await probeSupervisor(key);
  if (isSupervisor) openSupervisor();
  else openAgent();
}

$('agent-sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  signIn(event.target, 'agentKey', 'agent/me', 'agent-sign-in-error', openAgentOrSupervisor);
});
$('manage-sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  signIn(event.target, 'manageKey', 'manage/health', 'manage-sign-in-error', openManage);
});
// The buttons come disabled: before this module runs, a native submit would send the key in
// the URL (history, server logs). Now the forms are handled here.
for (const form of [$('agent-sign-in'), $('manage-sign-in')]) {
  form.querySelector('button[type=submit]').disabled = false;
}
$('show-agent').addEventListener('click', openAgent);
$('show-supervisor').addEventListener('click', openSupervisor);
$('show-manage').addEventListener('click', openManage);
$('sign-out').addEventListener('click', () => {
  sessionStorage.clear();
  window.location.reload();
});

// After a reload: the view that was open, if the key still allows it.
async function resume() {
  const agentKey = sessionStorage.getItem('agentKey');
  const last = sessionStorage.getItem('view');
  if (agentKey) isSupervisor = await probeSupervisor(agentKey);
  if (last === 'manage' && sessionStorage.getItem('manageKey')) openManage();
  else if (last === 'supervisor' && isSupervisor) openSupervisor();
  else if (agentKey) openAgent();
  else if (sessionStorage.getItem('manageKey')) openManage();
  else show('sign-in');
}
resume();
