// plat's launcher for Node apps: the image's PID 1. Plain Node, no dependencies.
//
// It picks, in order:
//   1. package.json scripts.start  -> run it with `sh -c`, forwarding SIGTERM/SIGINT and the exit code
//   2. package.json main           -> load it in this process, as the main module
//   3. server.js, index.js, app.js -> load the first that exists
//   4. dist/index.html             -> serve dist/ as a single-page app (built React/Vite UI)
// PID 1 gets no default signal handlers from the kernel, so this file makes sure SIGTERM and
// SIGINT end the process unless the app handles them itself.
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { pathToFileURL } = require("node:url");

const APP_DIR = process.cwd();
const SIGNALS = ["SIGTERM", "SIGINT"];

function log(msg) {
  console.error(`plat-launch: ${msg}`);
}

function readPackage() {
  try {
    return JSON.parse(fs.readFileSync(path.join(APP_DIR, "package.json"), "utf8"));
  } catch (err) {
    if (err.code !== "ENOENT") log(`cannot read package.json: ${err.message}`);
    return {};
  }
}

// 1. `sh -c "<start script>"`, as npm would run it, with node_modules/.bin on PATH.
// Debian's sh forks even the last command of `sh -c`, and dies on SIGTERM at once, so:
// a plain command is exec'd (the app itself gets the signal), and anything else runs in its
// own process group, which gets the signal as a whole and is waited for until it is gone.
function runScript(script) {
  log(`running start script: ${script}`);
  const env = { ...process.env };
  env.PATH = `${path.join(APP_DIR, "node_modules", ".bin")}${path.delimiter}${env.PATH || ""}`;
  const plain = !/[;&|<>()`$\\\n*?{}[\]!#~]/.test(script) && !/^\s*[A-Za-z_]\w*=/.test(script);
  const child = spawn("sh", ["-c", plain ? `exec ${script}` : script], {
    stdio: "inherit",
    env,
    detached: true, // a process group of its own: signals reach the whole script
  });
  let forwarded = null;
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      forwarded = sig;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // the group is already gone
      }
    });
  }
  child.on("error", (err) => {
    log(`cannot start: ${err.message}`);
    process.exit(127);
  });
  child.on("exit", (code, signal) => {
    const status =
      code !== null ? code
      : signal === forwarded ? 0 // stopped by the signal we passed on: a clean stop
      : 128 + (require("node:os").constants.signals[signal] || 0);
    if (!forwarded) process.exit(status);
    // Let the rest of the group finish its shutdown; exiting PID 1 would kill it.
    const poll = setInterval(() => {
      if (!groupAlive(child.pid)) {
        clearInterval(poll);
        process.exit(status);
      }
    }, 100);
  });
}

// Whether any process of group `pgid` is still running (zombies do not count: as PID 1 we
// inherit orphans but Node never reaps them). Reads /proc; elsewhere, assume it is gone.
function groupAlive(pgid) {
  let pids;
  try {
    pids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return false;
  }
  return pids.some((pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // state ppid pgrp ...
      return Number(fields[2]) === pgid && fields[0] !== "Z";
    } catch {
      return false;
    }
  });
}

// 2./3. Load a module in this process (CommonJS or ESM).
function runModule(file) {
  log(`loading ${path.relative(APP_DIR, file)}`);
  // Stop on SIGTERM/SIGINT unless the app registered its own handler (then it decides).
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      if (process.listenerCount(sig) === 1) process.exit(0);
    });
  }
  // Load it as Node's main module, as `node <file>` would: `require.main === module` and
  // checks of process.argv[1] against import.meta.url then hold in the app too.
  process.argv[1] = file;
  const { runMain } = require("node:module");
  if (typeof runMain === "function") return runMain(file);
  import(pathToFileURL(file).href).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

// 4. A static single-page app: files from dist/, index.html for client-side routes.
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".otf": "font/otf",
  ".wasm": "application/wasm",
  ".webmanifest": "application/manifest+json",
  ".xml": "application/xml",
  ".pdf": "application/pdf",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
  ".mp3": "audio/mpeg",
};

function serveStatic(root) {
  root = fs.realpathSync(root);
  const port = Number(process.env.PORT) || 8080;

  function send(req, res, status, body, type) {
    res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  }

  // The regular file for a URL path, or null. Never anything outside root.
  function resolveFile(urlPath) {
    let rel;
    try {
      rel = decodeURIComponent(urlPath);
    } catch {
      return null;
    }
    if (rel.includes("\0")) return null;
    let file = path.join(root, path.normalize(rel));
    try {
      if (fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
      file = fs.realpathSync(file); // symlinks must not lead out of root either
      if (file !== root && !file.startsWith(root + path.sep)) return null;
      return fs.statSync(file).isFile() ? file : null;
    } catch {
      return null;
    }
  }

  function sendFile(req, res, file, stat) {
    const headers = {
      "Content-Type": TYPES[path.extname(file).toLowerCase()] || "application/octet-stream",
      "Content-Length": stat.size,
      "Last-Modified": stat.mtime.toUTCString(),
      "X-Content-Type-Options": "nosniff",
      // Vite puts content-hashed files under assets/; everything else may change between deploys.
      "Cache-Control": file.startsWith(path.join(root, "assets") + path.sep)
        ? "public, max-age=31536000, immutable"
        : "no-cache",
    };
    if (req.headers["if-modified-since"] === headers["Last-Modified"]) {
      res.writeHead(304, { "Cache-Control": headers["Cache-Control"] });
      return res.end();
    }
    res.writeHead(200, headers);
    if (req.method === "HEAD") return res.end();
    fs.createReadStream(file)
      .on("error", () => res.destroy())
      .pipe(res);
  }

  const server = http.createServer((req, res) => {
    const urlPath = (req.url || "/").split("?")[0].split("#")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return send(req, res, 405, "method not allowed\n", "text/plain; charset=utf-8");
    }
    if (urlPath === "/healthz") return send(req, res, 200, "ok", "text/plain; charset=utf-8");

    let file = resolveFile(urlPath);
    // Client-side routes (no file extension, or a browser asking for a page) get index.html;
    // a missing asset is a 404.
    const wantsPage = !path.extname(urlPath) || /text\/html/.test(req.headers.accept || "");
    if (!file && wantsPage) file = path.join(root, "index.html");
    let stat;
    try {
      stat = file && fs.statSync(file);
    } catch {
      stat = null;
    }
    if (!stat || !stat.isFile()) return send(req, res, 404, "not found\n", "text/plain; charset=utf-8");
    sendFile(req, res, file, stat);
  });

  server.listen(port, "0.0.0.0", () => log(`serving ${path.relative(APP_DIR, root)}/ on :${port}`));
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      server.close(() => process.exit(0));
      if (server.closeIdleConnections) server.closeIdleConnections();
      setTimeout(() => process.exit(0), 3000).unref();
    });
  }
}

function main() {
  const pkg = readPackage();
  const start = pkg.scripts && pkg.scripts.start;
  if (typeof start === "string" && start.trim()) return runScript(start);

  const candidates = [];
  if (typeof pkg.main === "string" && pkg.main) candidates.push(pkg.main);
  candidates.push("server.js", "index.js", "app.js");
  for (const name of candidates) {
    let file;
    try {
      file = require.resolve(path.resolve(APP_DIR, name));
    } catch {
      if (name === pkg.main) log(`package.json main "${name}" not found`);
      continue;
    }
    return runModule(file);
  }

  const dist = path.join(APP_DIR, "dist");
  if (fs.existsSync(path.join(dist, "index.html"))) return serveStatic(dist);

  log("nothing to run: add a start script or main to package.json, a server.js/index.js/app.js, " +
      "or a build script that writes dist/index.html");
  process.exit(1);
}

main();
