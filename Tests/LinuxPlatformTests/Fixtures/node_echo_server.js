// An independent WebSocket peer for interop tests: Node's `ws` (Debian's node-ws) as an echo server on an
// ephemeral port. Usage: node node_echo_server.js PORT_FILE -- writes the port to PORT_FILE, echoes every message
// as the same type, and closes with the client's code.
const fs = require('fs');
// Debian's node-ws lives in /usr/share/nodejs, which a Node from elsewhere does not search.
const WebSocket = require('/usr/share/nodejs/ws');
const server = new WebSocket.Server({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 << 20 });
server.on('listening', () => { fs.writeFileSync(process.argv[2], String(server.address().port)); });
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});
