/*!
 * Channels WebSocket bridge: a small, dependency-free client for Channels
 * WebSocket consumers. Serve this file as-is; there is no build step.
 *
 *   <script src="{% static 'channels/js/websocketbridge.js' %}"></script>
 *   const bridge = new channels.WebSocketBridge();
 *   bridge.connect('/ws/');
 *   bridge.listen((action, stream) => console.log(action, stream));
 *   bridge.send({prop1: 'value1'});
 *
 * Loaded with a plain <script> tag it defines `window.channels`; under
 * CommonJS (bundlers, node) it is `module.exports`; websocketbridge.mjs
 * re-exports it as an ES module.
 *
 * How reconnection works (ReconnectingWebSocket)
 * ----------------------------------------------
 * One browser WebSocket is live at a time; the wrapper outlives it and relays
 * its open/message/close/error events, so listeners added once keep working
 * across reconnections.
 *   - Unless close() was called, every close of the live socket schedules a
 *     new attempt. Attempt n (n = 1, 2, ...) waits
 *       min(maxReconnectionDelay, minReconnectionDelay * reconnectionDelayGrowFactor ** (n - 1))
 *     shortened by up to `reconnectionDelayJitter` (a fraction) at random, so
 *     the clients of a restarted server do not all come back in the same tick.
 *   - A socket that is not open after connectionTimeout ms is abandoned and
 *     counts as a failed attempt.
 *   - n counts attempts since the last *stable* connection: the count is reset
 *     only after a connection stayed open for minUptime ms, so a server that
 *     accepts and drops at once is still approached with growing delays.
 *   - After maxRetries attempts without a stable connection the wrapper gives
 *     up: readyState becomes CLOSED before the last 'close' event is relayed,
 *     which is how listeners tell "gave up" from "will retry" (CONNECTING).
 *   - send() while not open queues the data (up to maxEnqueuedMessages) and
 *     flushes it, in order, before 'open' is relayed.
 */
(function (root, factory) {
  'use strict';
  const api = factory(root);
  if (typeof module === 'object' && module && module.exports) {
    module.exports = api;
  } else {
    // Merge rather than replace: other scripts may hang things off `channels`.
    root.channels = Object.assign(root.channels || {}, api);
  }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (root) {
  'use strict';

  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSING = 2;
  const CLOSED = 3;

  const DEFAULT_OPTIONS = Object.freeze({
    minReconnectionDelay: 1000,
    maxReconnectionDelay: 10000,
    reconnectionDelayGrowFactor: 1.3,
    reconnectionDelayJitter: 0.2,
    connectionTimeout: 4000,
    maxRetries: Infinity,
    minUptime: 5000,
    maxEnqueuedMessages: 1000,
    debug: false,
    WebSocket: undefined, // the constructor to use; defaults to the global WebSocket
  });

  /**
   * Return `options` merged over the defaults, rejecting unknown names and
   * out-of-range values so a typo does not silently fall back to a default.
   */
  function normalizeOptions(options) {
    if (options === undefined || options === null) {
      options = {};
    } else if (typeof options !== 'object') {
      throw new TypeError(`options must be an object such as {maxRetries: 10}, got ${String(options)}`);
    }
    const known = Object.keys(DEFAULT_OPTIONS);
    for (const name of Object.keys(options)) {
      if (!known.includes(name)) {
        throw new TypeError(`unknown option "${name}"; known options are: ${known.join(', ')}`);
      }
    }
    const merged = Object.assign({}, DEFAULT_OPTIONS, options);
    const atLeast = (name, lowest) => {
      const value = merged[name];
      if (typeof value !== 'number' || Number.isNaN(value) || value < lowest) {
        throw new RangeError(`option ${name} must be a number >= ${lowest}, got ${String(value)}`);
      }
    };
    atLeast('minReconnectionDelay', 0);
    atLeast('maxReconnectionDelay', merged.minReconnectionDelay);
    atLeast('reconnectionDelayGrowFactor', 1);
    atLeast('connectionTimeout', 0);
    atLeast('maxRetries', 0);
    atLeast('minUptime', 0);
    atLeast('maxEnqueuedMessages', 0);
    const jitter = merged.reconnectionDelayJitter;
    if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
      throw new RangeError(`option reconnectionDelayJitter must be between 0 and 1, got ${String(jitter)}`);
    }
    return merged;
  }

  /**
   * Return the delay in ms before reconnection attempt `attempt` (1-based).
   * `random` returns a number in [0, 1); pass a constant to get a fixed value.
   */
  function reconnectDelay(attempt, options, random) {
    if (!Number.isInteger(attempt) || attempt < 1) {
      throw new RangeError(`attempt must be an integer >= 1, got ${String(attempt)}`);
    }
    return delayFor(attempt, normalizeOptions(options), random);
  }

  function delayFor(attempt, o, random) {
    const grown = o.minReconnectionDelay * Math.pow(o.reconnectionDelayGrowFactor, attempt - 1);
    const capped = Math.min(o.maxReconnectionDelay, grown);
    const draw = random === undefined ? Math.random() : random();
    return Math.round(capped * (1 - o.reconnectionDelayJitter * draw));
  }

  function pageLocation() {
    return typeof location !== 'undefined' && location && location.href ? location.href : undefined;
  }

  /**
   * Return the absolute ws:// or wss:// URL for `url`, resolved against `base`
   * (the page's address by default).
   *
   * No URL means the page's own path. http(s) URLs, including a relative URL
   * resolved against an http(s) page, become ws(s), so a page served over
   * https talks wss. The fragment is dropped: WebSocket URLs may not have one.
   */
  function resolveWebSocketUrl(url, base) {
    if (base === undefined) {
      base = pageLocation();
    }
    let target;
    if (url === undefined || url === null || url === '') {
      if (base === undefined) {
        throw new TypeError('connect() needs a URL outside a web page, e.g. "ws://127.0.0.1:8000/ws/"');
      }
      target = new URL(base);
      target.search = '';
    } else {
      try {
        target = base === undefined ? new URL(String(url)) : new URL(String(url), base);
      } catch (error) {
        const hint =
          base === undefined
            ? 'relative URLs need a web page to resolve against; pass an absolute ws:// or wss:// URL'
            : 'pass a path such as "/ws/" or a ws:// or wss:// URL';
        throw new TypeError(`cannot use "${String(url)}" as a WebSocket URL: ${hint}`);
      }
    }
    const schemes = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
    if (!(target.protocol in schemes)) {
      throw new TypeError(
        `cannot open a WebSocket to "${target.href}": ` +
          `its scheme ${target.protocol} is not ws, wss, http or https`,
      );
    }
    target.protocol = schemes[target.protocol];
    target.hash = '';
    return target.href;
  }

  /** Return a copy of a WebSocket event whose target is the wrapper. */
  function relayEvent(event) {
    const hasCtor = (name) => typeof root[name] === 'function';
    if (event.type === 'message' && hasCtor('MessageEvent')) {
      return new root.MessageEvent('message', { data: event.data, origin: event.origin || '' });
    }
    if (event.type === 'close' && hasCtor('CloseEvent')) {
      const { code, reason, wasClean } = event;
      return new root.CloseEvent('close', { code, reason, wasClean });
    }
    // Plain Event for 'open'/'error', and where the specific class is missing (node < 23).
    const copy = new root.Event(event.type);
    for (const field of ['data', 'code', 'reason', 'wasClean']) {
      if (field in event) {
        Object.defineProperty(copy, field, { value: event[field], enumerable: true });
      }
    }
    return copy;
  }

  /**
   * A WebSocket that reconnects with exponential back-off; see the comment at
   * the top of this file. Same interface as WebSocket (send, close, readyState,
   * on<event> properties and addEventListener), plus reconnect() and
   * retryCount.
   */
  class ReconnectingWebSocket extends EventTarget {
    constructor(url, protocols, options) {
      super();
      this._options = normalizeOptions(options);
      this._WebSocket = this._options.WebSocket || root.WebSocket;
      if (typeof this._WebSocket !== 'function') {
        throw new TypeError('no WebSocket implementation found; pass one as the WebSocket option');
      }
      this.url = resolveWebSocketUrl(url);
      this._protocols = protocols;
      this._binaryType = 'blob';
      this._queue = [];
      this._socket = null;
      this._timers = { retry: null, timeout: null, uptime: null };
      this._closedByUser = false;
      this._readyState = CONNECTING;
      this.retryCount = 0;
      for (const type of ['open', 'message', 'close', 'error']) {
        this['on' + type] = null;
        // Called from within dispatch, as WebSocket does, so event.target is this wrapper.
        this.addEventListener(type, (event) => {
          const handler = this['on' + type];
          if (typeof handler === 'function') {
            handler.call(this, event);
          }
        });
      }
      this._open();
    }

    get readyState() {
      return this._readyState;
    }

    get protocol() {
      return this._socket ? this._socket.protocol : '';
    }

    get extensions() {
      return this._socket ? this._socket.extensions : '';
    }

    /** Bytes the live socket has yet to send (messages queued while disconnected are not counted). */
    get bufferedAmount() {
      return this._socket ? this._socket.bufferedAmount : 0;
    }

    get binaryType() {
      return this._binaryType;
    }

    set binaryType(value) {
      this._binaryType = value;
      if (this._socket) {
        this._socket.binaryType = value;
      }
    }

    /** Send `data` now if connected, otherwise queue it for the next connection. */
    send(data) {
      if (this._closedByUser) {
        throw new Error('send() after close(): call reconnect() first to open the connection again');
      }
      if (this._socket && this._socket.readyState === OPEN) {
        this._socket.send(data);
        return;
      }
      if (this._queue.length >= this._options.maxEnqueuedMessages) {
        throw new Error(
          `not connected and ${this._queue.length} messages are already queued (maxEnqueuedMessages); ` +
            'wait for the "open" event or raise maxEnqueuedMessages',
        );
      }
      this._queue.push(data);
    }

    /** Close the connection for good: no reconnection until reconnect() is called. */
    close(code, reason) {
      this._closedByUser = true;
      this._queue = [];
      this._clearTimers();
      if (this._socket && this._socket.readyState <= OPEN) {
        this._readyState = CLOSING;
        this._socket.close(code === undefined ? 1000 : code, reason);
      } else {
        this._readyState = CLOSED;
      }
    }

    /** Drop the current connection (if any) and connect again at once, with a fresh retry count. */
    reconnect(code, reason) {
      this._closedByUser = false;
      this._clearTimers();
      this.retryCount = 0;
      const old = this._detach();
      if (old && old.readyState <= OPEN) {
        old.close(code === undefined ? 1000 : code, reason);
      }
      this._open();
    }

    _log(...args) {
      if (this._options.debug) {
        console.debug('ReconnectingWebSocket', this.url, ...args);
      }
    }

    _clearTimers() {
      for (const name of Object.keys(this._timers)) {
        clearTimeout(this._timers[name]);
        this._timers[name] = null;
      }
    }

    _open() {
      this._readyState = CONNECTING;
      this._log('connecting, attempt', this.retryCount);
      let socket;
      try {
        // new WebSocket(url, undefined) is fine, but null would become the protocol "null".
        socket =
          this._protocols === undefined || this._protocols === null
            ? new this._WebSocket(this.url)
            : new this._WebSocket(this.url, this._protocols);
      } catch (error) {
        // A bad URL or protocol list fails the same way every time: retrying would only hide it.
        this._readyState = CLOSED;
        throw error;
      }
      socket.binaryType = this._binaryType;
      this._socket = socket;
      this._handlers = {
        open: (event) => this._onOpen(event),
        message: (event) => this.dispatchEvent(relayEvent(event)),
        error: (event) => this.dispatchEvent(relayEvent(event)),
        close: (event) => this._onClose(event),
      };
      for (const [type, handler] of Object.entries(this._handlers)) {
        socket.addEventListener(type, handler);
      }
      this._timers.timeout = setTimeout(() => {
        this._log('not open after', this._options.connectionTimeout, 'ms; giving this attempt up');
        const stale = this._detach();
        stale.close();
        this._onClose({ type: 'close', code: 1006, reason: 'connection timeout', wasClean: false });
      }, this._options.connectionTimeout);
    }

    /** Stop listening to the current socket and return it. */
    _detach() {
      const socket = this._socket;
      if (socket) {
        for (const [type, handler] of Object.entries(this._handlers)) {
          socket.removeEventListener(type, handler);
        }
      }
      this._socket = null;
      return socket;
    }

    _onOpen(event) {
      clearTimeout(this._timers.timeout);
      this._readyState = OPEN;
      this._log('open');
      this._timers.uptime = setTimeout(() => {
        this.retryCount = 0;
      }, this._options.minUptime);
      const queued = this._queue;
      this._queue = [];
      for (const data of queued) {
        this._socket.send(data);
      }
      this.dispatchEvent(relayEvent(event));
    }

    _onClose(event) {
      this._clearTimers();
      this._detach();
      if (this._closedByUser) {
        this._readyState = CLOSED;
      } else if (this.retryCount >= this._options.maxRetries) {
        this._readyState = CLOSED;
        this._queue = [];
        this._log('giving up after', this.retryCount, 'reconnection attempts');
      } else {
        this.retryCount += 1;
        this._readyState = CONNECTING;
        const delay = delayFor(this.retryCount, this._options);
        this._log('closed with code', event.code, '; reconnecting in', delay, 'ms');
        this._timers.retry = setTimeout(() => this._open(), delay);
      }
      this.dispatchEvent(relayEvent(event));
    }
  }

  for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED })) {
    Object.defineProperty(ReconnectingWebSocket, name, { value, enumerable: true });
    Object.defineProperty(ReconnectingWebSocket.prototype, name, { value, enumerable: true });
  }

  /**
   * Speak JSON over a ReconnectingWebSocket, with optional demultiplexing of
   * {"stream": name, "payload": data} messages (Channels' WebsocketDemultiplexer).
   */
  class WebSocketBridge {
    constructor(options) {
      this._options = options;
      this._listener = null;
      this._streams = new Map();
      this.socket = null;
    }

    /**
     * Open the connection. `url` may be absolute (ws://, wss://, http://,
     * https://) or relative to the page; without it the page's own path is
     * used. `options` are ReconnectingWebSocket's (maxRetries, ...).
     */
    connect(url, protocols, options) {
      if (this.socket) {
        this.socket.close(1000, 'connecting elsewhere');
      }
      const socketOptions = options === undefined ? this._options : options;
      this.socket = new ReconnectingWebSocket(url, protocols, socketOptions);
      this.socket.addEventListener('message', (event) => this._dispatch(event));
      return this;
    }

    /**
     * Call `callback(action, stream)` for every message not taken by a
     * demultiplex() handler; `action` is the decoded JSON, `stream` its
     * "stream" key (undefined for plain messages).
     */
    listen(callback) {
      if (typeof callback === 'function' || callback === undefined || callback === null) {
        this._listener = callback || null;
      } else if (typeof callback === 'string') {
        // The 1.x manual shows `connect(); listen('/ws/')`: keep that working
        // (demultiplex() handlers still run) but point at the likely mistake.
        console.warn(
          `WebSocketBridge.listen() takes a callback, not the URL "${callback}"; ` +
            `pass the URL to connect("${callback}") instead`,
        );
        this._listener = null;
      } else {
        throw new TypeError(`listen() takes a function(action, stream), got ${typeof callback}`);
      }
      return this;
    }

    /** Call `callback(payload, stream)` for messages of the form {"stream": stream, "payload": payload}. */
    demultiplex(stream, callback) {
      requireStreamName(stream, 'demultiplex');
      if (typeof callback !== 'function') {
        throw new TypeError(`demultiplex("${stream}", callback) needs a function, got ${typeof callback}`);
      }
      this._streams.set(stream, callback);
      return this;
    }

    /** Send `message` JSON-encoded. */
    send(message) {
      if (!this.socket) {
        throw new Error('WebSocketBridge.send() before connect(): call connect(url) first');
      }
      this.socket.send(JSON.stringify(message));
    }

    /** Return an object whose send(payload) sends {"stream": name, "payload": payload}. */
    stream(name) {
      requireStreamName(name, 'stream');
      return {
        send: (payload) => this.send({ stream: name, payload }),
      };
    }

    _dispatch(event) {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        console.warn('WebSocketBridge ignored a message that is not JSON:', event.data);
        return;
      }
      const multiplexed =
        message !== null && typeof message === 'object' && typeof message.stream === 'string';
      const stream = multiplexed ? message.stream : undefined;
      if (multiplexed && this._streams.has(stream)) {
        this._streams.get(stream)(message.payload, stream);
      } else if (this._listener) {
        this._listener(message, stream);
      }
    }
  }

  function requireStreamName(name, method) {
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(`${method}() needs a non-empty stream name string, got ${JSON.stringify(name)}`);
    }
  }

  return { WebSocketBridge, ReconnectingWebSocket, resolveWebSocketUrl, reconnectDelay };
});
