// plat dev: the Vite dev server (HMR) for a Flask app's frontend, next to the Flask container
// (it shares its network, so the backend is at 127.0.0.1:$PORT). The app's vite.config.js is
// loaded as usual; plat only adds what the container needs, on top of it:
//   - listen on 0.0.0.0:$PLAT_FRONTEND_PORT (published on the host's 127.0.0.1)
//   - the HMR websocket on the port the browser sees ($PLAT_FRONTEND_CLIENT_PORT)
//   - /api proxied to the Flask app
//   - caches in /tmp, and /node_modules (the image's) allowed, so nothing lands in the source
import { createServer, searchForWorkspaceRoot } from "vite";

const root = process.cwd();
const port = Number(process.env.PLAT_FRONTEND_PORT || 5173);
const clientPort = Number(process.env.PLAT_FRONTEND_CLIENT_PORT || port);
const backend = `http://127.0.0.1:${process.env.PORT || 8080}`;
const cacheDir = "/tmp/plat-vite";

const server = await createServer({
  root,
  cacheDir,
  clearScreen: false,
  server: {
    host: "0.0.0.0",
    port,
    strictPort: true,
    hmr: { clientPort },
    proxy: { "/api": { target: backend, changeOrigin: true } },
    fs: { allow: [searchForWorkspaceRoot(root), "/node_modules", cacheDir] },
  },
});
await server.listen();
console.log(`vite dev server on :${port} (HMR), /api -> ${backend}`);

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close().finally(() => process.exit(0)));
}
