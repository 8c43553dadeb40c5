"""The segmentation engine (engine/segment.py): pure, no database."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from gridcare.workorders.engine.segment import (
    STOP_WORDS,
    search_text,
    segment,
    suggest_categories,
    unique_tokens,
)

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
TEXT = st.text(
    alphabet=st.one_of(CJK, st.sampled_from(string.ascii_letters + string.digits + " ，。！？,.!?-\n"))
)


def test_search_mode_yields_the_long_word_and_its_parts():
    # given a question about the tiered tariff; when segmented; then the sub-words are there
    assert segment("阶梯电价怎么算") == ["阶梯", "电价", "阶梯电价", "算"]


def test_domain_words_stay_whole():
    assert "网上国网" in segment("用网上国网交电费")
    assert "充电桩" in segment("我想装个充电桩")
    assert "代理购电" in segment("代理购电价格是多少")


def test_stop_words_punctuation_and_whitespace_are_dropped():
    assert segment("请问，我家 怎么 交电费？！") == ["交", "电费"]
    assert segment("怎么") == []
    assert segment("，。！？   \n") == []
    assert segment("") == []


def test_tokens_are_lower_cased():
    assert segment("Hello WORLD 95598") == ["hello", "world", "95598"]


def test_symbols_alone_are_dropped_but_digits_kept():
    assert segment("违约金 1‰") == ["违约", "违约金", "1"]


def test_search_text_joins_every_part_with_single_spaces():
    assert search_text("抢修", "", "计划停电") == "抢修 计划 停电 计划停电"
    assert search_text() == ""


def test_unique_tokens_keep_first_order():
    assert unique_tokens("电费 电费 电价") == ["电费", "电价"]


@given(TEXT)
def test_segment_tokens_are_clean(text):
    for token in segment(text):
        assert token == token.strip()
        assert token == token.lower()
        assert token not in STOP_WORDS
        assert any(ch.isalnum() for ch in token)


@given(TEXT)
def test_search_text_is_the_segmented_tokens(text):
    assert search_text(text).split() == segment(text)


@given(TEXT)
def test_every_token_comes_from_the_text(text):
    lowered = text.lower()
    for token in segment(text):
        assert token in lowered


CATEGORIES = [
    ("outage", "停电 什么时候来电 计划停电 抢修"),
    ("quality", "电压低 电压 闪烁"),
    ("tariff", "电价 电费 阶梯 峰谷"),
    ("empty", ""),
]


def test_suggest_ranks_by_keyword_hits():
    # 电费 and 阶梯 hit tariff twice; 停电 hits outage once
    assert suggest_categories("阶梯电费太贵，还经常停电", CATEGORIES) == ["tariff", "outage"]


def test_suggest_matches_substrings_that_jieba_cuts_apart():
    assert suggest_categories("家里电压低，灯一闪一闪", CATEGORIES) == ["quality"]


def test_suggest_ties_keep_the_given_order_and_limit():
    text = "停电 电压 电费"
    assert suggest_categories(text, CATEGORIES) == ["outage", "quality", "tariff"]
    assert suggest_categories(text, CATEGORIES, limit=2) == ["outage", "quality"]
    assert suggest_categories(text, CATEGORIES, limit=0) == []


def test_suggest_nothing_for_no_hit_or_empty_text():
    assert suggest_categories("我要表扬一位工作人员", CATEGORIES) == []
    assert suggest_categories("   ", CATEGORIES) == []


def test_suggest_counts_a_repeated_keyword_once():
    cats = [("a", "停电 停电 停电"), ("b", "停电 抢修")]
    assert suggest_categories("停电了要抢修", cats) == ["b", "a"]


@given(TEXT, st.integers(min_value=0, max_value=5))
def test_suggestions_are_distinct_known_codes_within_limit(text, limit):
    codes = suggest_categories(text, CATEGORIES, limit=limit)
    assert len(codes) <= limit
    assert len(set(codes)) == len(codes)
    assert set(codes) <= {"outage", "quality", "tariff"}
