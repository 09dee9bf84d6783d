// A benchmark webhook sink on node:http, the same interface as bench/receiver.py: it keeps,
// for every message id, the time its final status arrived (CLOCK_MONOTONIC, as the load
// generator's), per run (the path's last segment).
//
//   POST /hook/RUN                 gatewayd's JSON status webhook: Reference, StatusCode
//   GET  /hook/RUN?id=ID&type=T    Kannel's dlr-url: final when T is 1, 2 or 16
//   GET  /stats/RUN                JSON: final, non_final, duplicates, first, last
//   GET  /finals/RUN?prefix=P      JSON: final, first, last, of the ids that start with P
//
//   node bench/peers/sink.js --port 9000
'use strict';
const http = require('http');

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1]);
const KANNEL_FINAL_TYPES = new Set(['1', '2', '16']);
const runs = new Map();

// RingRing's StatusCode ranges: below 200 not sent or pending, 900-999 in progress.
const finalStatus = (code) => code >= 200 && code < 900;
const monotonic = () => Number(process.hrtime.bigint()) / 1e9;

function runOf(name) {
  if (!runs.has(name)) runs.set(name, { finals: new Map(), nonFinal: 0, duplicates: 0, first: null });
  return runs.get(name);
}

function record(run, id, final) {
  const now = monotonic();
  if (run.first === null) run.first = now;
  if (!final) run.nonFinal += 1;
  else if (run.finals.has(id)) run.duplicates += 1;
  else run.finals.set(id, now);
}

function summary(run) {
  let last = null;
  for (const at of run.finals.values()) if (last === null || at > last) last = at;
  return { final: run.finals.size, non_final: run.nonFinal, duplicates: run.duplicates, first: run.first, last };
}

function finalsWith(run, prefix) {
  let final = 0;
  let first = null;
  let last = null;
  for (const [id, at] of run.finals) {
    if (!id.startsWith(prefix)) continue;
    final += 1;
    if (first === null || at < first) first = at;
    if (last === null || at > last) last = at;
  }
  return { final, first, last };
}

function answer(response, status, type, body) {
  response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

http.createServer((request, response) => {
  const url = new URL(request.url, 'http://sink');
  const [kind, name] = url.pathname.split('/').filter(Boolean);
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    if (kind === 'hook') {
      const body = Buffer.concat(chunks);
      if (body.length) {
        const status = JSON.parse(body);
        record(runOf(name), String(status.Reference || status.MessageId), finalStatus(Number(status.StatusCode)));
      } else {
        record(runOf(name), url.searchParams.get('id'), KANNEL_FINAL_TYPES.has(url.searchParams.get('type')));
      }
      answer(response, 200, 'text/plain', 'ok');
    } else if (kind === 'stats') {
      answer(response, 200, 'application/json', JSON.stringify(summary(runOf(name))));
    } else if (kind === 'finals') {
      const finals = finalsWith(runOf(name), url.searchParams.get('prefix') || '');
      answer(response, 200, 'application/json', JSON.stringify(finals));
    } else {
      answer(response, 404, 'text/plain', '');
    }
  });
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
