"""Chinese word segmentation (分词) for the knowledge base and the intake form.

Pure Python over jieba, no Django. One rule for documents and queries:

* ``segment(text)`` cuts the text with ``jieba.cut_for_search`` (search-engine mode: a long
  word also yields its dictionary sub-words, so 阶梯电价 gives 阶梯, 电价 and 阶梯电价),
  lower-cases every token and drops whitespace, punctuation, symbols and stop words
  (的, 怎么, 如何, 请问 …). Order is kept, repeats are kept (term frequency counts in the
  ranking).
* ``search_text(*parts)`` joins the tokens of every part with single spaces: the text the
  full-text index reads (PostgreSQL ``to_tsvector('simple', …)``, SQLite FTS5
  ``unicode61``). Both split on the spaces only, so a Chinese word stays one term.
* ``suggest_categories(text, categories)`` ranks intake categories by how many of their
  keywords the caller's words contain (the intake form's 分类建议).

jieba is initialised once, quietly, on first use, with the business words of a power supply
company added to its dictionary (``DOMAIN_WORDS``) so that 网上国网, 代理购电 or 充电桩 stay
whole words.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Sequence

import jieba

__all__ = ["DOMAIN_WORDS", "STOP_WORDS", "search_text", "segment", "suggest_categories", "unique_tokens"]

#: Words jieba's default dictionary cuts apart or does not know; added once at start-up.
DOMAIN_WORDS: tuple[str, ...] = (
    "阶梯电价",
    "峰谷电价",
    "分时电价",
    "代理购电",
    "功率因数",
    "力调电费",
    "违约金",
    "电费违约金",
    "网上国网",
    "营业厅",
    "代扣",
    "银行代扣",
    "电子发票",
    "增值税发票",
    "业扩报装",
    "新装",
    "增容",
    "减容",
    "暂停",
    "过户",
    "更名",
    "销户",
    "计划停电",
    "临时检修",
    "故障停电",
    "抢修",
    "复电",
    "欠费停电",
    "电能表",
    "电表",
    "校验",
    "验表",
    "抄表",
    "费控",
    "预付费",
    "远程复电",
    "光伏",
    "分布式光伏",
    "并网",
    "充电桩",
    "有序用电",
    "十项承诺",
    "供电方案",
    "装表接电",
    "两部制",
    "基本电费",
    "居民生活用电",
    "一户一表",
    "合表",
    "峰段",
    "谷段",
    "电压低",
    "跳闸",
)

#: Words too common in questions to say anything about the subject.
STOP_WORDS: frozenset[str] = frozenset(
    """
    的 地 得 了 着 过 是 在 和 与 及 或 而 并 且 也 都 就 还 又 才 只 很 太 更 最 再
    我 你 您 他 她 它 我们 你们 他们 她们 咱们 我家 自己 大家
    这 那 这个 那个 这些 那些 这样 那样 这里 那里 此 其 之 其中
    吗 呢 吧 啊 呀 哦 嘛 么 哈 嗯 喂
    怎么 怎么样 怎样 如何 什么 为什么 为何 哪 哪里 哪儿 哪些 哪个 几 多少 是否 是不是 有没有
    请问 请 麻烦 一下 下 想 想要 需要 要 能 能否 可以 可否 会 应该 应当 得到
    有 没有 没 无 不 把 被 让 给 对 从 向 往 为 以 于 按 将 由 等 等等 个 个人 一个 一些 上 中
    a an the of to and or in on at for is are was be by with as it this that what how why
    """.split()  # noqa: SIM905 - a word list reads better as text
)

_lock = threading.Lock()
_ready = False


def _ensure_ready() -> None:
    """Load jieba's dictionary once, without its INFO chatter on stderr."""
    global _ready
    if _ready:
        return
    with _lock:
        if _ready:
            return
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        for word in DOMAIN_WORDS:
            jieba.add_word(word)
        _ready = True


def _is_word(token: str) -> bool:
    """True when the token holds at least one letter or digit (drops spaces, punctuation,
    symbols such as ‰ or ￥ standing alone)."""
    return any(unicodedata.category(ch)[0] in ("L", "N") for ch in token)


def segment(text: str) -> list[str]:
    """The words of ``text`` in search-engine mode, lower-cased, without punctuation,
    whitespace or stop words. Empty for an empty or all-punctuation text."""
    if not text or not text.strip():
        return []
    _ensure_ready()
    words: list[str] = []
    for raw in jieba.cut_for_search(text):
        token = raw.strip().lower()
        if token and _is_word(token) and token not in STOP_WORDS:
            words.append(token)
    return words


def unique_tokens(text: str) -> list[str]:
    """``segment(text)`` without repeats, first occurrence first (what a query matches on)."""
    return list(dict.fromkeys(segment(text)))


def search_text(*parts: str) -> str:
    """The space-joined tokens of every part, in order: what the full-text index stores."""
    return " ".join(token for part in parts if part for token in segment(part))


def _keywords(raw: str) -> list[str]:
    return [word for word in dict.fromkeys(w.strip().lower() for w in raw.split()) if word]


def suggest_categories(text: str, categories: Sequence[tuple[str, str]], limit: int = 3) -> list[str]:
    """Category codes ranked by how many of their keywords occur in ``text``.

    ``categories`` are ``(code, keywords)`` pairs, keywords space-separated (``Category.keywords``).
    A keyword counts once when it is one of the text's tokens or a substring of the
    lower-cased text (so 电压低 matches 家里电压低 even when jieba cuts 电压 / 低). Ties keep
    the order of ``categories`` (the category tree's sort order); categories with no hit
    are left out; at most ``limit`` codes.
    """
    if limit <= 0 or not text or not text.strip():
        return []
    lowered = text.lower()
    tokens = set(segment(text))
    scored: list[tuple[int, int, str]] = []
    for position, (code, keywords) in enumerate(categories):
        hits = sum(1 for word in _keywords(keywords) if word in tokens or word in lowered)
        if hits:
            scored.append((-hits, position, code))
    scored.sort()
    return [code for _, _, code in scored[:limit]]
