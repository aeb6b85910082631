// node's event loop (libuv: epoll, eventfd, timers): a loopback TCP echo
// server and its client in one process, a timer and a microtask.
const net = require('net');
const srv = net.createServer(s => s.on('data', d => { s.end(d.toString().toUpperCase()); }));
srv.listen(0, '127.0.0.1', () => {
  const c = net.connect(srv.address().port, '127.0.0.1', () => c.write('ping'));
  c.on('data', d => console.log('got', d.toString()));
  c.on('end', () => { srv.close(); setTimeout(() => console.log('timer after close'), 5); });
});
Promise.resolve().then(() => console.log('microtask'));
