// The engine's Web Worker: the same wasm module as the page, started as the worker.
import init, { start_worker } from './pkg/glassbox.js';
await init();
start_worker();
