// The engine's Web Worker: the same wasm module as the page, started as the worker.
// A failure nothing else catches (a panic in wasm traps as `unreachable`)
// is reported to the page (news of its own, request 0), which starts a new
// worker and replays the session.
const crashed = what => self.postMessage(JSON.stringify({ id: 0, last: true, msg: { Crashed: { message: String(what) } } }));
self.addEventListener('error', e => crashed(e.message || e.error));
self.addEventListener('unhandledrejection', e => crashed((e.reason && e.reason.message) || e.reason));
// The page names the build (worker.js?pkg=pkg-mt&threads=N for the
// threaded one; its pool starts when a model loads on the CPU).
const dir = new URL(self.location.href).searchParams.get('pkg') === 'pkg-mt' ? 'pkg-mt' : 'pkg';
// (Pool threads load the same module: src/worker/threads.rs.)
self.glassboxGlue = new URL(`./${dir}/glassbox.js`, import.meta.url).href;
const glue = await import(self.glassboxGlue);
await glue.default();
glue.start_worker();
