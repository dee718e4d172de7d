// A thread of the CPU engine's pool (src/worker/threads.rs): the engine
// worker's wasm module, instantiated on the engine worker's (shared) memory,
// serving the pool until the engine worker ends.
self.addEventListener('message', async ({ data }) => {
  try {
    const glue = await import(data.glue);
    glue.initSync({ module: data.module, memory: data.memory });
    self.postMessage('ready');
    try {
      glue.serve_pool();
    } catch (e) {
      // A panic traps here: the engine thread must not wait for this thread's task.
      glue.pool_thread_failed();
      throw e;
    }
  } catch (e) {
    self.postMessage(`a pool thread failed: ${e && e.message || e}`);
  }
}, { once: true });
