/*
 * ES module entry point for the Channels WebSocket bridge:
 *
 *   import { WebSocketBridge } from './websocketbridge.mjs';
 *
 * The code lives in websocketbridge.js (one copy, no build step). Imported
 * from here it runs as a module: in a browser it has no CommonJS `module`, so
 * it attaches itself to globalThis.channels, which is read back below; under
 * node and bundlers it is CommonJS and arrives as the default import.
 */
import * as loaded from './websocketbridge.js';

const api = (loaded && loaded.default) || globalThis.channels;

export const { WebSocketBridge, ReconnectingWebSocket, resolveWebSocketUrl, reconnectDelay } = api;
export default api;
