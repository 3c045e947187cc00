// Fast unit tests of websocketbridge.js under node's built-in runner (`node --test`),
// with a fake WebSocket class and a fake clock: the back-off, timeout, queueing and
// demultiplexing rules are checked without sockets or sleeping.
// BRIDGE_JS names the file to test (pytest passes the installed package's copy).
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const bridgeFile =
  process.env.BRIDGE_JS || path.resolve(here, '../../../src/channels/static/channels/js/websocketbridge.js');
const { WebSocketBridge, ReconnectingWebSocket, resolveWebSocketUrl, reconnectDelay } =
  createRequire(import.meta.url)(bridgeFile);

const NO_JITTER = { reconnectionDelayJitter: 0 };

/** A WebSocket double: the test plays the server by calling serverOpen/serverMessage/serverClose. */
class FakeSocket extends EventTarget {
  static instances = [];

  constructor(url, protocols) {
    super();
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    this.closeCalls = [];
    this.bufferedAmount = 0;
    this.protocol = '';
    this.extensions = '';
    FakeSocket.instances.push(this);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error(`send() in readyState ${this.readyState}`);
    this.sent.push(data);
  }

  close(code, reason) {
    this.closeCalls.push([code, reason]);
    if (this.readyState < 2) this.readyState = 2;
  }

  serverOpen() {
    this.readyState = 1;
    this.dispatchEvent(new Event('open'));
  }

  serverMessage(data) {
    this.dispatchEvent(Object.assign(new Event('message'), { data }));
  }

  serverClose(code = 1006, reason = '') {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event('close'), { code, reason, wasClean: code !== 1006 }));
  }
}

const last = () => FakeSocket.instances[FakeSocket.instances.length - 1];

/** Replace setTimeout/clearTimeout with a clock that only moves in advance(). */
function fakeClock() {
  const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
  let now = 0;
  let seq = 0;
  const timers = new Map();
  globalThis.setTimeout = (fn, ms) => {
    seq += 1;
    timers.set(seq, { fn, at: now + (ms || 0) });
    return seq;
  };
  globalThis.clearTimeout = (id) => timers.delete(id);
  return {
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0]);
        if (due.length === 0) break;
        const [id, timer] = due[0];
        timers.delete(id);
        now = timer.at;
        timer.fn();
      }
      now = end;
    },
    pending() {
      return [...timers.values()].map((t) => t.at - now).sort((a, b) => a - b);
    },
    restore() {
      Object.assign(globalThis, real);
    },
  };
}

let clock;
beforeEach(() => {
  FakeSocket.instances = [];
  clock = fakeClock();
});
afterEach(() => clock.restore());

function open(options = {}) {
  return new ReconnectingWebSocket('ws://example.test/ws/', undefined, {
    WebSocket: FakeSocket,
    ...NO_JITTER,
    ...options,
  });
}

test('reconnectDelay grows by the factor from the minimum and stops at the maximum', () => {
  const options = { minReconnectionDelay: 1000, maxReconnectionDelay: 10000, reconnectionDelayGrowFactor: 2, ...NO_JITTER };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => reconnectDelay(n, options)),
    [1000, 2000, 4000, 8000, 10000, 10000],
  );
});

test('reconnectDelay jitter only shortens the delay, by at most the jitter fraction', () => {
  const options = { minReconnectionDelay: 1000, reconnectionDelayJitter: 0.25 };
  assert.equal(reconnectDelay(1, options, () => 0), 1000);
  assert.equal(reconnectDelay(1, options, () => 0.5), 875);
  assert.equal(reconnectDelay(1, options, () => 0.999999), 750);
});

test('reconnectDelay rejects attempt numbers below 1 and bad options, naming them', () => {
  assert.throws(() => reconnectDelay(0, {}), /attempt must be an integer >= 1, got 0/);
  assert.throws(() => reconnectDelay(1, { maxReconnectionDelay: 10, minReconnectionDelay: 20 }), /maxReconnectionDelay must be a number >= 20, got 10/);
  assert.throws(() => reconnectDelay(1, { reconnectionDelayGrowFactor: 0.5 }), RangeError);
  assert.throws(() => reconnectDelay(1, { minReconectionDelay: 5 }), /unknown option "minReconectionDelay"/);
  assert.throws(() => reconnectDelay(1, 'fast'), /options must be an object/);
});

test('resolveWebSocketUrl maps the page scheme and resolves relative paths', () => {
  assert.equal(resolveWebSocketUrl('/ws/', 'http://example.com:8000/chat/room/'), 'ws://example.com:8000/ws/');
  assert.equal(resolveWebSocketUrl('stream/', 'https://example.com/chat/room/'), 'wss://example.com/chat/room/stream/');
  assert.equal(resolveWebSocketUrl(undefined, 'https://example.com/chat/?a=1#x'), 'wss://example.com/chat/');
  assert.equal(resolveWebSocketUrl('', 'http://example.com/p'), 'ws://example.com/p');
  assert.equal(resolveWebSocketUrl('ws://other:9000/x?y=1#z', 'https://example.com/'), 'ws://other:9000/x?y=1');
  assert.equal(resolveWebSocketUrl('https://other/x'), 'wss://other/x');
});

test('resolveWebSocketUrl explains what is wrong with an unusable URL', () => {
  assert.throws(() => resolveWebSocketUrl('/ws/'), /cannot use "\/ws\/" as a WebSocket URL: relative URLs need a web page/);
  assert.throws(() => resolveWebSocketUrl(undefined), /needs a URL outside a web page/);
  assert.throws(() => resolveWebSocketUrl('ftp://example.com/'), /scheme ftp: is not ws, wss, http or https/);
});

test('reconnection attempts wait longer each time, up to the maximum', () => {
  const socket = open({ minReconnectionDelay: 100, maxReconnectionDelay: 500, reconnectionDelayGrowFactor: 2 });
  last().serverOpen();
  last().serverClose();
  const waits = [];
  for (let attempt = 1; attempt <= 5; attempt++) {
    const pending = clock.pending().filter((ms) => ms !== 4000); // ignore the connection timeout
    waits.push(pending[0]);
    clock.advance(pending[0]);
    assert.equal(FakeSocket.instances.length, attempt + 1);
    assert.equal(socket.retryCount, attempt);
    last().serverClose(); // refused before opening
  }
  assert.deepEqual(waits, [100, 200, 400, 500, 500]);
});

test('the retry count resets only after a connection stayed up for minUptime', () => {
  const socket = open({ minReconnectionDelay: 100, reconnectionDelayGrowFactor: 2, minUptime: 1000 });
  last().serverOpen();
  last().serverClose();
  clock.advance(100);
  last().serverOpen();
  clock.advance(999); // up, but not long enough to count as stable
  last().serverClose();
  assert.equal(socket.retryCount, 2);
  assert.deepEqual(clock.pending(), [200]);
  clock.advance(200);
  last().serverOpen();
  clock.advance(1000);
  assert.equal(socket.retryCount, 0);
  last().serverClose();
  assert.deepEqual(clock.pending(), [100]);
});

test('after maxRetries failed attempts it gives up, CLOSED before the last close event', () => {
  const socket = open({ maxRetries: 2, minReconnectionDelay: 10 });
  const states = [];
  socket.addEventListener('close', () => states.push(socket.readyState));
  last().serverOpen();
  last().serverClose();
  clock.advance(10);
  last().serverClose();
  clock.advance(1000);
  last().serverClose();
  assert.deepEqual(states, [0, 0, 3]);
  assert.equal(FakeSocket.instances.length, 3);
  assert.deepEqual(clock.pending(), []);
  socket.reconnect();
  assert.equal(FakeSocket.instances.length, 4);
  assert.equal(socket.readyState, 0);
  assert.equal(socket.retryCount, 0);
});

test('maxRetries 0 never reconnects', () => {
  const socket = open({ maxRetries: 0 });
  last().serverClose();
  assert.equal(socket.readyState, 3);
  assert.deepEqual(clock.pending(), []);
});

test('a socket not open within connectionTimeout is abandoned and retried', () => {
  const socket = open({ connectionTimeout: 300, minReconnectionDelay: 50 });
  const closes = [];
  socket.addEventListener('close', (event) => closes.push([event.code, event.reason]));
  const stuck = last();
  clock.advance(300);
  assert.deepEqual(stuck.closeCalls, [[undefined, undefined]]);
  assert.deepEqual(closes, [[1006, 'connection timeout']]);
  stuck.serverClose(); // the late close of the abandoned socket is not relayed twice
  assert.equal(closes.length, 1);
  clock.advance(50);
  assert.equal(FakeSocket.instances.length, 2);
  last().serverOpen();
  assert.equal(socket.readyState, 1);
  clock.advance(10000); // the timeout of an opened socket is cancelled
  assert.equal(FakeSocket.instances.length, 2);
});

test('messages sent while disconnected are queued and flushed in order before open is relayed', () => {
  const socket = open();
  socket.send('a');
  socket.send('b');
  let sentAtOpen;
  socket.onopen = () => {
    sentAtOpen = [...last().sent];
  };
  last().serverOpen();
  socket.send('c');
  assert.deepEqual(sentAtOpen, ['a', 'b']);
  assert.deepEqual(last().sent, ['a', 'b', 'c']);
});

test('the send queue is bounded by maxEnqueuedMessages', () => {
  const socket = open({ maxEnqueuedMessages: 2 });
  socket.send(1);
  socket.send(2);
  assert.throws(() => socket.send(3), /2 messages are already queued \(maxEnqueuedMessages\)/);
});

test('close() stops reconnecting and later sends fail with a hint', () => {
  const socket = open();
  last().serverOpen();
  socket.close(4000, 'bye');
  assert.equal(socket.readyState, 2);
  assert.deepEqual(last().closeCalls, [[4000, 'bye']]);
  last().serverClose(4000, 'bye');
  assert.equal(socket.readyState, 3);
  assert.deepEqual(clock.pending(), []);
  assert.throws(() => socket.send('x'), /send\(\) after close\(\): call reconnect\(\)/);
});

test('on* properties and listeners receive relayed events from every underlying socket', () => {
  const socket = open({ minReconnectionDelay: 10 });
  const seen = [];
  socket.onmessage = (event) => seen.push(['prop', event.data, event.target === socket]);
  socket.addEventListener('message', (event) => seen.push(['listener', event.data]));
  last().serverOpen();
  last().serverMessage('one');
  last().serverClose();
  clock.advance(10);
  last().serverOpen();
  last().serverMessage('two');
  assert.deepEqual(seen, [
    ['prop', 'one', true],
    ['listener', 'one'],
    ['prop', 'two', true],
    ['listener', 'two'],
  ]);
});

test('binaryType set on the wrapper applies to later sockets', () => {
  const socket = open({ minReconnectionDelay: 10 });
  socket.binaryType = 'arraybuffer';
  assert.equal(last().binaryType, 'arraybuffer');
  last().serverClose();
  clock.advance(10);
  assert.equal(last().binaryType, 'arraybuffer');
});

function bridge() {
  const b = new WebSocketBridge({ WebSocket: FakeSocket, ...NO_JITTER });
  b.connect('ws://example.test/ws/');
  last().serverOpen();
  return b;
}

test('the bridge decodes JSON for listen() and routes streams to demultiplex()', () => {
  const b = bridge();
  const heard = [];
  b.listen((action, stream) => heard.push(['listen', action, stream]));
  b.demultiplex('chat', (payload, stream) => heard.push(['chat', payload, stream]));
  last().serverMessage('{"action": "create", "pk": 1}');
  last().serverMessage('{"stream": "chat", "payload": {"text": "hi"}}');
  last().serverMessage('{"stream": "other", "payload": 5}');
  last().serverMessage('[1, 2]');
  assert.deepEqual(heard, [
    ['listen', { action: 'create', pk: 1 }, undefined],
    ['chat', { text: 'hi' }, 'chat'],
    ['listen', { stream: 'other', payload: 5 }, 'other'],
    ['listen', [1, 2], undefined],
  ]);
});

test('the bridge JSON-encodes send() and stream().send()', () => {
  const b = bridge();
  b.send({ prop1: 'value1' });
  b.stream('mystream').send({ prop1: 'value1' });
  assert.deepEqual(last().sent.map((text) => JSON.parse(text)), [
    { prop1: 'value1' },
    { stream: 'mystream', payload: { prop1: 'value1' } },
  ]);
});

test('the bridge warns about and skips frames that are not JSON', (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const b = bridge();
  const heard = [];
  b.listen((action) => heard.push(action));
  last().serverMessage('not json');
  last().serverMessage('{"ok": true}');
  assert.deepEqual(heard, [{ ok: true }]);
  assert.match(warn.mock.calls[0].arguments[0], /not JSON/);
});

test('listen() given a URL string warns and keeps demultiplexing working', (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const b = bridge();
  b.listen('/ws/');
  const heard = [];
  b.demultiplex('s', (payload) => heard.push(payload));
  last().serverMessage('{"stream": "s", "payload": 1}');
  last().serverMessage('{"plain": 1}');
  assert.deepEqual(heard, [1]);
  assert.match(warn.mock.calls[0].arguments[0], /pass the URL to connect\("\/ws\/"\)/);
});

test('the bridge rejects misuse with errors that say what to do', () => {
  const b = new WebSocketBridge();
  assert.throws(() => b.send({}), /before connect\(\): call connect\(url\) first/);
  assert.throws(() => b.listen(42), /listen\(\) takes a function\(action, stream\), got number/);
  assert.throws(() => b.demultiplex('', () => {}), /non-empty stream name/);
  assert.throws(() => b.demultiplex('s', 'nope'), /needs a function, got string/);
  assert.throws(() => b.stream(7), /stream\(\) needs a non-empty stream name string, got 7/);
});

test('connect() again closes the previous socket instead of leaking it', () => {
  const b = bridge();
  const first = last();
  b.connect('ws://example.test/elsewhere/');
  assert.deepEqual(first.closeCalls, [[1000, 'connecting elsewhere']]);
  assert.equal(last().url, 'ws://example.test/elsewhere/');
  first.serverClose(1000);
  assert.equal(FakeSocket.instances.length, 2);
  assert.deepEqual(clock.pending().filter((ms) => ms !== 4000), []);
});
