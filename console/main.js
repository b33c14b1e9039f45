// Entry point: sign-in with a key kept in sessionStorage (gone when the tab closes), then one
// of the two views.
import { client } from './api.js';
import { $, showError } from './dom.js';
import { startAgent } from './agent.js';
import { startManage } from './manage.js';

const API = new URL('../', document.baseURI).pathname; // /api/ wherever the console is mounted
let stopAgent = null;
let manageStarted = false;

function show(view) {
  $('sign-in').hidden = view !== 'sign-in';
  $('agent-view').hidden = view !== 'agent';
  $('manage-view').hidden = view !== 'manage';
  $('views').hidden = view === 'sign-in';
  $('show-agent').hidden = !sessionStorage.getItem('agentKey');
  $('show-manage').hidden = !sessionStorage.getItem('manageKey');
  $('show-agent').setAttribute('aria-pressed', String(view === 'agent'));
  $('show-manage').setAttribute('aria-pressed', String(view === 'manage'));
}

function openAgent() {
  show('agent');
  if (!stopAgent) stopAgent = startAgent(client(`${API}agent`, sessionStorage.getItem('agentKey')));
}

function openManage() {
  show('manage');
  if (!manageStarted) {
    manageStarted = true;
    startManage(client(`${API}manage`, sessionStorage.getItem('manageKey')));
  }
}

// A key is checked once before it is kept, so a typo is reported on the sign-in form.
async function signIn(form, storageKey, probe, errorId, open) {
  const key = form.elements.key.value.trim();
  showError($(errorId), null);
  try {
    await client(API, key).get(probe);
    sessionStorage.setItem(storageKey, key);
    form.reset();
    open();
  } catch (error) {
    showError($(errorId), error.status === 401 || error.status === 403
      ? 'This key is not valid here.' : error);
  }
}

$('agent-sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  signIn(event.target, 'agentKey', 'agent/me', 'agent-sign-in-error', openAgent);
});
$('manage-sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  signIn(event.target, 'manageKey', 'manage/health', 'manage-sign-in-error', openManage);
});
$('show-agent').addEventListener('click', openAgent);
$('show-manage').addEventListener('click', openManage);
$('sign-out').addEventListener('click', () => {
  sessionStorage.clear();
  window.location.reload();
});

if (sessionStorage.getItem('agentKey')) openAgent();
else if (sessionStorage.getItem('manageKey')) openManage();
else show('sign-in');
