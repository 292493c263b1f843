// plat dev for Node (templates/nodejs/dev/), run by plat's supervisor: starts the app as
// `npm start` would (scripts.start, else package.json main, server.js, index.js or app.js).
// A start script of the form `node <file>` and a plain file run in this process.
//
// Started with PLAT_DEV_READY=<file>, it is a standby: it loads the packages the app depends
// on (from /node_modules, which cannot change while the container lives), writes its pid to
// <file> and waits for SIGUSR2; only then does it load the app, so the source it runs is the
// one just saved. Node's startup is most of a restart. A start script that needs a shell
// cannot be run this way: the standby writes "no" and the supervisor stops making them.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { spawn } = require("node:child_process");

function readPackage() {
  try {
    return JSON.parse(fs.readFileSync("package.json", "utf8"));
  } catch {
    return {};
  }
}

function choose(pkg) {
  const start = pkg.scripts && pkg.scripts.start;
  if (typeof start === "string" && start.trim()) {
    const plain = /^\s*node\s+([\w./@-]+)\s*$/.exec(start);
    return plain ? { file: plain[1] } : { script: start };
  }
  const file = [pkg.main, "server.js", "index.js", "app.js"].find((f) => typeof f === "string" && f && fs.existsSync(f));
  return file ? { file } : null;
}

function run() {
  const choice = choose(readPackage());
  if (!choice) {
    console.error("plat dev: nothing to run: add a start script or main to package.json, or a server.js");
    process.exit(1);
  }
  if (choice.script) {
    const child = spawn("sh", ["-c", choice.script], { stdio: "inherit" });
    child.on("exit", (code, signal) => process.exit(code ?? 128 + (require("node:os").constants.signals[signal] || 0)));
    return;
  }
  const file = path.resolve(choice.file);
  process.argv[1] = file; // as `node <file>` would have it
  require("node:module").runMain(file);
}

const ready = process.env.PLAT_DEV_READY;
delete process.env.PLAT_DEV_READY;
if (!ready) {
  run();
} else {
  const pkg = readPackage();
  const choice = choose(pkg);
  if (!choice || choice.script) {
    fs.writeFileSync(ready, "no");
  } else {
    for (const dep of Object.keys(pkg.dependencies || {})) {
      try {
        require(require.resolve(dep, { paths: [process.cwd()] }));
      } catch {
        // ESM-only, or wants the app's context: it loads with the app instead
      }
    }
    const keepAlive = setInterval(() => {}, 1 << 30);
    process.once("SIGUSR2", () => {
      clearInterval(keepAlive);
      run();
    });
    fs.writeFileSync(`${ready}.tmp`, String(process.pid));
    fs.renameSync(`${ready}.tmp`, ready);
  }
}
