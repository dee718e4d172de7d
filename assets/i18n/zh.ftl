# Glassbox — 页面上的每一段文字（中文）。
# 占位符：{ $name }。数字一般已格式化好再传入。

## 标题与状态
app-name = Glassbox
tagline = 一个真正的语言模型在你自己的 GPU 上运行——一步一步地看清每个注意力权重、每个下一个词元的概率。
dismiss = 关闭
language = 语言
status-starting = 正在启动引擎…
status-bytes = { $phase }：{ $done } / { $total } MB
status-phase = { $phase }…
phase-download = 正在下载模型
phase-cache = 正在从浏览器缓存读取模型
phase-parse = 正在读取 GGUF 文件
phase-shaders = 正在启动 WebGPU 并编译着色器
phase-upload = 正在上传权重
status-loaded = 模型加载用时 { $s } 秒
status-loaded-cache = 模型从浏览器缓存加载，用时 { $s } 秒
status-offline = 离线：使用保存的副本
status-no-webgpu = 此浏览器不支持 WebGPU，模型改在后台线程的 CPU 上运行：较慢，但结果相同
status-failed = 无法加载模型：{ $msg }
worker-failed = 引擎线程：{ $msg }
worker-start-failed = 无法启动引擎线程：{ $msg }

## 控制
controls-aria = 提示词与生成
prompt = 提示词
prompt-placeholder = 输入提示词，然后点“单步”
mode = 模式
mode-raw = 直接续写
mode-chat = 对话（ChatML 模板）
max-tokens = 最多词元数
step = 单步
step-title = 单步（→ 或 s）
play = 播放
pause = 暂停
play-title = 播放 / 暂停（空格）
undo = 撤销
undo-title = 撤销（退格或 u）
reset = 重置
decoding = 解码方式
decoding-greedy = 贪心（取最大）
decoding-sample = 采样
decoding-beam = 束搜索
beam-width = 束宽
beam-width-aria = 束宽
beam-steps = 步数
beam-steps-aria = 束搜索步数
length-penalty = 长度惩罚 α
length-penalty-aria = 长度惩罚
length-penalty-title = 按 得分 / 长度^α 给假设排序
temperature = 温度
temperature-aria = 温度
top-k = top-k
top-k-aria = Top-k
top-p = top-p
top-p-aria = Top-p
seed = 种子
seed-aria = 随机种子
stopped = 已停止：{ $why }。
stop-eos = 序列结束
stop-max = 已生成 { $n } 个词元（上限）
stop-context = 上下文已满（{ $n } 个词元）：请撤销或重置后继续
stop-prompt = 请先输入提示词
stop-beam = 束搜索已结束

## 词元
tokens = 词元
tokens-count = 提示 { $prompt } 个 + 生成 { $generated } 个
generated-text = 生成的文本
prob-colours = 按模型给每个词元的概率着色
perplexity = 困惑度 { $ppl }（共 { $n } 个词元）
perplexity-title = 第一个之后各词元负对数概率的平均值，再取指数
chip = 位置 { $pos } · 编号 { $id }
chip-forced = 强制选定
chip-click = 点击查看这个位置的内部
chip-predicted = 位置 { $pos } · 编号 { $id } · p = { $p } · 排名 { $rank } · 模型原本预期：{ $alts }

## 下一个词元
next-token = 下一个词元
next-heading = 概率 · logit——点击其中一个即可强制选用
next-heading-ablated = 关闭 { $n } 个头后的概率 · 与全部头开启时之差（百分点）——点击即可强制选用
next-empty = 单步运行后，这里会显示模型预期的下一个词元。
force-aria = 强制选用 { $token }（p = { $p }）
with-all-heads = 全部头开启时：{ $p }%
delta-title = 关闭这些头带来的变化（百分点）
greedy-note = 贪心解码每次都取概率最大的一项：也就是第一行。
sampling-working = 正在计算采样器看到的分布…
sampling-heading = 采样：模型概率 · 温度之后 · 抽样实际使用
sampling-info = 温度 { $t } 改变分布的形状（logits ÷ T），然后 top-k { $k } 和 top-p { $p } 留下 { $n } 个词元，占其中 { $mass }% 的概率；抽样按重新归一化后的概率在它们之中选取。
off = 关
cut-k = top-k = { $k } 在此截断
cut-p = top-p = { $p } 在此截断
model-p-title = 模型自身的概率：{ $p }%
col-p1-title = 模型的概率（温度 1）
col-pt-title = 经过温度之后
col-p-title = 抽样实际使用的：在 top-k 与 top-p 保留的词元上重新归一化
cut = 截掉
draw-in = 上一步抽到 u = { $u }：它落在 { $token } 所占的区间 [{ $a }, { $b }) 内，所以选了 { $token }。
draw-beyond = 上一步抽到 u = { $u }，落在 { $token } 上，排在前 10 个之外。

## 速度与内存
hud = 速度
hud-prefill = 预填充
hud-prefill-title = 每秒通过模型的提示词元数
hud-decode = 解码（引擎）
hud-decode-title = 最近几步每秒的前向计算次数
hud-play = 播放
hud-play-title = 播放时用户实际看到的每秒词元数
hud-backend = 后端
hud-backend-title = 模型在哪里运行
hud-threads = 线程
hud-threads-title = CPU 引擎的线程：共享模型内存的 Web Worker，每个输出行只由一个线程计算，所以线程数不同，每个数字都一样（?threads=N 可设定）
threads-gpu = GPU
threads-why-asked = 单线程：地址要求如此（?threads=1）
threads-why-isolation = 单线程：本页没有跨源隔离（服务器没有发送 COOP/COEP 头，也没有 service worker 补上），浏览器不给它共享内存
threads-why-build = 单线程：这份页面构建时没有多线程模块
threads-why-core = 单线程：这台机器只报告一个核心
threads-why-pool = 单线程：线程池没能启动（{ $error }）
hud-engine = 引擎单步
hud-engine-title = 上一步前向计算的用时
hud-e2e = 点击 → 画出
hud-e2e-title = 从点击“单步”到新词元的注意力画出来
hud-overhead = 页面开销
hud-overhead-title = 最近几步（点击 → 画出 − 引擎单步）的中位数
hud-context = 上下文
hud-context-title = 已用位置 / 模型的上下文长度
hud-reads = 每个词元的回读
hud-reads-title = 在 GPU 上播放时：每个词元从设备回读的次数，以及每个词元读回的字节数（GPU 每次提交计算多步，并自行选出每个词元；?ahead=N 设定步数）
hud-profile = 各内核的 GPU 用时
hud-profile-title = ?profile：自上次询问（每一步之后）以来每个内核的 GPU 用时，来自时间戳查询，并附调度次数；计时会让每次调度单独成为一个计算通道，稍慢一些
hud-profile-none = 此设备没有时间戳查询（或模型在 CPU 上运行）
hud-memory = 引擎内存
hud-memory-title = 引擎线程的 WebAssembly 内存、GPU 缓冲区（含权重）以及注意力缓存
mem-gpu = GPU
mem-caches = 缓存

## 注意力面板
attention = 注意力
loading = 加载中…
attention-formula = softmax(q·kᵀ/√{ $d })，因果
tab-heatmap = 热力图
tab-grid = 所有头
tab-lines = 连线
layer = 层
head = 头
head-title = 查询头 { $h } 读取键/值头 { $g }
head-aria = 头 { $h }
switched-off = 已关闭
toggle-head-title = 在所有位置把这个头的输出在 W_o 之前置零；整个序列会重新计算
head-off = 关闭头 { $lh }
head-on = 重新开启头 { $lh }
restore-all = 全部恢复（已关闭 { $n } 个）
ablated-info = 已关闭：{ $heads } · 重新计算用时 { $ms } 毫秒
gqa = { $n } 个查询头共用 { $kv } 个键/值头（分组查询注意力）：头 0–{ $last } 读取键/值头 0，依此类推。头 { $h } 读取键/值头 { $g }。
legend = 颜色 ∝ √权重

## 热力图
heatmap-help = 悬停在格子上：行是查询（正在看的词元），列是键（被看的词元）。点击一行可跟随该查询；滚轮或 ± 缩放，拖动平移。
cell = 查询 { $q } { $tq } → 键 { $k } { $tk }：{ $w }
cell-masked = 查询 { $q } { $tq } 看不到键 { $k } { $tk }（因果掩码）
heatmap-window = 查询 { $r0 }–{ $r1 } × 键 { $c0 }–{ $c1 }，共 { $len }
heatmap-sampled = 每 { $step } 个位置显示 1 个（抽样）
heatmap-aria = 注意力热力图，第 { $l } 层第 { $h } 头
zoom-in = 放大
zoom-in-label = +
zoom-out = 缩小
zoom-out-label = −
fit = 显示整个序列
fit-label = 全部
end = 转到最新的词元
end-label = 末尾

## 所有头、连线
kv-head = 键/值头 { $g }
grid-click = 点击：
grid-open = 打开该头
grid-toggle = 关闭 / 开启该头
grid-shift = （或按住 Shift 点击）
grid-hover-open = 第 { $l } 层 · 头 { $h }（键/值头 { $g }）{ $off }——点击打开
grid-hover-toggle = 第 { $l } 层 · 头 { $h }（键/值头 { $g }）{ $off }——点击关闭 / 开启
grid-help = 层 0（上）到 { $last_layer }（下），查询头 0 到 { $last_head } 从左到右，按共用的键/值头分组。每个缩略图从 { $len } × { $len } 个权重中抽取 { $n } × { $n } 个。
grid-aria = 所有层的所有头；点击一个即可打开
step-to-see = 单步运行后即可看到注意力。
lines-hidden = 键 0–{ $last }（未画出）占查询 { $q } 权重的 { $w }。
lines-aria = 第 { $l } 层第 { $h } 头中词元 { $q } 的注意力

## 一步之内
inside = 一步之内
inside-help = 点击热力图的一行或一个词元来选择位置
tab-math = 这个头的计算
tab-lens = Logit 透镜
tab-residual = 残差流
role-colour-by = 按每个头做的事上色：
role-none = 注意力
role-previous = 前一个词元
role-sink = 汇点
role-duplicate = 重复
role-induction = 归纳
role-title = 第 { $l } 层 第 { $h } 个头：前一个 { $p } · 汇点 { $s } · 重复 { $d } · 归纳 { $i }
role-computing = 正在测量每个头做的事（每个模型只测一次）……
role-head = 第 { $l } 层，第 { $h } 个头：
role-clear = 它最明显的习惯是{ $role }。
role-unclear = 没有明显的习惯（每个分数都低于它的阈值）。
role-previous-means = 在普通文本上，落在紧前一个词元上的平均权重（前一词元头；0.4 起算明显）
role-sink-means = 落在第一个词元上的平均权重，头会把用不着的注意力停放在那里（0.9 起算明显）
role-duplicate-means = 在重复的随机词元上，落在同一词元第一次出现处的平均权重（0.3 起算明显）
role-induction-means = 在重复的随机词元上，落在第一次出现之后那个词元上的平均权重：它能把见过一次的模式接下去（0.3 起算明显）
role-evidence = 这个头在 { $n } 个随机词元、再重复同样 { $n } 个词元（{ $start } ……）上的注意力：在第二遍的行里，重复头会在对角线左边 { $n } 列处画出一条斜纹（同一个词元第一次出现的位置），归纳头则在它右边一列、对角线左边 { $m } 列处（第一次出现之后的那个词元）。
role-hide = 隐藏角色
role-caveat = 分数是在两个固定序列上测出的习惯，不能证明这个头在你的提示词里做了什么。
tab-flow = 信息流
flow-empty = 先走一步：这里会显示信息如何到达每个位置。
flow-help = 每一层都会给每个位置的残差流加上内容：经由每个头，是较早位置的值的加权混合；经由前馈网络，是只由该位置算出的东西。每条线是这样的一份贡献，它在该层的更新中占了较大的份额（它的长度与所有贡献长度之和的比），并且只画出能逐层通到顶部所选位置的线。颜色是各头的键/值分组；橙色是前馈网络；灰色是残差流。悬停在线上可看到它的头和份额；点击即可打开该头。
flow-threshold = 只保留份额至少为
flow-count = 更新的 { $t }：有 { $n } 份贡献（其中 { $cross } 份来自其他位置）通到位置 { $pos } { $tok }。
flow-aria = 信息如何逐层流到位置 { $pos }
flow-earlier = 更早
flow-edge-head = 第 { $l } 层 第 { $h } 个头：位置 { $from } → { $to }，占更新的 { $share }
flow-edge-ffn = 第 { $l } 层 位置 { $to } 的前馈网络：占更新的 { $share }
flow-caveat = 份额衡量的是一份贡献有多大，而不是它指向哪个方向：贡献之间可能相互抵消，一条线也不是因果证明。把一个头关掉，才是实验。
tab-why = 为什么是这个词元
attr-empty = 先走一步：这里会说明模型为什么给下一个词元这个分数。
attr-help = 最后一层的残差流是一个和：词元的嵌入、每个注意力头经 W_o 写入的内容，以及每个前馈块加上的内容。把最后一个 RMSNorm 的缩放固定在它的实际值，某个候选的 logit 就能精确拆成每个组件各一份：红色的部分把它推高，蓝色的部分把它压低。点击一个头即可打开它。
attr-target = 为什么是
attr-versus = 而不是
attr-versus-none = （不比较）
attr-summary = 位置 { $pos } { $at } 之后，{ $tok } 的 logit 是 { $logit }；各部分加起来是 { $sum }。
attr-summary-versus = 位置 { $pos } { $at } 之后，{ $tok } 的 logit 比 { $other } 高 { $diff }；每一部分是它在这个差值中的份额。
attr-grid-aria = { $l } 层中每一层：它的 { $h } 个头和前馈块对 logit 的直接作用
attr-legend = 红色：把该词元推高；蓝色：压低；最深的颜色是 ±{ $max }。行是层，列是各个头（0、1、……）和前馈网络。
attr-up = 推高最多的
attr-down = 压低最多的
attr-running = 逐层累加
attr-embed = 词元的嵌入
attr-embed-short = 嵌入
attr-head = 第 { $l } 层 第 { $h } 个头
attr-ffn = 第 { $l } 层 前馈网络
attr-caveat = 它是什么、不是什么：每一部分是某个组件直达输出的路径，是在这个输入处、固定范数缩放后的线性化。一个头的输出若被后面的层读取，它也会通过那些层起作用，这部分会算进那些层里。想知道一个头真正导致了什么，就把它关掉，看 logit 怎么变。
computing = 计算中…
residual-empty = 单步运行后即可看到残差流。
layer-n = 第 { $l } 层
residual-attn = 第 { $l } 层注意力：‖更新‖ = { $v }
residual-ffn = 第 { $l } 层前馈：‖更新‖ = { $v }
residual-info = 位置 { $pos } { $tok }：每一层给残差流加上的量的大小（L2 范数）——
residual-attention = 注意力
residual-feedforward = 前馈
residual-scale = （条长 ∝ √范数；悬停可看数值）。
residual-aria = 位置 { $pos } 的残差流更新：共 { $n } 层

## 一个头的计算
math-computing = 正在计算这个头的数值…
math-empty = 单步运行后即可看到一个头的计算过程。
math-query = 查询 { $pos } { $tok }，第 { $l } 层，头 { $h }（读取键/值头 { $g }）。
math-hover = 悬停在任一格上可看数值。
math-1 = 进入这一层的残差流：rms = { $rms }，归一化（RMSNorm × 增益）之后：
math-first = 前 { $n } 个（共 { $d } 个）
math-2 = q = W_q · 归一化向量，这个头的 { $d } 个数，RoPE 之前与之后（第 i 对转动 { $pos } · θᵢ）：
math-before = 之前
math-after = 之后
math-angles = 角度 θ·位置：{ $a } 弧度
math-3 = 每个键 k（来自键/值头 { $g }，同样经过 RoPE 转动）：先算 q·k，再 ÷ √{ $d } = { $sqrt }，在能看到的键上做 softmax，再用权重对每个值 v 加权：
math-key = 键
math-token = 词元
math-hidden = …另有 { $n } 个键（只列出权重最大的 { $shown } 个）共占权重的 { $w }。
math-mask = 因果掩码：后面的 { $n } 个位置得分为 −∞，权重为 0。
math-mask-none = 因果掩码：后面还没有位置。
math-4 = 这个头的输出 o = Σ wⱼ vⱼ：
math-5 = 它对残差流的贡献 W_o · o（{ $n } 个数），‖·‖ = { $norm }：
math-6 = 然后是这一层的前馈块（SwiGLU），‖输出‖ = { $norm }；这里最强的神经元：
neuron-title = 神经元 { $n } = silu(gate)·up = { $v }

## Logit 透镜
lens-empty = 单步运行后即可看到每一层会预测什么。
lens-computing = 正在计算透镜（{ $layers } 层 × 最新的位置）…
position-n = 位置 { $pos }
lens-next = 实际的下一个词元 { $tok }：{ $p }%（排名 { $rank }）
lens-cell = 第 { $l } 层，位置 { $pos }：
lens-info = 位置 { $p0 }–{ $p1 }：每一层会预测的首选词元（颜色表示其概率）；带框的是第一个已经预测出最终答案的层。最后一行就是模型自己的预测。
lens-aria = Logit 透镜：层 × 位置
lens-layer = 层

## 束搜索
beam = 束搜索
beam-heading = 已 { $n } 步——点击节点可跟随那条分支
beam-heading-done = 已 { $n } 步，结束——点击节点可跟随那条分支
beam-node = 第 { $step } 步 · { $tok } · log p { $logp } · 得分 { $score }
beam-finished = 已结束（序列结束符）
beam-pruned = 已剪枝
beam-best = 在最佳路径上
beam-alternatives = 此处的前 5 个候选：
beam-best-line = 束搜索：{ $text }（log p { $logp }）
beam-greedy-line = 贪心：{ $text }（log p { $logp }）
beam-better = 束搜索找到了一个可能性是贪心结果 { $x } 倍的序列。
beam-same = 这里束搜索没有找到比贪心更可能的序列。
beam-aria = 束搜索树：{ $n } 个节点
beam-prompt = 提示词 →

## 导览
tour-start = 开始导览
tour-counter = { $i } / { $n }
tour-close = 关闭导览
tour-back = 上一步
tour-next = 下一步
tour-done = 完成
tour-map-title = 1 · 整个模型
tour-map = 这是整个模型的全貌,针对最后一个词元 { $last }:它从顶部以嵌入行的形式进入,然后残差流沿着主干穿过全部 { $layers } 层。每一层加上两份更新:注意力({ $heads } 个头共享 { $kv } 个键/值头,每个头按其份额着色)和前馈块。主干上的数字是残差流的大小;灰色的是位置 0 的,从最初几层起就非常大:这就是许多注意力头依赖的"注意力汇聚点"。底部的输出矩阵和对 { $vocab } 个词元的 softmax 给出下一个词元。点击任何方框即可打开它;接下来导览会逐一讲解每个部分。
tour-tokens-title = 2 · 词元与编号
tour-tokens = 模型看不到字母。你的文本被切成 { $n } 个词元，每个都是词表（{ $vocab } 个）里的一小段，而每一段只是一个数字：最后一个 { $last } 的编号是 { $id }。后面的一切都是对这些数字做运算。
tour-embedding-title = 3 · 嵌入
tour-embedding = 每个词元编号从一张表中取出一行 { $dim } 个数：这就是它的嵌入，词元的起点。这个向量就是残差流，每一层都读取它，再往上加东西。下面面板的第 1 步显示它进入某一层时的样子。
tour-qkv-title = 4 · 查询、键、值
tour-qkv = 在每一层，每个位置都把自己的向量变成三个：查询 q（我在找什么？）、键 k（我能提供什么？）和值 v（我要传递什么？）。{ $heads } 个头各有自己的 q、k、v，每个 { $d } 个数。这里显示的是第 { $l } 层第 { $h } 头，用的是真实的数值。
tour-scaled-title = 5 · 缩放点积
tour-scaled = 查询用点积 q·k 给每个键打分。再除以 √d_k（这里是 √64 = 8），分数就不会随向量维度变大而膨胀，softmax 也就保持平缓。q·k 和 ÷8 两列就是这个头的分数。
tour-mask-title = 6 · 因果掩码
tour-mask = 写作时模型只能往回看。位于查询之后的键得分为 −∞，权重因此为 0：就是对角线上方灰色的三角形。每一行是一个查询位置，每一列是它可以读取的一个键。
tour-softmax-title = 7 · Softmax：分数变成权重
tour-softmax = Softmax 把每一行分数变成正的、总和为 1 的权重。此刻第 { $l } 层第 { $h } 头把最后一个词元注意力的 { $w } 给了 { $key }。输出就是各个值按这些权重的加权混合。
tour-softmax-plain = Softmax 把每一行分数变成正的、总和为 1 的权重，所以热力图的一行说明了一个查询如何分配它的注意力。输出就是各个值按这些权重的加权混合。
tour-heads-title = 8 · 多个头，共用键和值
tour-heads = 每一层有 { $heads } 个头同时做注意力，各有各的关注方式：这里是全部 { $total } 个。为了节省内存，这个模型每层只保留 { $kv } 组键和值，由每三个查询头共用（分组查询注意力）；头 { $h } 读取第 { $g } 组。
tour-roles-title = 9 · 找出归纳头
tour-roles = 注意力头会养成习惯，Glassbox 直接在模型上测量它们：一个头有多关注前一个词元、把注意力停放在第一个词元上，或者找到当前词元更早的副本。网格按归纳分数上色：在重复一遍的 30 个随机词元上，归纳头会从第二遍的每个词元看向它第一次出现时后面跟着的那个词元，因此能把见过一次的模式接下去。下方的证据是紧贴对角线的一条斜纹；徽章标出每个头最明显的习惯。
tour-ffn-title = 10 · 前馈块
tour-ffn = 注意力之后，每个位置单独经过一个前馈块：SwiGLU 把 { $dim } 个数扩展到 { $ffn } 个，做门控，再压回 { $dim } 个。模型知道的很多东西就存在这里。这些条形显示每一层的注意力和前馈各加了多少。
tour-residual-title = 11 · 残差流与 RMSNorm
tour-residual = 没有哪个块会替换残差流：每个块都先用 RMSNorm 缩放自己的输入（除以均方根，再乘以学到的增益），然后把输出加到流上。Logit 透镜读取每一层之后的流，看预测是在哪里成形的。
tour-logits-title = 12 · Logits 与最后的 softmax
tour-logits = 在最顶端，最后一个位置的流与全部 { $vocab } 个词元的嵌入逐一比较：每个得到一个 logit。Softmax 把它们变成概率；此刻最可能的下一个词元是 { $top }，概率 { $p }。
tour-why-title = 13 · 为什么是这个词元
tour-why = 为什么是 { $top } 而不是别的词元？最后一层的残差流是嵌入、每个头和每个前馈块写入内容的总和，所以它的 logit 能拆成每个组件各一份。网格按每个头和前馈网络把该词元推高（红）或压低（蓝）的力度上色；点击一个头，看它关注什么。每一部分只是直接作用：想检验一个头，就把它关掉。
tour-flow-title = 14 · 信息如何流动
tour-flow = 前面的词是怎样到达这个位置的？每一层都通过它的头（混合较早的位置）和前馈网络给每个位置的残差流加上内容。图中只保留那些在某次更新中占了较大份额、并且通到所选位置的贡献，让你能从词一路追到预测。滑块在细节和清晰之间取舍。
tour-decoding-title = 16 · 解码
tour-decoding = 解码负责挑出词元：贪心取最可能的，采样随机抽取（温度、top-k 和 top-p 决定概率分布的形状），束搜索同时跟踪最好的 { $width } 个序列。选出的词元接到序列末尾，整个计算再跑一遍：这就是自回归生成。

## 分享、保存、打开
share = 分享
share-title = 复制一个能重放此会话的链接：提示词、设置、步数、强制选定的词元、关闭的头、所选视图和语言
save = 保存会话
save-title = 把会话下载为 JSON 文件（设置、词元、每一步的候选）
open = 打开会话…
open-title = 打开保存的会话文件（也可以拖到页面上）
shared-link = 此会话的链接
link-copied = 链接已复制。
link-too-long = 这个会话太长，放不进链接（{ $n } 个字符，上限 { $max }）：请改用“保存会话”。
link-damaged = 这个链接已损坏：参数“{ $param }”的值“{ $value }”不是 Glassbox 会写出的。页面将从空白开始。
replay-too-long = 这个会话需要 { $n } 步，但上下文只能容纳 { $ctx } 个位置，无法在此重放。页面保持不变。
replay-not-now = 模型仍在加载：请在加载完成后重新打开链接或文件。
file-not-session = 这个文件不是 Glassbox 会话（{ $why }）。没有做任何改动。
file-newer = 这个会话由更新版本的 Glassbox 保存（格式版本 { $v }）。没有做任何改动。
file-other-model = 这个会话是用 { $file } 做的，而本页面运行的是 { $page }。没有做任何改动。
file-edited = 这个会话文件被修改过：其中第 { $i } 个生成的词元是 { $file }，但按其设置应得到 { $model }。已恢复之前的会话。

## 导出
export = 导出：
export-what = 注意力，第 { $l } 层第 { $h } 头
export-grid = 注意力，所有层的所有头（抽样缩略图）
export-csv-title = 把这个头的注意力矩阵导出为 CSV，附词元文本
export-json-title = 把这个头的注意力矩阵导出为 JSON，附词元文本
export-too-long = 超过 { $max } 个词元时，一个头的矩阵超出一次回答能容纳的数量：请改为导出放大窗口的热力图（PNG）
map-failed = 无法计算注意力图：{ $why }
export-all = JSON，所有头
export-all-title = 所有头的矩阵导出为 JSON（最多 { $max } 个词元）

## 你自己的模型（模型栏）
phase-read = 正在读取你的文件
model-aria = 模型
model-label = 模型：
model-open = 打开模型…
model-served = 随本页面提供
model-kept = 已保存在此浏览器中
model-once = 从你的磁盘打开，仅用这一次
model-use = 使用
model-remove = 删除
model-use-served = 改用页面提供的模型
model-kept-list = 已保存在此浏览器中（{ $n } 个）
model-local = 在这台电脑上读取，不会上传任何内容
model-url = 从网址打开…
model-url-label = GGUF 文件的网址
model-url-go = 下载并检查
model-url-bad = 请输入 .gguf 文件的 http:// 或 https:// 网址。
model-remote = 从 { $host } 下载到本浏览器；不会上传任何内容
model-from = 来自 { $host }
model-url-failed = 无法打开 { $name }：{ $why } { $detail } 页面改用自带的模型。
model-checked = 已检查：引擎要读取的每个张量都存在，形状正确，格式也能计算。此时还没有任何数据送往 GPU。
model-arch = 架构
model-params = 权重数
model-layers = 层数
model-heads = 注意力头
model-heads-value = { $q } 个查询头，{ $kv } 个键/值头，每头 { $d } 维
model-width = 宽度
model-width-value = 残差流 { $d }，前馈层 { $ffn }
model-vocab = 词表
model-vocab-value = { $n } 个词元（预分词器“{ $pre }”）
model-context = 上下文
model-rope = RoPE 底数
model-output = 输出矩阵
model-tied = 复用嵌入矩阵（共享）
model-untied = 独立矩阵（output.weight）
model-formats = 格式
model-tensors = { $n } 个张量
model-needs = 需要
model-needs-value = 权重 { $w }，另加完整 { $ctx } 个词元时的键/值缓存 { $kv }
model-cpu-only = 此 GPU 放不下：{ $why }。加载后将改在 CPU 上运行。
model-keep = 保存在此浏览器中（下次直接从这里加载，随时可以删除）
model-load = 加载这个模型
model-cancel = 取消
model-still = 页面继续使用 { $model }。
model-missing = 之前保存的模型“{ $name }”已不在此浏览器中，因此加载了页面提供的模型。请重新打开该文件。
model-not-kept = 此浏览器无法保存模型（存储空间已满，或处于无痕窗口）：下次会重新下载。
context-capped-gpu = 页面使用此模型上下文中的 { $n } 个位置：更长的缓存放不进这块 GPU 的单个缓冲区。
context-capped-memory = 页面使用此模型上下文中的 { $n } 个位置：更长的缓存与权重一起放不进页面的内存。
link-other-model = 此链接是用模型“{ $name }”制作的。请先打开该文件（打开模型…）并保存，然后重新打开链接即可重放。
open-err-not-gguf = 这不是 GGUF 文件。
open-err-truncated = 文件不完整（在文件头声明的内容之前就结束了）；下载是否中断了？
open-err-version = 不支持此 GGUF 版本。
open-err-damaged = GGUF 文件已损坏。
open-err-architecture = 这不是 Llama 系列的模型。
open-err-type = 有张量使用了本引擎无法计算的权重格式（支持 F32、F16、BF16、Q4_0、Q4_1、Q5_0、Q5_1、Q8_0、Q4_K、Q5_K 和 Q6_K）。
open-err-tokenizer = 本引擎没有实现它的分词器。
open-err-model = 该模型用到了本引擎尚未实现的功能。
open-err-too-big = 文件太大，此浏览器无法容纳。
open-err-unreadable = 文件未能完整读取。
open-err-other = 无法加载该模型。
open-err-cors = { $host } 上的服务器不允许其他网站的页面读取此文件（它没有发送 Access-Control-Allow-Origin 头）。请先下载文件再从本机打开，或把它放到允许这种读取的地方（Hugging Face 的 “resolve” 链接可以）。
open-err-not-found = { $host } 上的服务器在该地址没有文件（HTTP 404）。
open-err-http = { $host } 上的服务器拒绝了下载。
open-err-network = 网络中断了，或无法连接到 { $host }。

## 故障
device-lost = 此页面的 GPU 已停止工作（{ $msg }）。可以改在 CPU 上继续（较慢，结果相同：会在那里重放你的会话），或者重新加载页面。
continue-cpu = 改在 CPU 上继续
reload = 重新加载
engine-restarted = 引擎停止了（{ $msg }）。已启动新的引擎并重放了你的会话。

## 不允许的设置
field-invalid = { $field }只接受{ $allowed }；保留了 { $kept }。
allowed-range = { $min } 到 { $max } 之间的数
allowed-whole = { $min } 到 { $max } 之间的整数
allowed-top-k = 0（关闭）到 { $max } 之间的整数
allowed-top-p = 大于 0 且不超过 1 的数
allowed-seed = 不小于 0 的整数
tab-patch = 激活修补
patch-help = 改动一个词，看网络的哪一部分承载了这个差别。给出一个干净提示和一个被破坏的提示，两者的词元数相同。模型一遍遍重新运行被破坏的提示，每次从干净运行中复制一块进来。每个格子显示此时干净运行的答案有多可能。亮的格子就是能把答案找回来的那一块。
patch-clean = 干净提示
patch-corrupt = 被破坏的提示
patch-corrupt-hint = 同一个提示，改动一个词
patch-run = 运行
patch-example = 示例：埃菲尔铁塔与罗马斗兽场
patch-cancel = 取消
patch-progress = 第 { $done } / { $total } 部分 · { $s } 秒
patch-stopped = 在第 { $done } / { $total } 部分后停止。
patch-done = 全部 { $total } 部分，用时 { $s } 秒。
patch-residual = 残差流
patch-heads = 注意力头
patch-ffn = 前馈网络
patch-head-n = 头 { $h }
patch-pos = 位置 { $pos } { $tok }
patch-cell = 第 { $l } 层，{ $where }：p = { $p }（恢复到干净运行的 { $r }）
patch-target = 跟踪 { $tok }：干净提示后 p = { $clean }，被破坏的提示后 { $corrupt }。
patch-choose = 跟踪另一个词元：
patch-restoration = 显示恢复的比例 (p − 破坏) / (干净 − 破坏)
patch-top-patched = 修补这一块之后
patch-top-clean = 干净运行
patch-top-corrupt = 被破坏的运行
patch-click = 点击一个格子，查看那次运行的前五个词元。
patch-residual-means = 一个格子是某一层之后、某一位置上的整个残差流，从干净运行复制而来。前面的层在被改动的词上承载答案；后面的层在最后一个位置承载答案，答案在那里被读出。
patch-heads-means = 一个格子是某个头在所有位置上的输出，从干净运行复制而来。单个头的影响大多很小：答案分散在许多头里。
patch-ffn-means = 一个格子是某一位置上某个前馈块的输出，从干净运行复制而来。
tour-patch-title = 15 · 哪一部分承载了答案
tour-patch = 改动一个词，看看什么随之改变。干净提示说的是埃菲尔铁塔，被破坏的提示说的是罗马斗兽场，模型于是回答巴黎或罗马。把干净运行的一块复制到被破坏的运行里，看巴黎会不会回来。在前面的层，答案在主语的最后一个词元上；到了后面的层，它已移到最后一个位置。这就是因果追踪，ROME 背后的实验。
branches-title = 分支：同一个提示的五种解码
branches-help = 贪心解码、三种温度的采样（各有自己的种子）和束搜索，从提示出发并排展示。高亮的一行是它们分开的地方。把鼠标移到词元上，可以看到那个分支在该处模型的前五个词元；“使用这个分支”会把它变成页面的序列。
branches-steps = 每个分支的词元数
branches-greedy = 贪心
branches-sample = T { $t } · 种子 { $seed }
branches-beam = 宽度 { $w } 的束搜索
branches-use = 使用这个分支
branches-parts = 各分支在第 { $i } 个词元处分开。
branches-agree = 前 { $n } 个词元全部一致。
branches-empty = 先单步一次：分支从提示开始。
branches-top = 模型在这里的前五个词元：

## 对比模式(两个提示并排)
compare = 与第二个提示对比
compare-title = 在这个提示(A)旁边同步解码第二个提示(B):单步、强制和撤销同时作用于两边,使用相同的设置和注意力头,各视图同时显示两边及其差值
prompt-b = 提示 B
prompt-b-placeholder = 第二个提示:改动 A 中的一个词
side-a = A
side-b = B
shown-aria = 注意力视图显示哪个序列
shown-a = A
shown-b = B
shown-diff = B − A
shown-diff-lengths = B − A 需要两边词元数相同(A 有 { $a } 个,B 有 { $b } 个)
shown-diff-legend = 橙色:B 比 A 更关注;蓝色:更少
shown-grid-a = (全部注意力头:A)
force-both-aria = 在两边都强制 { $token }(A { $a },B { $b })
col-pa-title = A 之后的概率
col-pb-title = B 之后的概率
col-delta-title = B − A,以百分点计
compare-heading = A · B · Δ — 点击一个,在两边都强制它
compare-note = 两边的每个候选词元,以及它在各个提示下的概率。
lens-compare = A 与 B 各自的最后一个位置
lens-compare-computing = 正在对两个序列运行 logit lens…
lens-compare-parts = 两者的预测在第 { $l } 层分开:从那一层起,每一层的首选词元都不同。
lens-compare-agree = 两者在最后一层的预测一致。
attr-ab = A − B
attr-ab-title = 对比模式:逐部分减去同一词元在提示 B 最后一个位置的归因:哪些注意力头和层在 A 之后比在 B 之后更推动它
attr-summary-ab = { $tok } 的 logit:A 之后为 { $a },B 之后为 { $b }({ $diff })。每一部分是它在 A 之后的直接作用减去在 B 之后的。
legend-diff = B − A,颜色 ∝ √|差值|;行和列是位置(以 A 的词元标注)

## 整个网络的地图
map = 整个模型
map-sub = 一个位置,从词元到概率
map-empty = 单步运行,看词元穿过每一层。
map-input = 位置 { $pos }:{ $tok },id { $id },以它的嵌入行进入
map-embedding = 嵌入行
map-embed-norm = ‖x‖ = { $norm }
map-nearest = 最近的词元
map-col-spine = 残差流 ‖x‖
map-col-first = 位置 0 处
map-col-attn = 注意力 · { $h } 个头,{ $kv } 个 KV
map-col-ffn = FFN ‖更新‖
map-fold = 第 { $a }–{ $b } 层(已折叠 { $n } 层:展开)
map-unfold = 展开所有层
map-fold-all = 折叠中间的层
map-animate = 每一步播放动画
map-head = 第 { $l } 层的第 { $h } 个头(KV 头 { $g }):占该层注意力更新的 { $share }%,‖W_o·头‖ = { $norm }。打开热力图和数学细节。
map-spine = 第 { $l } 层之后:此处 ‖x‖ = { $norm },位置 0 处为 { $first }(注意力汇聚点)。打开 logit lens。
map-ffn = 第 { $l } 层的 FFN:‖更新‖ = { $norm };最强的神经元 { $n } 写入 { $w }。打开它的神经元。
map-aria = 模型的 { $l } 层,每层 { $h } 个头
map-out-tied = 最终 RMSNorm → × 再次使用嵌入矩阵(共享:{ $vocab } × { $d })→ { $vocab } 个 logit
map-out-own = 最终 RMSNorm → × 输出矩阵(独立的:{ $vocab } × { $d })→ { $vocab } 个 logit
map-samp-title = 采样设置在这里起作用:作用于 logit,在 softmax 和抽样之前。打开设置:
map-samp-greedy = T = 0:贪心
map-samp-temp = ÷ T = { $t }
map-samp-topk = top-k { $k }
map-samp-topk-off = top-k 关闭
map-samp-topp = top-p { $p }
map-samp-topp-off = top-p 关闭
map-samp-softmax = softmax
map-samp-argmax = 取最大(argmax)
map-samp-draw = 抽样(上一次:u = { $u })
map-samp-draw-next = 抽样(种子 { $seed })
map-return = 新词元成为下一步的输入
map-in-row = { $tok } · id { $id } → 它的嵌入行({ $d } 个数,‖x‖ = { $norm })
map-hide = 隐藏
map-show = 显示模型图
map-roles = 头的角色
map-head-role = 它最明显的习惯:{ $role }。
map-li-layer = 第 { $l } 层 · ‖x‖ { $norm }
map-li-ffn = FFN { $norm }
map-not-last = (下一个词元跟在最后一个位置之后)
map-caption = { $model } · 位置 { $pos } { $tok }
map-neurons = 第 { $l } 层的 FFN(‖更新‖ = { $norm }):此处最强的神经元,各自写入 h × W_down 的对应列
map-neuron = 神经元 { $i }:h = { $h },写入 { $w }
map-open-residual = 每一层的更新(残差视图)
