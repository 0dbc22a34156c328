/**
 * The dev demo chat page: a thin view over the client SDK. The SDK owns the
 * protocol (auth, acks, resends, reconnects, ordering); this file only keeps
 * what the user sees. Everything that came over the wire is rendered with
 * textContent, never as HTML.
 */
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

/** conversation key (`user:<id>` | `group:<id>`) -> { key, kind, id, items, unread, lastAt, lastIncoming, readMarked } */
const conversations = new Map();
/** msg_id of each message this page sent -> its item, to apply acks and read receipts. */
const sentItems = new Map();
let client = null;
let current = null;
let connects = 0;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function activity(text) {
  const li = el('li');
  li.append(el('time', '', new Date().toLocaleTimeString()), text);
  $('activity').prepend(li);
}

function conversation(key) {
  let conv = conversations.get(key);
  if (conv === undefined) {
    const [kind, ...rest] = key.split(':');
    conv = { key, kind, id: rest.join(':'), items: [], unread: 0, lastAt: Date.now(), lastIncoming: null, readMarked: null };
    conversations.set(key, conv);
  }
  return conv;
}

function title(conv) {
  return conv.kind === 'group' ? `# ${conv.id}` : `@ ${conv.id}`;
}

// ---- rendering ----

function renderConversations() {
  const list = $('conversations');
  list.replaceChildren();
  const sorted = [...conversations.values()].sort((a, b) => b.lastAt - a.lastAt);
  for (const conv of sorted) {
    const button = el('button');
    button.type = 'button';
    button.dataset.conversation = conv.key;
    button.setAttribute('aria-current', String(conv === current));
    button.append(el('span', 'name', title(conv)), el('span', 'unread', conv.unread > 0 ? String(conv.unread) : ''));
    button.addEventListener('click', () => select(conv));
    const li = el('li');
    li.append(button);
    list.append(li);
  }
}

function statusText(item) {
  switch (item.ack) {
    case 'pending': return 'pending';
    case 'failed': return `failed: ${item.error}`;
    case 'elsewhere': return `sent from another device #${item.sequenceNumber}`;
    default: {
      const read = item.readBy.size > 0 ? ` · read by ${[...item.readBy].join(', ')}` : '';
      return `${item.ack} #${item.sequenceNumber}${read}`;
    }
  }
}

function renderItem(item) {
  if (item.type === 'system') {
    item.node = el('li', 'system', item.text);
    return item.node;
  }
  const li = el('li', item.mine ? 'msg mine' : 'msg');
  li.dataset.msgId = item.msgId;
  if (!item.mine) li.append(el('span', 'sender', item.senderId));
  li.append(el('span', 'content', item.content));
  if (item.mine) {
    item.statusNode = el('span', 'status');
    li.append(item.statusNode);
    updateStatus(item);
  }
  item.node = li;
  return li;
}

function updateStatus(item) {
  if (item.statusNode === undefined) return;
  item.statusNode.textContent = statusText(item);
  item.statusNode.dataset.ack = item.ack;
}

function append(conv, item) {
  conv.items.push(item);
  conv.lastAt = Date.now();
  if (conv === current) {
    $('messages').append(renderItem(item));
    item.node.scrollIntoView({ block: 'end' });
  }
}

function select(conv) {
  current = conv;
  conv.unread = 0;
  $('conversation-title').textContent = title(conv);
  for (const item of conv.items) item.node = item.statusNode = undefined;
  $('messages').replaceChildren(...conv.items.map(renderItem));
  $('composer').hidden = false;
  $('composer').elements.content.focus();
  markRead(conv);
  renderConversations();
}

// ---- read receipts ----

/** Read acks are cumulative per conversation: marking the newest incoming message covers the ones before it. */
function markRead(conv) {
  if (conv !== current || document.visibilityState !== 'visible') return;
  const newest = conv.lastIncoming;
  if (newest === null || conv.readMarked === newest.msgId) return;
  conv.readMarked = newest.msgId;
  client.markRead(newest);
}

function onReceipt(receipt) {
  const target = sentItems.get(receipt.msgId);
  if (target === undefined) return;
  const conv = conversations.get(target.conversation);
  // Without its ack yet, the message's place is unknown: only it is marked.
  const covered = target.sequenceNumber === undefined ? [target]
    : conv.items.filter((item) => item.mine && item.sequenceNumber !== undefined && item.sequenceNumber <= target.sequenceNumber);
  for (const item of covered) {
    item.readBy.add(receipt.readerId);
    updateStatus(item);
  }
  activity(`${receipt.readerId} read up to your message #${target.sequenceNumber ?? '?'} in ${title(conv)}`);
}

// ---- SDK events ----

function onMessage(m) {
  const own = sentItems.get(m.msgId);
  if (own !== undefined) {
    // Our own message coming back (a group echo): the ack already told us its place.
    own.sequenceNumber ??= m.sequenceNumber;
    return;
  }
  const conv = conversation(m.conversation);
  const mine = m.senderId === client.userId;
  append(conv, {
    type: 'message', msgId: m.msgId, senderId: m.senderId, content: m.content, sequenceNumber: m.sequenceNumber,
    mine, ack: mine ? 'elsewhere' : undefined, readBy: new Set(),
  });
  if (!mine) {
    conv.lastIncoming = m;
    if (conv === current && document.visibilityState === 'visible') markRead(conv);
    else conv.unread++;
  }
  renderConversations();
}

function onMembership(change) {
  const conv = conversation(`group:${change.groupId}`);
  const who = change.userId === client.userId ? 'you' : change.userId;
  const text = `${who} ${change.changeType === 'join' ? 'joined' : 'left'} ${change.groupId}`;
  append(conv, { type: 'system', text });
  activity(text);
  renderConversations();
}

function onState(e) {
  const node = $('connection');
  node.dataset.state = e.state;
  if (e.state === 'connected') {
    connects++;
    node.textContent = connects > 1 ? `connected (reconnect ${connects - 1})` : 'connected';
    activity(connects > 1 ? `reconnected; ${client.pending} message(s) awaiting their ack` : 'connected');
    return;
  }
  const why = e.code === undefined ? '' : ` (${e.code}${e.reason ? ` ${e.reason}` : ''})`;
  node.textContent = e.state === 'disconnected' && e.willReconnect ? `reconnecting${why}` : `${e.state}${why}`;
  if (e.state !== 'connecting') activity(`${node.textContent}`);
}

// ---- user actions ----

function send(conv, content) {
  const msgId = crypto.randomUUID();
  const item = { type: 'message', msgId, senderId: client.userId, content, mine: true, ack: 'pending', readBy: new Set(), conversation: conv.key };
  sentItems.set(msgId, item);
  append(conv, item);
  renderConversations();
  client.send(conv.id, content, { group: conv.kind === 'group', msgId }).then(
    (ack) => {
      item.ack = ack.status;
      item.sequenceNumber = ack.sequenceNumber;
      updateStatus(item);
    },
    (err) => {
      item.ack = 'failed';
      item.error = err.code ?? err.message;
      updateStatus(item);
    },
  );
}

async function devToken(user, device) {
  const res = await fetch(`./token?${new URLSearchParams({ user_id: user, device_id: device })}`);
  const body = await res.json();
  if (!res.ok) throw new Error(`${body.error_code}: ${body.error_message}`);
  return body.token;
}

async function logIn(user, device) {
  const sdk = await import('./sdk/index.js').catch(() => {
    throw new Error('the client SDK is not served at /demo/sdk/: build it with `npm run client:build`');
  });
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const heartbeat = Number(params.get('heartbeat_ms')) || 30_000;
  // Fetched before the client exists so that an id the gateway refuses is reported here, not retried.
  let first = await devToken(user, device);
  client = new sdk.GatewayClient({
    url: wsUrl,
    // Called on every (re)connect: after the first, each connect (a node reached after a drain too) gets a fresh token.
    token: async () => {
      const token = first ?? (await devToken(user, device));
      first = null;
      return token;
    },
    reconnect: { initialDelayMs: 250, maxDelayMs: 5_000 },
    heartbeatIntervalMs: heartbeat,
  });
  client.on('state', onState);
  client.on('message', onMessage);
  client.on('receipt', onReceipt);
  client.on('membership', onMembership);
  client.on('error', (e) => activity(`error ${e.code}: ${e.message}`));
  await client.connect();
  $('whoami').textContent = `${client.userId} on ${client.deviceId}`;
  $('login').hidden = true;
  $('chat').hidden = false;
  history.replaceState(null, '', `?${new URLSearchParams({ ...Object.fromEntries(params), user, device })}`);
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector('button');
  button.disabled = true;
  $('login-error').textContent = '';
  logIn(form.elements.user.value.trim(), form.elements.device.value.trim()).catch((err) => {
    $('login-error').textContent = err.message;
    client?.close();
    client = null;
    button.disabled = false;
  });
});

$('new-chat').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const conv = conversation(`${form.elements.kind.value}:${form.elements.peer.value.trim()}`);
  form.reset();
  select(conv);
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = event.currentTarget.elements.content;
  if (current === null || input.value === '') return;
  send(current, input.value);
  input.value = '';
});

document.addEventListener('visibilitychange', () => {
  if (current === null || document.visibilityState !== 'visible') return;
  current.unread = 0;
  markRead(current);
  renderConversations();
});

// `?user=alice&device=laptop` logs in straight away (links, screenshots).
if (params.has('user') && params.has('device')) {
  $('login').elements.user.value = params.get('user');
  $('login').elements.device.value = params.get('device');
  $('login').requestSubmit();
}
