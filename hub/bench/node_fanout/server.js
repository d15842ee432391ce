// Reference Socket.IO server for `seva bench fanout`: what a Node.js backend does with the same
// contract. A client connects with auth {token}, sends `availability:subscribe` {tenant_id,
// resource_id, date} with an ack, and joins the room `availability:<tenant>:<resource>:<date>`.
// Each line on stdin is one delta (JSON); it is emitted as `availability` to the room named by
// its `stream`. Prints {"listening": port, "pid": pid} once ready; exits when stdin closes.
"use strict";

const http = require("http");
const readline = require("readline");
const { Server } = require("socket.io");

const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false, cors: { origin: "*" } });

io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  next(typeof token === "string" && token.length > 0 ? undefined : new Error("unauthorized"));
});

io.on("connection", (socket) => {
  socket.on("availability:subscribe", (request, ack) => {
    const stream = `availability:${request.tenant_id}:${request.resource_id}:${request.date}`;
    socket.join(stream);
    if (typeof ack === "function") {
      ack({ ok: true, data: { stream, seq: 0, slots: [], mode: "snapshot", replayed: 0 } });
    }
  });
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  const delta = JSON.parse(line);
  io.to(delta.stream).emit("availability", delta);
});
process.stdin.on("end", () => {
  io.close();
  process.exit(0);
});

httpServer.listen(0, "127.0.0.1", () => {
  const { port } = httpServer.address();
  process.stdout.write(JSON.stringify({ listening: port, pid: process.pid }) + "\n");
});
