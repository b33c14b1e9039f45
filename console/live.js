// Live updates (API.md, "Live updates"): after sign-in the console asks GET /api/agent/negotiate
// for a WebSocket URL (Azure Web PubSub's client URL, or the devhost's own socket) and listens.
// The server sends hints, JSON text frames {type, conversation_id?, at}; a hint only says "read
// again": each view re-reads what it shows with since=, the very read its poll makes. The REST
// routes stay the truth, so the views still poll: every 60 s while the socket is up (a safety
// net for a hint that never came), every 15 s while it is down; after every (re)connection
// they read once at once, for what happened while nobody was listening.
// A server without live updates (negotiate answers 404, or 503 live_updates_unavailable when
// no Web PubSub is configured or it cannot be reached) leaves the views polling as they always
// did, the status hidden; after a 503 negotiate is tried again now and then.
import { $, el } from './dom.js';

export const LIVE_POLL_MS = 60000;
export const DOWN_POLL_MS = 15000;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const STABLE_MS = 10000; // a socket open this long resets the backoff
const OPEN_TIMEOUT_MS = 10000; // a socket neither open nor failed by then is given up
const RENEW_MARGIN_MS = 60000; // a fresh token at most this long before the old one ends
const RENEW_MIN_MS = 5000;
const UNAVAILABLE_FIRST_MS = 30000; // negotiate again after a 503 live_updates_unavailable
const UNAVAILABLE_MAX_MS = 300000;
const WORDS = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };

// One call of ``fn`` at a time; calls made meanwhile become one more call after it: a burst of
// hints costs two reads, not one per hint.
export function coalesce(fn) {
  let running = null;
  let again = false;
  return async function run() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally { running = null; }
    })();
    return running;
  };
}

// The socket's URL as the browser needs it: absolute, ws: or wss:.
function socketUrl(url) {
  const absolute = new URL(url, window.location.href);
  if (absolute.protocol === 'http:') absolute.protocol = 'ws:';
  if (absolute.protocol === 'https:') absolute.protocol = 'wss:';
  return absolute.href;
}

// ``api``: the /api/agent client of the signed-in agent or supervisor. Returns
// {subscribe(hint => ...), watch(state => ...), pollMs(usual), state(), stop()}.
export function startLive(api) {
  const hints = new Set();
  const watchers = new Set();
  let state = 'connecting'; // connecting | live | reconnecting | unavailable | off
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let renewTimer = null;
  let stopped = false;
  const badge = $('live-state');

  function setState(next) {
    if (next === state) return;
    state = next;
    render();
    for (const watcher of watchers) watcher(state);
  }

  function render() {
    if (!badge) return;
    badge.hidden = !WORDS[state];
    badge.dataset.state = state;
    badge.replaceChildren(el('span', { class: 'live-dot', 'aria-hidden': 'true' }),
      WORDS[state] || '');
    badge.title = state === 'live' ? 'New offers and messages show as they happen.'
      : 'The live connection is down: the console checks every 15 seconds meanwhile.';
  }

  function tell(hint) {
    for (const listener of hints) {
      try { listener(hint); } catch { /* one view's trouble is not another's */ }
    }
  }

  function schedule(fn, ms) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(fn, ms);
  }

  // Exponential, capped, with jitter (between half and the whole step): a server back after an
  // outage is not met by every console at the same instant.
  function retryLater(first = BACKOFF_FIRST_MS, max = BACKOFF_MAX_MS) {
    if (stopped) return;
    const step = Math.min(max, first * 2 ** attempt);
    attempt += 1;
    schedule(connect, step / 2 + Math.random() * step / 2);
  }

  async function negotiate() {
    try {
      return await api.get('/negotiate');
    } catch (error) {
      if (error.status === 404) return null; // no live updates on this server
      throw error;
    }
  }

  // A socket to ``url``: resolves once open, rejects when it fails or takes too long.
  function open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(socketUrl(url));
      const timeout = setTimeout(() => { ws.onclose = null; ws.close(); reject(new Error('timeout')); },
        OPEN_TIMEOUT_MS);
      ws.onopen = () => { clearTimeout(timeout); ws.onclose = null; resolve(ws); };
      ws.onclose = () => { clearTimeout(timeout); reject(new Error('closed')); };
    });
  }

  // Hints from ``ws``, until it closes; then a reconnection, unless it was replaced or stopped.
  function adopt(ws, expiresAt) {
    const opened = Date.now();
    socket = ws;
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      let hint;
      try { hint = JSON.parse(event.data); } catch { return; }
      if (hint && typeof hint.type === 'string') tell(hint);
    };
    ws.onclose = () => {
      if (socket !== ws || stopped) return;
      socket = null;
      clearTimeout(renewTimer);
      if (Date.now() - opened >= STABLE_MS) attempt = 0;
      setState('reconnecting');
      retryLater();
    };
    ws.onerror = () => {}; // onclose follows and decides
    renewBefore(expiresAt);
    setState('live');
    tell({ type: 'resync' });
  }

  // A token ends at ``expires_at``: a new socket a little before, opened before the old one is
  // closed, so nothing falls between the two.
  function renewBefore(expiresAt) {
    clearTimeout(renewTimer);
    const lifetime = Date.parse(expiresAt) - Date.now();
    if (!Number.isFinite(lifetime)) return;
    const margin = Math.min(RENEW_MARGIN_MS, lifetime / 4);
    renewTimer = setTimeout(renew, Math.max(RENEW_MIN_MS, lifetime - margin));
  }

  async function renew() {
    const old = socket;
    if (stopped || !old) return;
    try {
      const answer = await negotiate();
      if (!answer) return;
      const ws = await open(answer.url);
      if (stopped || socket !== old) { ws.close(1000); return; }
      adopt(ws, answer.expires_at);
      old.onclose = null;
      old.close(1000, 'renewed');
    } catch {
      // The old socket still works until the server ends it; its close reconnects then.
      if (socket === old) renewTimer = setTimeout(renew, RENEW_MIN_MS);
    }
  }

  async function connect() {
    if (stopped || socket) return;
    let answer;
    try {
      answer = await negotiate();
    } catch (error) {
      if (error.code === 'live_updates_unavailable') {
        // Not configured, or the service out of reach: the usual polling, quietly.
        setState('unavailable');
        retryLater(UNAVAILABLE_FIRST_MS, UNAVAILABLE_MAX_MS);
        return;
      }
      setState('reconnecting');
      retryLater();
      return;
    }
    if (stopped) return;
    if (!answer) { setState('off'); return; }
    try {
      const ws = await open(answer.url);
      if (stopped) { ws.close(1000); return; }
      adopt(ws, answer.expires_at);
    } catch {
      setState('reconnecting');
      retryLater();
    }
  }

  // Back online: no need to wait for the next step of the backoff.
  const online = () => {
    if (!socket && state !== 'off' && state !== 'unavailable') { attempt = 0; schedule(connect, 0); }
  };
  window.addEventListener('online', online);

  render();
  connect();
  return {
    subscribe(listener) { hints.add(listener); return () => hints.delete(listener); },
    watch(watcher) { watchers.add(watcher); return () => watchers.delete(watcher); },
    state: () => state,
    // How long a view waits between its polls: ``usual`` is its interval without live updates.
    pollMs(usual) {
      if (state === 'off' || state === 'unavailable') return usual;
      return state === 'live' ? LIVE_POLL_MS : Math.max(usual, DOWN_POLL_MS);
    },
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      clearTimeout(renewTimer);
      window.removeEventListener('online', online);
      if (socket) { socket.onclose = null; socket.close(1000); }
      socket = null;
    },
  };
}
