// A small promise wrapper around the `ws` package's client: every wait is
// bounded, messages queue up until asked for.
import WebSocket from 'ws';

import { withTimeout } from './lib.mjs';

export class Client {
  static async open(url, { timeout = 10000, ...opts } = {}) {
    const ws = new WebSocket(url, { handshakeTimeout: timeout, maxPayload: 256 << 20, ...opts });
    const c = new Client(ws);
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
        ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      }),
      timeout + 1000,
      `opening ${url}`,
    );
    return c;
  }

  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.pongs = [];
    this.pongWaiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.reject(new Error(`closed (${code}) while waiting for a message`));
      });
    });
    ws.on('error', (e) => {
      this.error = e;
    });
    ws.on('message', (data, isBinary) => {
      const m = { data: Buffer.isBuffer(data) ? data : Buffer.concat([].concat(data)), isBinary };
      const w = this.waiters.shift();
      if (w) w.resolve(m);
      else this.queue.push(m);
    });
    ws.on('pong', (data) => {
      const w = this.pongWaiters.shift();
      if (w) w(data);
      else this.pongs.push(data);
    });
  }

  next(ms = 15000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) return Promise.reject(new Error(`closed (${this.closeInfo.code})`));
    const p = new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    return withTimeout(p, ms, 'waiting for a message');
  }

  send(data, opts = {}) {
    return new Promise((resolve, reject) => this.ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
  }

  ping(data, ms = 10000) {
    const p = this.pongs.length ? Promise.resolve(this.pongs.shift()) : new Promise((resolve) => this.pongWaiters.push(resolve));
    this.ws.ping(data);
    return withTimeout(p, ms, 'waiting for a pong');
  }

  // Starts the close handshake and resolves with the peer's { code, reason }.
  close(code, reason, ms = 10000) {
    this.ws.close(code, reason);
    return withTimeout(this.closed, ms, 'waiting for the close reply');
  }

  waitClosed(ms = 10000) {
    return withTimeout(this.closed, ms, 'waiting for the connection to close');
  }

  terminate() {
    this.ws.terminate();
  }
}
