#!/usr/bin/env node
'use strict';
// chat_server PORT [REDIS_URL]
//
// A chat on 127.0.0.1:PORT (0 picks a free port; the first line printed
// says which): an http.Server serves a small page at / and its WebSocket at
// /chat, which libws takes over ({ server }). Every message a client sends
// goes to every client of its room (?room=NAME, default "lobby") through a
// topic: framed once, written by libws. Given a Redis URL, every chat_server
// (or any libws server, in any language) sharing it is one chat: run two on
// different ports with the same URL and a message typed on one reaches the
// other's clients.
//
// The binding is loaded from bindings/node of this repository, or from an
// installed 'libws' package.

const http = require('http');

let WebSocket;
try {
  WebSocket = require('../../bindings/node');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND') throw err;
  WebSocket = require('libws');
}
const { WebSocketServer } = WebSocket;

const [arg, broker] = process.argv.slice(2);
const port = Number(arg);
if (process.argv.length < 3 || process.argv.length > 4 || arg === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: chat_server.js PORT [REDIS_URL]');
  process.exit(2);
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>libws chat</title>
<ul id="log"></ul><form id="f"><input id="m" autocomplete="off"><button>send</button></form>
<script>
// Relative to the page: served at /x/ behind a proxy, the socket is /x/chat.
const u = new URL('chat' + location.search, location.href); u.protocol = u.protocol.replace('http', 'ws');
const ws = new WebSocket(u);
ws.onmessage = (e) => { const li = document.createElement('li'); li.textContent = e.data; log.append(li); };
f.onsubmit = (e) => { e.preventDefault(); ws.send(m.value); m.value = ''; };
</script>`;

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(PAGE);
});
const wss = new WebSocketServer({ server, path: '/chat', broker: broker || undefined });

wss.on('connection', (ws, req) => {
  const room = new URL(req.url, 'http://x').searchParams.get('room') || 'lobby';
  ws.subscribe(`room:${room}`);
  ws.on('message', (data) => wss.publish(`room:${room}`, data.toString()));
  ws.on('error', () => {});
});
wss.on('broker', (state, detail) => console.error(`broker ${state}: ${detail}`));

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}/chat`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => wss.close(() => server.close(() => process.exit(0))));
}
