"""Closed lists of function words, the only words the topic-masked attribution classifier may see.

Function words are frequent, chosen by habit rather than by subject, and so largely independent of topic;
their rates told Hamilton from Madison in the Federalist papers (Mosteller & Wallace 1964). Text distortion
(Stamatatos 2017, "Authorship attribution using text distortion") masks every word outside such a list and
keeps punctuation, so that what is left is the author's syntax and rhythm, not the subject matter.

CHINESE holds 虚词 and their close kin: personal, demonstrative and interrogative pronouns (modern and
classical), structural and aspect particles (的 地 得 之 着 了 过 所, with the older spellings 著 底 麽 that
writers of the 1920s–30s used), sentence-final modal particles, conjunctions, prepositions, adverbs of degree,
negation, time, frequency, scope and mood, auxiliary verbs and the copula, locative postpositions, numerals
and common classifiers, and the frequent compounds of these that jieba's dictionary keeps as one word
(不是, 就是, 一个, 这样 …), which would otherwise be masked whole. ENGLISH holds articles, pronouns,
prepositions, conjunctions, auxiliary and modal verbs, and adverbs of degree, negation and time.
Content words (nouns, verbs, adjectives, names) are left out on purpose."""

CHINESE = frozenset("""
我 你 您 他 她 它 我们 你们 他们 她们 它们 咱们 自己 人家 大家 别人 别的 吾 余 尔 汝 其 之 彼 此
这 那 这里 那里 这样 那样 这么 那么 这些 那些 这个 那个 这种 那种 如此 其中 其他 所有
哪 哪里 谁 什么 甚么 怎 怎么 怎样 为什么 如何 何 何以 几 几个 多少 某 各 每 许多 有些
的 地 得 底 着 著 了 过 所 者 们 似的 一般 等 等等 所谓
吗 呢 吧 啊 呀 么 麽 罢 罢了 嘛 啦 而已 矣 焉 哉 乎
和 与 及 以及 同 跟 而 而且 并 并且 且 或 或者 还是 但 但是 可是 然而 不过 只是 不但 因为 因 由于 所以 故 因此
因而 于是 于是乎 虽 虽然 尽管 如 如果 假如 倘若 倘 若 要是 即使 只要 只有 除非 无论 不论 不管 既 既然
就是 便是 正是 乃是 即 则 乃 况且 何况 甚至 否则 不然 然后 总之
在 于 从 自 向 往 对 对于 关于 为 为了 被 把 将 给 让 叫 比 以 用 由 按 照 依 据 像 除了 除 连 随 朝 当 替
不 没 没有 未 无 非 并非 无非 别 莫 不是 不能 不会 不可 不得 不得不 不要 不必 决不 不再
很 太 最 更 极 十分 非常 颇 越 尤其 特别
还 还有 还要 也 都 又 再 才 就 就要 便 只 仅 已 已经 曾 曾经 正 正在 刚 总 总是 常 常常 往往 一直 终于
从此 此后 以后 以前 之后 之前 之中 之外 之间 以上
竟 究竟 到底 毕竟 几乎 似乎 仿佛 好像 大概 也许 必 必须 一定 倒 却 却是 其实 原来 忽然 仍 仍然 岂 难道 全 皆 亦
是 有 有所 能 会 可 可以 要 应 应该 该 肯 敢 愿 须 可能 能够 只能 才能
上 下 里 中 内 外 前 后 间
一 二 两 两个 个 种 些 点 样 次 回 件 位 一个 一种 一些 一点 一样 一切 一下
""".split())

ENGLISH = frozenset("""
a an the this that these those such same other another own
i me my mine myself you your yours yourself yourselves he him his himself she her hers herself it its itself
we us our ours ourselves they them their theirs themselves one ones oneself
who whom whose which what whatever whoever when where why how whether
and or but nor so yet for if then than because though although while unless until since as
of to in on at by from with without within into onto upon about above below over under after before
between through during against among toward towards across along around behind beyond near off out up down
is am are was were be been being do does did done have has had having
will would shall should can could may might must ought
not no never ever always often once again still already just only even also too very quite rather
more most less least much many few some any all each every both either neither several
here there now soon perhaps indeed however thus therefore yes
nothing something anything everything nobody somebody anybody everybody none
""".split())
