// The engine's Web Worker: the same wasm module as the page, started as the worker.
// A failure nothing else catches (a panic in wasm traps as `unreachable`)
// is reported to the page (news of its own, request 0), which starts a new
// worker and replays the session.
const crashed = what => self.postMessage(JSON.stringify({ id: 0, last: true, msg: { Crashed: { message: String(what) } } }));
self.addEventListener('error', e => crashed(e.message || e.error));
self.addEventListener('unhandledrejection', e => crashed((e.reason && e.reason.message) || e.reason));
import init, { start_worker } from './pkg/glassbox.js';
await init();
start_worker();
