//! The handle components use to reach the engine: `send` for what changes
//! the session, `ask` for what a view draws (answered with binary numbers),
//! `act` for page-only state. One mechanism for every view.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use web_sys::Worker;
use yew::prelude::*;

use crate::protocol::{Answer, Query, ToWorker};
use crate::web::state::{Action, State};

/// What a view receives: the answer, and the floats that came with it.
pub type Reply = (Answer, Option<Vec<f32>>);

#[derive(Clone)]
pub struct Link {
    worker: Rc<RefCell<Option<Worker>>>,
    dispatch: UseReducerDispatcher<State>,
    asks: Rc<RefCell<HashMap<u32, Callback<Reply>>>>,
    next_id: Rc<Cell<u32>>,
}

impl PartialEq for Link {
    fn eq(&self, o: &Link) -> bool {
        Rc::ptr_eq(&self.worker, &o.worker)
    }
}

/// Milliseconds since the page started (performance.now()).
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

impl Link {
    pub fn new(worker: Rc<RefCell<Option<Worker>>>, dispatch: UseReducerDispatcher<State>, asks: Rc<RefCell<HashMap<u32, Callback<Reply>>>>, next_id: Rc<Cell<u32>>) -> Link {
        Link { worker, dispatch, asks, next_id }
    }

    fn post(&self, msg: &ToWorker) -> bool {
        match self.worker.borrow().as_ref() {
            Some(w) => w.post_message(&JsValue::from_str(&serde_json::to_string(msg).expect("messages serialize"))).is_ok(),
            None => false,
        }
    }

    /// Send a message that changes the session; the page is busy until it is answered.
    pub fn send(&self, msg: ToWorker) {
        let timed = matches!(msg, ToWorker::Step | ToWorker::Force { .. } | ToWorker::Prefill { step: true, .. });
        // Messages that get no reply, or whose reply does not end a request.
        let quiet = matches!(msg, ToWorker::SetSampling { .. } | ToWorker::OpenCancel | ToWorker::Models | ToWorker::Forget { .. });
        if self.post(&msg) && !quiet {
            self.dispatch.dispatch(Action::Sent { step_at: timed.then(now_ms) });
        }
    }

    /// Ask the worker a read-only question about a sequence of `len`
    /// tokens; `reply` gets the answer (Stale if the sequence has changed).
    /// Returns the question's id.
    /// Send the user's file to the worker beside `msg` (`[json, File]`):
    /// the browser hands the worker a reference, and the bytes are read there.
    pub fn send_file(&self, msg: ToWorker, file: &web_sys::File) {
        if let Some(w) = self.worker.borrow().as_ref() {
            let pair = js_sys::Array::of2(&JsValue::from_str(&serde_json::to_string(&msg).expect("messages serialize")), file);
            let _ = w.post_message(&pair);
        }
    }

    pub fn ask(&self, len: usize, query: Query, reply: Callback<Reply>) -> u32 {
        let id = self.next_id.get().wrapping_add(1).max(1); // 0 means "none" to the views
        self.next_id.set(id);
        self.asks.borrow_mut().insert(id, reply);
        if !self.post(&ToWorker::Ask { id, len, query }) {
            self.asks.borrow_mut().remove(&id);
        }
        id
    }

    /// Called by the app when an answer arrives.
    pub fn deliver(asks: &RefCell<HashMap<u32, Callback<Reply>>>, id: u32, reply: Reply) {
        let cb = asks.borrow_mut().remove(&id);
        if let Some(cb) = cb {
            cb.emit(reply);
        }
    }

    /// A view has drawn what the first `len` tokens show (for the HUD's
    /// click-to-painted time).
    pub fn painted(&self, len: usize) {
        self.dispatch.dispatch(Action::Painted { len, at: now_ms() });
    }

    pub fn act(&self, a: Action) {
        self.dispatch.dispatch(a);
    }
}
