// A benchmark SMSC on node-smpp (an SMPP implementation nobody here wrote): it accepts any
// bind, answers every submit_sm with a decimal message id and, after --receipt-delay seconds,
// sends a delivery receipt (DELIVRD) as a deliver_sm on a receiver-capable bind of the same
// system_id. Work is batched so that the peer is never the bound of a benchmark: the answers
// to one read are written in one send (cork), and due receipts go out together every tick.
//
//   node bench/peers/smsc.js --port 2775 [--receipt-delay 0.5]
'use strict';
const smpp = require('smpp');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const port = Number(option('--port', '2775'));
const receiptDelayMs = Number(option('--receipt-delay', '0.5')) * 1000;
const TICK_MS = 5;

let nextId = 1;
const receivers = [];   // sessions bound as receiver or transceiver, in bind order
const due = [];         // receipts waiting for their time: {at, fields}
let turn = 0;

function smppDate(date) {
  const two = (n) => String(n).padStart(2, '0');
  return two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate())
    + two(date.getUTCHours()) + two(date.getUTCMinutes());
}

function corkedUntilNextTick(socket) {
  if (!socket.writableCorked) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
}

function receiptFields(pdu, id, submitted) {
  const text = `id:${id} sub:001 dlvrd:001 submit date:${submitted} `
    + `done date:${smppDate(new Date())} stat:DELIVRD err:000 text:`;
  return {
    source_addr: pdu.destination_addr,
    source_addr_ton: pdu.dest_addr_ton,
    source_addr_npi: pdu.dest_addr_npi,
    destination_addr: pdu.source_addr,
    esm_class: 0x04,
    short_message: text,
  };
}

function flushReceipts() {
  const now = Date.now();
  let sent = 0;
  while (sent < due.length && due[sent].at <= now) sent += 1;
  if (sent === 0 || receivers.length === 0) return;
  const batch = due.splice(0, sent);
  for (const session of receivers) corkedUntilNextTick(session.socket);
  for (const receipt of batch) {
    const session = receivers[turn++ % receivers.length];
    session.deliver_sm(receipt.fields);
  }
}

const server = smpp.createServer({}, (session) => {
  session.socket.prependListener('readable', () => corkedUntilNextTick(session.socket));
  const bind = (receives) => (pdu) => {
    session.send(pdu.response({ system_id: 'bench-smsc' }));
    if (receives) receivers.push(session);
  };
  session.on('bind_transceiver', bind(true));
  session.on('bind_receiver', bind(true));
  session.on('bind_transmitter', bind(false));
  session.on('submit_sm', (pdu) => {
    const id = String(nextId++);
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery) {
      const fields = receiptFields(pdu, id, smppDate(new Date()));
      due.push({ at: Date.now() + receiptDelayMs, fields });
    }
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  const forget = () => {
    const at = receivers.indexOf(session);
    if (at >= 0) receivers.splice(at, 1);
  };
  session.on('close', forget);
  session.on('error', forget);
});

setInterval(flushReceipts, TICK_MS);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
