// An independent WebSocket peer for interop tests: Node's `ws` (Debian's node-ws) as a client of the seed echo
// server ("YOU SAID: ..."). Usage: node node_echo_client.js URL -- prints "ok close CODE REASON" or the failure.
// Debian's node-ws lives in /usr/share/nodejs, which a Node from elsewhere does not search.
const WebSocket = require('/usr/share/nodejs/ws');
const socket = new WebSocket(process.argv[2], { perMessageDeflate: false });
const expected = ['YOU SAID: hello from node', 'YOU SAID: κόσμε', 'YOU SAID: bye'];
const received = [];
const timer = setTimeout(() => { console.log('failed timeout'); process.exit(1); }, 10000);
socket.on('open', () => {
  socket.send('hello from node');
  socket.send('κόσμε');
  socket.ping(Buffer.from('ping!'));
});
socket.on('pong', (data) => {
  if (data.toString() !== 'ping!') console.log('failed pong ' + data);
  socket.send('bye');
});
socket.on('message', (data, isBinary) => { received.push(isBinary ? '<binary>' : data.toString()); });
socket.on('close', (code, reason) => {
  clearTimeout(timer);
  if (JSON.stringify(received) !== JSON.stringify(expected)) {
    console.log('failed received ' + JSON.stringify(received));
  } else {
    console.log('ok close ' + code + ' ' + reason.toString());
  }
});
socket.on('error', (error) => { console.log('failed ' + error.message); });
