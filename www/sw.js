// Glassbox's service worker, for a page published on any static host:
// 1. Cross-origin isolation where the host cannot send the headers: the
//    responses it passes on get COOP same-origin and COEP require-corp, so
//    the page (after one reload on the first visit, see index.html) gets
//    shared memory and the CPU engine its threads.
// 2. Offline: the app shell (HTML, JS, wasm, CSS) is kept as it is fetched;
//    when the network fails, the kept copy answers. Network first, so a new
//    version is picked up on the next online visit. The model is not kept
//    here: the engine keeps it in its own cache (src/worker/cache.rs).
const SHELL = 'glassbox-shell-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', e => e.waitUntil(self.clients.claim()));

function isolated(res) {
  if (res.type === 'opaque' || res.type === 'opaqueredirect') return res;
  const headers = new Headers(res.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

self.addEventListener('fetch', e => {
  const req = e.request;
  const url = new URL(req.url);
  // Other origins, ranges and the model (the engine's own cache keeps it) go straight to the network.
  if (req.method !== 'GET' || url.origin !== self.location.origin || req.headers.has('range') || url.pathname.endsWith('.gguf')) return;
  e.respondWith((async () => {
    try {
      const res = await fetch(req);
      if (res.ok && res.type === 'basic') {
        const copy = res.clone();
        e.waitUntil(caches.open(SHELL).then(c => c.put(req, copy)).catch(() => {}));
      }
      return isolated(res);
    } catch (err) {
      const kept = await caches.match(req, { ignoreSearch: true, cacheName: SHELL });
      if (kept) return isolated(kept);
      throw err;
    }
  })());
});
