// The Herald dashboard. It reads the admin stream (GET /admin/stream, Server-Sent Events) through fetch,
// because EventSource cannot send the Authorization header that carries the admin key.

const KEY = 'herald.adminKey';
const HISTORY = 300; // samples kept in the charts: five minutes at one a second
const TAIL_ROWS = 100;

const $ = (id) => document.getElementById(id);
const headers = () => {
  const key = sessionStorage.getItem(KEY);
  return key ? { authorization: `Bearer ${key}` } : {};
};

let streamAbort = null;
let retryTimer = null;
const series = { t: [], published: [], delivered: [], connections: [] };
let ratesChart = null;
let connectionsChart = null;

function setState(text, cls) {
  const state = $('state');
  state.textContent = text;
  state.className = cls;
}

function showLogin(message) {
  $('dashboard').hidden = true;
  $('login').hidden = false;
  $('logout').hidden = true;
  $('login-error').textContent = message ?? '';
  setState('locked', '');
}

async function start() {
  const response = await fetch('/admin/api/stats', { headers: headers() });
  if (response.status === 401 || response.status === 403) {
    showLogin(sessionStorage.getItem(KEY) ? 'That key is not accepted.' : '');
    return;
  }
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('logout').hidden = !sessionStorage.getItem(KEY);
  ensureCharts();
  connect();
}

// --- the admin stream -------------------------------------------------------------------------------

function connect() {
  clearTimeout(retryTimer);
  streamAbort?.abort();
  const abort = new AbortController();
  streamAbort = abort;
  setState('connecting', 'connecting');
  const url = `/admin/stream${$('payloads').checked ? '?payloads=1' : ''}`;
  readStream(url, abort.signal).then(
    () => reconnectLater(abort),
    () => reconnectLater(abort),
  );
}

function reconnectLater(abort) {
  if (abort.signal.aborted || streamAbort !== abort) return;
  setState('reconnecting', 'connecting');
  retryTimer = setTimeout(connect, 2000);
}

async function readStream(url, signal) {
  const response = await fetch(url, { headers: { ...headers(), accept: 'text/event-stream' }, signal });
  if (response.status === 401 || response.status === 403) {
    showLogin('The key is no longer accepted.');
    streamAbort = null;
    return;
  }
  if (!response.ok || response.body === null) throw new Error(`stream answered ${response.status}`);
  setState('live', 'live');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
    }
  }
}

/** Parses one SSE event block (the server writes only `event:` and `data:` fields, and comments). */
function dispatch(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return;
  const payload = JSON.parse(data.join('\n'));
  if (event === 'hello') onHello(payload);
  else if (event === 'stats') onStats(payload);
  else if (event === 'tail') onTail(payload);
  else if (event === 'disconnect') setState('server restarting', 'connecting');
}

// --- figures and charts -----------------------------------------------------------------------------

const number = new Intl.NumberFormat('en');
const bytes = (n) => `${(n / 1048576).toFixed(1)} MiB`;

function onHello(hello) {
  $('node').textContent = `node ${hello.node}`;
  for (const key of Object.keys(series)) series[key].length = 0;
  for (const sample of hello.history) addSample(sample);
  redraw();
  const latest = hello.history.at(-1);
  if (latest) showFigures(latest);
}

function onStats(sample) {
  addSample(sample);
  redraw();
  showFigures(sample);
}

function addSample(sample) {
  series.t.push(sample.ts / 1000);
  series.published.push(sample.rates.published);
  series.delivered.push(sample.rates.delivered);
  series.connections.push(sample.nodes.reduce((sum, node) => sum + node.connections, 0));
  if (series.t.length > HISTORY) for (const key of Object.keys(series)) series[key].shift();
}

function showFigures(sample) {
  const sum = (field) => sample.nodes.reduce((total, node) => total + node[field], 0);
  const t = sample.totals;
  $('connections').textContent = number.format(sum('connections'));
  $('users').textContent = number.format(sum('users'));
  $('published-rate').textContent = number.format(Math.round(sample.rates.published));
  $('delivered-rate').textContent = number.format(Math.round(sample.rates.delivered));
  $('published').textContent = number.format(t.published);
  $('delivered').textContent = number.format(t.delivered);
  $('replayed').textContent = number.format(t.replayed);
  $('gaps').textContent = number.format(t.gaps);
  $('slow').textContent = number.format(t.slowConsumerCloses);
  $('auth-failures').textContent = number.format(t.authFailures);
  $('memory').textContent = bytes(sum('rssBytes'));
  $('lag').textContent = `${Math.max(...sample.nodes.map((n) => n.eventLoopLagMs.p99)).toFixed(1)} ms`;
  const rows = sample.nodes.map((node) =>
    row([
      node.id,
      number.format(node.connections),
      number.format(node.users),
      bytes(node.rssBytes),
      bytes(node.heapUsedBytes),
      `${node.eventLoopLagMs.p99.toFixed(1)} ms`,
    ]),
  );
  $('nodes').replaceChildren(...rows);
}

function ensureCharts() {
  if (ratesChart !== null || typeof uPlot === 'undefined') return;
  const width = () => Math.max(300, $('chart-rates').clientWidth);
  ratesChart = new uPlot(
    {
      width: width(),
      height: 200,
      series: [
        {},
        { label: 'published/s', stroke: '#3867d6', width: 2 },
        { label: 'delivered/s', stroke: '#2e9e5b', width: 2 },
      ],
      axes: [{}, { size: 60 }],
    },
    [[], [], []],
    $('chart-rates'),
  );
  connectionsChart = new uPlot(
    {
      width: width(),
      height: 200,
      series: [{}, { label: 'connections', stroke: '#c98a1b', width: 2 }],
      axes: [{}, { size: 60 }],
    },
    [[], []],
    $('chart-connections'),
  );
  window.addEventListener('resize', () => {
    ratesChart.setSize({ width: width(), height: 200 });
    connectionsChart.setSize({ width: width(), height: 200 });
  });
}

function redraw() {
  ratesChart?.setData([series.t, series.published, series.delivered]);
  connectionsChart?.setData([series.t, series.connections]);
}

// --- latest messages --------------------------------------------------------------------------------

function onTail({ messages, skipped }) {
  const body = $('tail');
  for (const message of messages) {
    body.prepend(
      row([
        new Date(message.ts).toLocaleTimeString(),
        message.id,
        message.topics.join(' '),
        message.event ?? '',
        number.format(message.size),
        message.data ?? '',
      ]),
    );
  }
  while (body.rows.length > TAIL_ROWS) body.deleteRow(-1);
  $('tail-skipped').textContent =
    skipped > 0 ? `${number.format(skipped)} more in the last second not listed` : '';
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = String(text);
    tr.append(td);
  }
  return tr;
}

// --- find a user, disconnect ------------------------------------------------------------------------

async function findUsers() {
  const prefix = $('find-prefix').value.trim();
  const response = await fetch(`/admin/api/users?prefix=${encodeURIComponent(prefix)}&limit=20`, {
    headers: headers(),
  });
  const body = await response.json();
  const result = $('find-result');
  if (!response.ok) {
    result.textContent = body.detail ?? `error ${response.status}`;
    return;
  }
  if (body.users.length === 0) {
    result.textContent = `No user online whose id starts with "${prefix}".`;
    return;
  }
  result.replaceChildren(...body.users.map(userBlock));
}

function userBlock(user) {
  const block = document.createElement('div');
  block.className = 'user';
  block.dataset.user = user.id;
  const title = document.createElement('div');
  title.className = 'row';
  const name = document.createElement('b');
  name.textContent = user.id;
  const status = document.createElement('span');
  status.className = 'muted';
  status.textContent = `${user.online ? 'online' : 'offline'}, ${user.connections} connection(s)`;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'disconnect';
  button.textContent = 'Disconnect';
  button.addEventListener('click', () => disconnect(user.id, status));
  title.append(name, status, button);
  const table = document.createElement('table');
  table.append(row(['connection', 'node', 'since', 'transport', 'remote address']));
  for (const c of user.connectionList) {
    table.append(row([c.id, c.node, new Date(c.since).toLocaleString(), c.transport, c.remoteAddress]));
  }
  block.append(title, table);
  return block;
}

async function disconnect(userId, status) {
  const response = await fetch(`/admin/api/users/${encodeURIComponent(userId)}/connections`, {
    method: 'DELETE',
    headers: headers(),
  });
  const body = await response.json();
  status.textContent = response.ok ? `disconnected ${body.closed} connection(s)` : (body.detail ?? 'failed');
}

// --- send -------------------------------------------------------------------------------------------

async function send() {
  const kind = $('send-kind').value;
  const target = $('send-target').value.trim();
  const to =
    kind === 'all' ? { all: true } : kind === 'userPrefix' ? { userPrefix: target } : { [kind]: [target] };
  const text = $('send-data').value;
  let data = text;
  try {
    data = JSON.parse(text);
  } catch {
    // Plain text is sent as it is.
  }
  const message = { to, data };
  const event = $('send-event').value.trim();
  if (event !== '') message.event = event;
  const response = await fetch('/admin/api/messages', {
    method: 'POST',
    headers: { ...headers(), 'content-type': 'application/json' },
    body: JSON.stringify(message),
  });
  const body = await response.json();
  $('send-result').textContent = response.ok
    ? `sent, id ${body.id}`
    : (body.detail ?? `error ${response.status}`);
}

// --- wiring -----------------------------------------------------------------------------------------

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $('login-key').value);
  $('login-key').value = '';
  start();
});
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  streamAbort?.abort();
  streamAbort = null;
  showLogin();
});
$('find-form').addEventListener('submit', (event) => {
  event.preventDefault();
  findUsers();
});
$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  send();
});
$('payloads').addEventListener('change', connect);

start();
