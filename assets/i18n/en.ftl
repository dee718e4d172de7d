# Glassbox — every string the page shows, in English.
# Placeables: { $name }. Numbers arrive formatted unless a plural needs them.

## Header and status
app-name = Glassbox
tagline = A real language model running on your own GPU — watch every attention weight and every next-token probability, one step at a time.
dismiss = Dismiss
language = Language
status-starting = Starting the engine…
status-bytes = { $phase }: { $done } / { $total } MB
status-phase = { $phase }…
phase-download = Downloading the model
phase-cache = Reading the model from the browser cache
phase-parse = Reading the GGUF file
phase-shaders = Starting WebGPU and compiling shaders
phase-upload = Uploading weights
status-loaded = model loaded in { $s } s
status-loaded-cache = model loaded in { $s } s from the browser cache
status-offline = offline: using the kept copy
status-no-webgpu = WebGPU is not available in this browser, so the model runs on the CPU in a worker: slower, same tokens
status-failed = Could not load the model: { $msg }
worker-failed = engine worker: { $msg }
worker-start-failed = could not start the engine worker: { $msg }

## Controls
controls-aria = Prompt and generation
prompt = Prompt
prompt-placeholder = Type a prompt, then Step
mode = Mode
mode-raw = Raw completion
mode-chat = Chat (ChatML template)
max-tokens = Max tokens
step = Step
step-title = Step (→ or s)
play = Play
pause = Pause
play-title = Play / Pause (space)
undo = Undo
undo-title = Undo (Backspace or u)
reset = Reset
decoding = Decoding
decoding-greedy = Greedy (argmax)
decoding-sample = Sample
decoding-beam = Beam search
beam-width = width
beam-width-aria = Beam width
beam-steps = steps
beam-steps-aria = Beam steps
length-penalty = length penalty α
length-penalty-aria = Length penalty
length-penalty-title = rank hypotheses by score / length^α
temperature = temperature
temperature-aria = Temperature
top-k = top-k
top-k-aria = Top-k
top-p = top-p
top-p-aria = Top-p
seed = seed
seed-aria = Seed
stopped = Stopped: { $why }.
stop-eos = end of sequence
stop-max = { $n } tokens generated (the maximum)
stop-context = the context is full ({ $n } tokens): Undo or Reset to go on
stop-prompt = enter a prompt first
stop-beam = the beam search is over

## Tokens
tokens = Tokens
tokens-count = { $prompt } prompt + { $generated } generated
generated-text = Generated text
prob-colours = colour by the probability the model gave each token
perplexity = perplexity { $ppl } over { $n } tokens
perplexity-title = exp of the mean negative log-probability of the tokens after the first
chip = position { $pos } · id { $id }
chip-forced = forced
chip-click = click to look inside this position
chip-predicted = position { $pos } · id { $id } · p = { $p } · rank { $rank } · the model expected: { $alts }

## Next token
next-token = Next token
next-heading = probability · logit — click one to force it
next-heading-ablated = probability with { $n ->
    [one] { $n } head
   *[other] { $n } heads
} off · Δ from all heads on (pp) — click one to force it
next-empty = Step to see what the model expects next.
force-aria = Force { $token } (p = { $p })
with-all-heads = with every head on: { $p }%
delta-title = change from switching the heads off (percentage points)
greedy-note = Greedy decoding takes the arg-max: the first row, every time.
sampling-working = Working out the sampler's distribution…
sampling-heading = sampling: model p · after temperature · what the draw uses
sampling-info = Temperature { $t } reshapes the distribution (logits ÷ T), then top-k { $k } and top-p { $p } keep { $n ->
    [one] { $n } token
   *[other] { $n } tokens
} holding { $mass }% of it; the draw picks among them in proportion to the renormalized probabilities.
off = off
cut-k = top-k = { $k } cuts here
cut-p = top-p = { $p } cuts here
model-p-title = the model's own probability: { $p }%
col-p1-title = the model's probability (temperature 1)
col-pt-title = after the temperature
col-p-title = what the draw uses: renormalized over the tokens top-k and top-p keep
cut = cut
draw-in = The last step drew u = { $u }: it fell in { $token }'s share [{ $a }, { $b }) of the renormalized distribution, so { $token } was taken.
draw-beyond = The last step drew u = { $u }, which fell on { $token }, beyond the first 10 tokens.

## Speed and memory
hud = Speed
hud-prefill = prefill
hud-prefill-title = prompt tokens per second through the model
hud-decode = decode (engine)
hud-decode-title = forward passes per second, recent steps
hud-play = Play
hud-play-title = tokens per second a user sees during Play
hud-backend = backend
hud-backend-title = where the model runs
hud-threads = threads
hud-threads-title = the CPU engine's threads: Web Workers sharing the model's memory, one output row each at a time, so every number is the same on any count (?threads=N sets it)
threads-gpu = GPU
threads-why-asked = one thread: the address asks for it (?threads=1)
threads-why-isolation = one thread: this page is not cross-origin isolated (its server sends no COOP/COEP headers, and no service worker added them), so the browser gives it no shared memory
threads-why-build = one thread: this copy of the page was built without the threaded module
threads-why-core = one thread: this machine reports one core
threads-why-pool = one thread: the thread pool did not start ({ $error })
hud-engine = engine step
hud-engine-title = the last step's forward pass
hud-e2e = click → painted
hud-e2e-title = from Step to the new token's attention drawn
hud-overhead = page overhead
hud-overhead-title = median of (click → painted − engine step) over recent steps
hud-context = context
hud-context-title = positions used / the model's context
hud-reads = readbacks a token
hud-reads-title = during Play on a GPU: readbacks from the device per token, and the bytes each token brought back (the GPU computes several steps to a submission and picks each token itself; ?ahead=N sets the steps)
hud-profile = GPU time by kernel
hud-profile-title = ?profile: the GPU's time per kernel since the last question (after each step), from timestamp queries, with how many dispatches; timing makes each dispatch a pass of its own, a little slower
hud-profile-none = this device has no timestamp queries (or the model runs on the CPU)
hud-memory = engine memory
hud-memory-title = the worker's WebAssembly memory, its GPU buffers (weights included) and the attention caches
mem-gpu = GPU
mem-caches = caches

## Attention panel
attention = Attention
loading = Loading…
attention-formula = softmax(q·kᵀ/√{ $d }), causal
tab-heatmap = Heatmap
tab-grid = All heads
tab-lines = Lines
layer = Layer
head = Head
head-title = query head { $h } reads key/value head { $g }
head-aria = Head { $h }
switched-off = switched off
toggle-head-title = Set this head's output to zero before W_o, in every position; the sequence is recomputed
head-off = Switch head { $lh } off
head-on = Switch head { $lh } back on
restore-all = Restore all ({ $n } off)
ablated-info = off: { $heads } · recomputed in { $ms } ms
gqa = { $n } query heads share { $kv } key/value heads (grouped-query attention): heads 0–{ $last } read KV head 0, and so on. Head { $h } reads KV head { $g }.
legend = colour ∝ √weight

## Heatmap
heatmap-help = Hover a cell: row = query (the token looking), column = key (the token looked at). Click a row to follow that query; wheel or ± to zoom, drag to pan.
cell = query { $q } { $tq } → key { $k } { $tk }: { $w }
cell-masked = query { $q } { $tq } cannot see key { $k } { $tk } (causal mask)
heatmap-window = queries { $r0 }–{ $r1 } × keys { $c0 }–{ $c1 } of { $len }
heatmap-sampled = 1 of every { $step } positions shown (sampled)
heatmap-aria = Attention heatmap, layer { $l } head { $h }
zoom-in = Zoom in
zoom-in-label = +
zoom-out = Zoom out
zoom-out-label = −
fit = Show the whole sequence
fit-label = Fit
end = Go to the newest tokens
end-label = End

## All heads, lines
kv-head = KV head { $g }
grid-click = A click
grid-open = opens the head
grid-toggle = switches it off / on
grid-shift = (or shift+click)
grid-hover-open = layer { $l } · head { $h } (KV head { $g }) { $off } — click to open
grid-hover-toggle = layer { $l } · head { $h } (KV head { $g }) { $off } — click to switch it off / on
grid-help = Layers 0 (top) to { $last_layer } (bottom), query heads 0 to { $last_head } left to right, grouped by the KV head they share. Each thumbnail samples { $n } × { $n } of the { $len } × { $len } weights.
grid-aria = All heads of all layers; click one to open it
step-to-see = Step to see attention.
lines-hidden = Keys 0–{ $last } (not drawn) hold { $w } of query { $q }'s weight.
lines-aria = Attention of token { $q } in layer { $l } head { $h }

## Inside one step
inside = Inside one step
inside-help = click a heatmap row or a token to choose the position
tab-math = The math of this head
tab-lens = Logit lens
tab-residual = Residual stream
role-colour-by = Colour by what each head does:
role-none = attention
role-previous = previous token
role-sink = sink
role-duplicate = duplicate
role-induction = induction
role-title = Layer { $l } head { $h }: previous { $p } · sink { $s } · duplicate { $d } · induction { $i }
role-computing = Measuring what every head does (once per model)…
role-head = Layer { $l }, head { $h }:
role-clear = its clearest habit is { $role }.
role-unclear = no habit is clear (every score is below its threshold).
role-previous-means = mean weight on the token just before, on an ordinary text (a previous-token head; clear from 0.4)
role-sink-means = mean weight on the first token, where heads park attention they do not need (clear from 0.9)
role-duplicate-means = on random tokens repeated, mean weight on the same token's first copy (clear from 0.3)
role-induction-means = on random tokens repeated, mean weight on the token that followed the first copy: it continues a pattern seen once (clear from 0.3)
role-evidence = This head on { $n } random tokens, then the same { $n } again ({ $start } …): in the second copy's rows, a duplicate head draws a stripe { $n } columns left of the diagonal (the same token the first time), an induction head one column to its right, { $m } left of the diagonal (the token that followed it).
role-hide = hide the roles
role-caveat = A score is a habit measured on two fixed sequences, not a proof of what the head does in your prompt.
tab-flow = Information flow
flow-empty = Step once: then this shows how information reached each position.
flow-help = Each layer adds to every position's residual stream: through each head, a weighted mix of earlier positions' values, and through the FFN, something computed from the position alone. Each line is one such contribution that carried a large share of the update at its layer (its length against the sum of all of them), drawn only if it leads, layer by layer, to the chosen position at the top. Colours are the key/value groups of the heads; orange is the FFN; grey is the residual stream. Hover a line for its head and share; click it to open the head.
flow-threshold = Keep contributions of at least
flow-count = { $t } of the update: { $n } contributions ({ $cross } from other positions) lead to position { $pos } { $tok }.
flow-aria = How information flowed to position { $pos }, layer by layer
flow-earlier = earlier
flow-edge-head = Layer { $l } head { $h }: position { $from } → { $to }, { $share } of the update
flow-edge-ffn = Layer { $l } FFN at position { $to }: { $share } of the update
flow-caveat = A share measures how large a contribution is, not which way it points: contributions can cancel, and a line is not a causal proof. Switching a head off is the experiment.
tab-why = Why this token
attr-empty = Step once: then this shows why the model gave the next token its score.
attr-help = The last layer's residual stream is a sum: the token's embedding, what every head writes through W_o, and what every feed-forward block adds. With the final RMSNorm's scale held at its actual value, the logit of a candidate splits exactly into one part per component: red parts push it up, blue parts push it down. Click a head to open it.
attr-target = Why
attr-versus = and not
attr-versus-none = (no comparison)
attr-summary = The logit of { $tok } after position { $pos } { $at } is { $logit }; its parts add up to { $sum }.
attr-summary-versus = { $tok } beats { $other } after position { $pos } { $at } by { $diff } in logit; each part is its share of that difference.
attr-grid-aria = Each of { $l } layers: the direct effect of its { $h } heads and its feed-forward block on the logit
attr-legend = Red: pushes the token up; blue: down; the deepest colour is ±{ $max }. Rows are layers, columns the heads (0, 1, …) and the FFN.
attr-up = Pushes it up most
attr-down = Pushes it down most
attr-running = Running sum over the layers
attr-embed = the token's embedding
attr-embed-short = embed
attr-head = layer { $l } head { $h }
attr-ffn = layer { $l } FFN
attr-caveat = What this is and is not: each part is a component's direct path to the output, a linearization at this input with the norm's scale frozen. A head whose output is read by later layers also acts through them, and that shows up in their parts. To see what a head causes, switch it off and watch the logit.
computing = Computing…
residual-empty = Step to see the residual stream.
layer-n = layer { $l }
residual-attn = layer { $l } attention: ‖update‖ = { $v }
residual-ffn = layer { $l } FFN: ‖update‖ = { $v }
residual-info = Position { $pos } { $tok }: the size (L2 norm) of what each layer adds to the residual stream —
residual-attention = attention
residual-feedforward = feed-forward
residual-scale = (bar length ∝ √norm; hover for the value).
residual-aria = Residual stream updates at position { $pos }: { $n } layers

## The math of one head
math-computing = Computing this head's numbers…
math-empty = Step to see the math of one head.
math-query = Query { $pos } { $tok }, layer { $l }, head { $h } (reads key/value head { $g }).
math-hover = Hover any cell for its value.
math-1 = The residual stream entering the layer: rms = { $rms }, normalised (RMSNorm × gain):
math-first = first { $n } of { $d }
math-2 = q = W_q · normed, this head's { $d } numbers, before and after RoPE (pair i turns by { $pos } · θᵢ):
math-before = before
math-after = after
math-angles = angles θ·pos: { $a } rad
math-3 = Each key k (from KV head { $g }, also turned by RoPE): q·k, then ÷ √{ $d } = { $sqrt }, softmax over the keys it can see, and each value v weighted:
math-key = key
math-token = token
math-hidden = … { $n } more keys (the { $shown } heaviest are shown) hold { $w } of the weight.
math-mask = Causal mask: { $n ->
    [one] the 1 later position gets
   *[other] the { $n } later positions get
} score −∞, weight 0.
math-mask-none = Causal mask: no later positions yet.
math-4 = The head's output o = Σ wⱼ vⱼ:
math-5 = Its contribution to the residual stream, W_o · o ({ $n } numbers), ‖·‖ = { $norm }:
math-6 = Then the layer's feed-forward block (SwiGLU), ‖output‖ = { $norm }; its strongest neurons here:
neuron-title = neuron { $n } = silu(gate)·up = { $v }

## Logit lens
lens-empty = Step to see what each layer predicts.
lens-computing = Computing the lens ({ $layers } layers × the newest positions)…
position-n = position { $pos }
lens-next = next token { $tok }: { $p }% (rank { $rank })
lens-cell = layer { $l }, position { $pos }:
lens-info = Positions { $p0 }–{ $p1 }: the top token each layer would predict (colour = its probability); outlined: the first layer that already predicts the final answer. The last row is the model's own prediction.
lens-aria = Logit lens: layers by positions
lens-layer = layer

## Beam search
beam = Beam search
beam-heading = { $n } steps — click a node to follow that branch
beam-heading-done = { $n } steps, done — click a node to follow that branch
beam-node = step { $step } · { $tok } · log p { $logp } · score { $score }
beam-finished = finished (end of sequence)
beam-pruned = pruned
beam-best = on the best path
beam-alternatives = the top 5 at this point:
beam-best-line = Beam: { $text }  (log p { $logp })
beam-greedy-line = Greedy: { $text }  (log p { $logp })
beam-better = Beam search found a sequence { $x }× more likely than greedy's.
beam-same = Here beam search found nothing more likely than greedy.
beam-aria = Beam search tree: { $n } nodes
beam-prompt = prompt →

## The guided tour
tour-start = Take the tour
tour-counter = { $i } / { $n }
tour-close = Close the tour
tour-back = Back
tour-next = Next
tour-done = Done
tour-map-title = 1 · The whole model
tour-map = This is the whole model at one glance, for the last token, { $last }: it enters at the top as its embedding row, then the residual stream runs down the spine through all { $layers } layers. Each layer adds two updates: attention ({ $heads } heads sharing { $kv } key/value heads, each coloured by its share) and the feed-forward block. The numbers on the spine are the stream's size; the grey ones are position 0's, huge from the first layers on: the "attention sink" many heads rest on. At the bottom, the output matrix and a softmax over { $vocab } tokens give the next token. Click any box to open it; the tour now walks through each part.
tour-tokens-title = 2 · Tokens and ids
tour-tokens = The model never sees letters. Your text is cut into { $n } tokens, each a piece of a word from a vocabulary of { $vocab }, and each piece is just a number: the last one, { $last }, is token { $id }. Everything that follows is arithmetic on these numbers.
tour-embedding-title = 3 · Embeddings
tour-embedding = Each token number picks one row of a table of { $dim } numbers: its embedding, the token's starting point. That vector is the residual stream, which every layer reads and adds to. Step 1 of the panel below shows it entering a layer.
tour-qkv-title = 4 · Query, key, value
tour-qkv = In every layer each position turns its vector into three: a query q (what am I looking for?), a key k (what do I offer?) and a value v (what do I pass on?). Each of the { $heads } heads has its own q, k and v of { $d } numbers. Shown here: layer { $l }, head { $h }, with the real numbers.
tour-scaled-title = 5 · The scaled dot product
tour-scaled = A query scores every key with the dot product q·k. Dividing by √d_k, here √64 = 8, keeps the scores from growing with the vector size, so the softmax stays smooth. The columns q·k and ÷8 hold this head's scores.
tour-mask-title = 6 · The causal mask
tour-mask = While writing, the model may only look back. Keys after the query get the score −∞ and so the weight 0: the grey triangle above the diagonal. Each row is one query position, each column a key it may read.
tour-softmax-title = 7 · Softmax: scores become weights
tour-softmax = Softmax turns each row of scores into weights that are positive and add up to 1. Right now head { $h } of layer { $l } gives { $w } of the last token's attention to { $key }. The output is the weighted mix of the values.
tour-softmax-plain = Softmax turns each row of scores into weights that are positive and add up to 1, so that a row of the heatmap says how a query shares its attention. The output is the weighted mix of the values.
tour-heads-title = 8 · Many heads, shared keys and values
tour-heads = Each layer has { $heads } heads that attend at the same time, each in its own way: here are all { $total }. To save memory, this model keeps only { $kv } sets of keys and values per layer, shared by groups of three query heads (grouped-query attention); head { $h } reads set { $g }.
tour-roles-title = 9 · Find the induction heads
tour-roles = Heads develop habits, and Glassbox measures them on the model itself: how much a head looks at the previous token, parks its attention on the first one, or finds an earlier copy of the current token. The grid is coloured by the induction score: on 30 random tokens repeated, an induction head looks from each token of the second copy to the token that followed it the first time, so it can continue a pattern it has seen once. Its evidence below is a stripe just off the diagonal; badges mark each head's clearest habit.
tour-ffn-title = 10 · The feed-forward block
tour-ffn = After attention, each position goes alone through a feed-forward block: SwiGLU widens its { $dim } numbers to { $ffn }, gates them and narrows them back. Much of what the model knows lives here. The bars show how much each layer's attention and feed-forward add.
tour-residual-title = 11 · Residual stream and RMSNorm
tour-residual = No block replaces the stream: each adds its output to it, after scaling its own input with RMSNorm (divide by the root mean square, multiply by a learned gain). The logit lens reads the stream after every layer, to see where the prediction takes shape.
tour-logits-title = 12 · Logits and the final softmax
tour-logits = At the top, the last position's stream is compared with every one of the { $vocab } token embeddings: one logit each. Softmax turns them into probabilities; right now the most likely next token is { $top } with { $p }.
tour-why-title = 13 · Why this token
tour-why = Why { $top } and not another token? The last layer's stream is the sum of what the embedding, every head and every feed-forward block wrote, so its logit splits into one part per component. The grid colours each head and FFN by how hard it pushed the token up (red) or down (blue); click a head to see what it attends to. A part is a direct effect only: to test a head, switch it off.
tour-flow-title = 14 · How information flowed
tour-flow = How did the words before reach this position? Each layer adds to every position's stream through its heads, which mix earlier positions, and through its FFN. The graph keeps the contributions that carried a large share of an update and lead to the chosen position, so you can follow information from the words to the prediction. The slider trades detail for clarity.
tour-decoding-title = 16 · Decoding
tour-decoding = Decoding picks the token: greedy takes the most likely one, sampling draws at random (temperature, top-k and top-p shape the odds), beam search follows the { $width } best sequences at once. The chosen token is appended and the whole pass runs again: this is autoregressive generation.

## Share, save, open
share = Share
share-title = Copy a link that replays this session: prompt, settings, steps, forced tokens, heads off, the selected view and language
save = Save session
save-title = Download the session as a JSON file (settings, tokens, the candidates of every step)
open = Open session…
open-title = Open a saved session file (or drop it on the page)
shared-link = Link to this session
link-copied = Link copied.
link-too-long = This session is too long for a link ({ $n } characters; the most is { $max }): use Save session instead.
link-damaged = This link is damaged: its parameter “{ $param }” has the value “{ $value }”, which Glassbox does not write. The page starts empty.
replay-too-long = This session takes { $n } steps, but the context holds { $ctx } positions: it cannot be replayed here. The page stays as it is.
replay-not-now = A model is still loading: open the link or file again once it is ready.
file-not-session = This file is not a Glassbox session ({ $why }). Nothing was changed.
file-newer = This session was saved by a newer Glassbox (schema { $v }). Nothing was changed.
file-other-model = This session was made with { $file }, but this page runs { $page }. Nothing was changed.
file-edited = This session file was edited: its generated token { $i } is { $file }, but its settings give { $model }. The previous session was put back.

## Exports
export = Export:
export-what = attention, layer { $l } head { $h }
export-grid = attention, every head of every layer (sampled thumbnails)
export-csv-title = This head's attention matrix as CSV, with the token texts
export-json-title = This head's attention matrix as JSON, with the token texts
export-too-long = One head's matrix past { $max } tokens is more numbers than one answer holds: export the heatmap (PNG) of a zoomed window instead
map-failed = The attention map could not be computed: { $why }
export-all = JSON, all heads
export-all-title = Every head's matrix as JSON (up to { $max } tokens)

## Your own model (model bar)
phase-read = Reading your file
model-aria = Model
model-label = Model:
model-open = Open a model…
model-served = served with this page
model-kept = kept in this browser
model-once = opened from your disk, used once
model-use = Use
model-remove = Remove
model-use-served = Use the served model
model-kept-list = Kept in this browser ({ $n })
model-local = read on this computer; nothing is uploaded
model-url = From a URL…
model-url-label = Address of a GGUF file
model-url-go = Download and check
model-url-bad = Give the http:// or https:// address of a .gguf file.
model-remote = downloaded from { $host } into this browser; nothing is uploaded
model-from = from { $host }
model-url-failed = { $name } could not be opened: { $why } { $detail } The page uses its own model instead.
model-checked = Checked: every tensor this engine reads is present, has its shape and a format it computes with. Nothing has gone to the GPU yet.
model-arch = Architecture
model-params = Weights
model-layers = Layers
model-heads = Heads
model-heads-value = { $q } query heads, { $kv } key/value heads, { $d } wide
model-width = Widths
model-width-value = residual { $d }, feed-forward { $ffn }
model-vocab = Vocabulary
model-vocab-value = { $n } tokens (pre-tokenizer “{ $pre }”)
model-context = Context
model-rope = RoPE base
model-output = Output matrix
model-tied = the embedding, reused (tied)
model-untied = its own (output.weight)
model-formats = Formats
model-tensors = { $n ->
    [one] 1 tensor
   *[other] { $n } tensors
}
model-needs = Needs
model-needs-value = { $w } of weights, plus { $kv } of key/value cache at the full { $ctx } tokens
model-cpu-only = Too big for this GPU: { $why }. Load runs it on the CPU instead.
model-keep = Keep it in this browser (it loads from here next time; remove it any time)
model-load = Load this model
model-cancel = Cancel
model-still = The page keeps using { $model }.
model-missing = The model “{ $name }” kept earlier is no longer in this browser, so the served model was loaded. Open the file again to use it.
model-not-kept = This browser could not keep the model (storage full, or a private window): it will be downloaded again next time.
context-capped-gpu = The page uses { $n } positions of this model's context: longer caches would not fit one of this GPU's buffers.
context-capped-memory = The page uses { $n } positions of this model's context: longer caches would not fit the page's memory beside the weights.
link-other-model = This link was made with the model “{ $name }”. Open that file (Open a model…) and keep it, then open the link again to replay it.
open-err-not-gguf = this is not a GGUF file.
open-err-truncated = the file is incomplete (it ends before what its header promises); was the download interrupted?
open-err-version = this GGUF version is not supported.
open-err-damaged = the GGUF file is damaged.
open-err-architecture = this is not a Llama-family model.
open-err-type = a tensor uses a weight format this engine does not compute with (it computes with F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K).
open-err-tokenizer = its tokenizer is not one this engine implements.
open-err-model = the model uses something this engine does not implement.
open-err-too-big = the file is too big for this browser.
open-err-unreadable = the file could not be read to the end.
open-err-other = the model could not be loaded.
open-err-cors = the server at { $host } does not allow pages on other sites to read this file (it sends no Access-Control-Allow-Origin header). Download the file and open it from your disk, or put it where such reading is allowed (Hugging Face “resolve” links are).
open-err-not-found = the server at { $host } has no file at that address (HTTP 404).
open-err-http = the server at { $host } refused the download.
open-err-network = the network dropped, or { $host } could not be reached.

## Faults
device-lost = The GPU stopped working for this page ({ $msg }). Continue on the CPU (slower, same tokens: your session is replayed there), or reload the page.
continue-cpu = Continue on the CPU
reload = Reload
engine-restarted = The engine stopped ({ $msg }). A new one was started and your session replayed.

## Settings that are not allowed
field-invalid = { $field } takes { $allowed }; kept { $kept }.
allowed-range = a number from { $min } to { $max }
allowed-whole = a whole number from { $min } to { $max }
allowed-top-k = a whole number from 0 (off) to { $max }
allowed-top-p = a number above 0 and at most 1
allowed-seed = a whole number from 0
tab-patch = Patching
patch-help = Change one word and see which part of the network carries the difference. Give a clean prompt and a corrupted one with the same number of tokens. The model runs the corrupted prompt again and again, each time with one piece of the clean run copied in. Each cell shows how likely the clean run's answer is then. A bright cell is a piece that brings the answer back.
patch-clean = Clean prompt
patch-corrupt = Corrupted prompt
patch-corrupt-hint = the same prompt with one word changed
patch-run = Run
patch-example = Example: the Eiffel Tower and the Colosseum
patch-cancel = Cancel
patch-progress = { $done } of { $total } parts · { $s } s
patch-stopped = Stopped after { $done } of { $total } parts.
patch-done = All { $total } parts in { $s } s.
patch-residual = Residual stream
patch-heads = Heads
patch-ffn = FFN
patch-head-n = head { $h }
patch-pos = position { $pos } { $tok }
patch-cell = Layer { $l }, { $where }: p = { $p } ({ $r } of the way back to the clean run)
patch-target = Tracking { $tok }: p = { $clean } after the clean prompt, { $corrupt } after the corrupted one.
patch-choose = Track another token:
patch-restoration = show the share restored, (p − corrupted) / (clean − corrupted)
patch-top-patched = With this piece patched in
patch-top-clean = Clean run
patch-top-corrupt = Corrupted run
patch-click = Click a cell to see that run's top five tokens.
patch-residual-means = A cell is the whole residual stream at one position after one layer, copied from the clean run. Early layers carry the answer at the changed words; late layers carry it at the last position, where the answer is read out.
patch-heads-means = A cell is one head's output at every position, copied from the clean run. Most heads alone change little: the answer is spread over many.
patch-ffn-means = A cell is one feed-forward block's output at one position, copied from the clean run.
tour-patch-title = 15 · Which part carries the answer
tour-patch = Change one word and watch what changes. The clean prompt names the Eiffel Tower, the corrupted one the Colosseum, and the model then says Paris or Rome. Copy one piece of the clean run into the corrupted one and see whether Paris comes back. Early on, the answer lives at the subject's last token; in the late layers it has moved to the last position. This is causal tracing, the experiment behind ROME.
branches-title = Branches: the same prompt decoded five ways
branches-help = Greedy decoding, sampling at three temperatures (each with its own seed), and a beam search, side by side from the prompt. The highlighted row is where they part. Hover a token for the model's top five at that point in that branch; "Use this branch" makes it the page's sequence.
branches-steps = Tokens per branch
branches-greedy = greedy
branches-sample = T { $t } · seed { $seed }
branches-beam = beam of { $w }
branches-use = Use this branch
branches-parts = The branches part at token { $i }.
branches-agree = All of them agree for { $n } tokens.
branches-empty = Step once: the branches start from the prompt.
branches-top = The model's top five here:

## Compare mode (two prompts side by side)
compare = Compare with a second prompt
compare-title = Decode a second prompt, B, beside this one, A, in lock step: Step, Force and Undo act on both, with the same settings and heads, and the views show both and the difference
prompt-b = Prompt B
prompt-b-placeholder = The second prompt: change one word of A
side-a = A
side-b = B
shown-aria = Which sequence the attention views show
shown-a = A
shown-b = B
shown-diff = B − A
shown-diff-lengths = B − A needs as many tokens on both sides (A has { $a }, B has { $b })
shown-diff-legend = orange: B attends more than A; blue: less
shown-grid-a = (all heads: A)
force-both-aria = Force { $token } on both sides (A { $a }, B { $b })
col-pa-title = probability after A
col-pb-title = probability after B
col-delta-title = B − A, in percentage points
compare-heading = A · B · Δ — click one to force it on both
compare-note = Every candidate of either side, with its probability under each prompt.
lens-compare = A and B at their last position
lens-compare-computing = Running the lens on both sequences…
lens-compare-parts = Their predictions part at layer { $l }: from there on, every layer's top token differs.
lens-compare-agree = Their predictions agree at the last layer.
attr-ab = A − B
attr-ab-title = Compare mode: subtract the same token's attribution after prompt B's last position, part by part: which heads and layers push it more after A than after B
attr-summary-ab = The logit of { $tok }: { $a } after A, { $b } after B ({ $diff }). Each part is its direct effect after A minus after B.
legend-diff = B − A, colour ∝ √|difference|; rows and columns are positions (A's tokens label them)

## The map of the whole network
map = The whole model
map-sub = one position, from the token to the probabilities
map-empty = Step to see the token go through every layer.
map-input = Position { $pos }: { $tok }, id { $id }, enters as its embedding row
map-embedding = embedding row
map-embed-norm = ‖x‖ = { $norm }
map-nearest = nearest tokens
map-col-spine = residual stream ‖x‖
map-col-first = at position 0
map-col-attn = attention · { $h } heads, { $kv } KV
map-col-ffn = FFN ‖update‖
map-fold = layers { $a }–{ $b } ({ $n } folded: open)
map-unfold = Open every layer
map-fold-all = Fold the middle layers
map-animate = Animate each step
map-head = Head { $h } of layer { $l } (KV head { $g }): { $share }% of the layer's attention update, ‖W_o·head‖ = { $norm }. Opens the heatmap and the math.
map-spine = After layer { $l }: ‖x‖ = { $norm } here, { $first } at position 0 (the attention sink). Opens the logit lens.
map-ffn = The FFN of layer { $l }: ‖update‖ = { $norm }; its strongest neuron, { $n }, writes { $w }. Opens its neurons.
map-aria = The model's { $l } layers of { $h } heads
map-out-tied = final RMSNorm → × the embedding matrix again (tied: { $vocab } × { $d }) → { $vocab } logits
map-out-own = final RMSNorm → × the output matrix (its own: { $vocab } × { $d }) → { $vocab } logits
map-samp-title = The sampling settings act here, on the logits, before the softmax and the draw. Opens the settings:
map-samp-greedy = T = 0: greedy
map-samp-temp = ÷ T = { $t }
map-samp-topk = top-k { $k }
map-samp-topk-off = top-k off
map-samp-topp = top-p { $p }
map-samp-topp-off = top-p off
map-samp-softmax = softmax
map-samp-argmax = argmax
map-samp-draw = draw (last: u = { $u })
map-samp-draw-next = draw (seed { $seed })
map-return = the new token is the next input
map-in-row = { $tok } · id { $id } → its embedding row ({ $d } numbers, ‖x‖ = { $norm })
map-hide = hide
map-show = show the map
map-roles = head roles
map-head-role = Its clearest habit: { $role }.
map-li-layer = layer { $l } · ‖x‖ { $norm }
map-li-ffn = FFN { $norm }
map-not-last = (the next token follows the last position)
map-caption = { $model } · position { $pos } { $tok }
map-neurons = The FFN of layer { $l } (‖update‖ = { $norm }): its strongest neurons here, each writing h × its column of W_down
map-neuron = neuron { $i }: h = { $h }, writes { $w }
map-open-residual = every layer's updates (the residual view)
