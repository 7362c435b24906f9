// Node's `ws` (Debian's node-ws) doing the fan-out benchmark's broadcast: sessions on /sub receive every message
// the session on /pub sends, with the loop the ws documentation shows (client.send for each client).
// Usage: NODE_PATH=/usr/share/nodejs node node-broadcast.js PORT
const { WebSocketServer } = require('ws');
const port = Number(process.argv[2] || 9500);
const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
const subscribers = new Set();
server.on('connection', (socket, request) => {
  if (request.url === '/pub') {
    socket.on('message', (data, isBinary) => {
      for (const client of subscribers) client.send(data, { binary: isBinary });
    });
  } else {
    subscribers.add(socket);
    socket.on('close', () => subscribers.delete(socket));
  }
});
server.on('listening', () => console.log(`node-broadcast listening on ${port}`));
