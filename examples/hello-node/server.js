// hello-node: a dependency-free HTTP server (node:http). plat runs it in a container on $PORT.
"use strict";

const http = require("node:http");

const APP_NAME = "hello-node";
const PORT = Number(process.env.PORT) || 8080;

function send(res, status, body, type) {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, "http://localhost");
  if (req.method === "GET" && pathname === "/") {
    return send(res, 200, JSON.stringify({ message: `hello from ${APP_NAME}` }), "application/json");
  }
  if (req.method === "GET" && pathname === "/healthz") {
    return send(res, 200, "ok", "text/plain; charset=utf-8");
  }
  send(res, 404, JSON.stringify({ error: "not found" }), "application/json");
});

server.listen(PORT, "0.0.0.0", () => {
  console.log(`${APP_NAME} listening on :${PORT}`);
});

// Stop cleanly when the container is stopped: finish in-flight requests, then exit.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    console.log(`${signal}: shutting down`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
