"""Chinese tokenization for catalog search.

Documents are cut with rjieba (search mode: long words also yield their sub-words) and the tokens joined
with spaces, so that tantivy only has to split on whitespace. Single characters are indexed as well (see
search.index.prepare), which makes 1-character queries work. Synonyms (govshare/data/synonyms.txt) are mapped
to the canonical term of their group, on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import rjieba

from govshare import synonyms

_SPLIT = re.compile(r"[^\w]+|_+")
# Characters that carry no meaning alone; dropped from queries that have other words.
STOP_CHARS = frozenset("的和与及或等之其在为是到了把被从向对给我你请要能可也都就于吗呢么哪")
# Words of a need as people write it (需要核验申请人是否为低保对象, 公交站点在哪里可以查到) that say nothing of
# the data asked for; dropped from queries that have other words, like STOP_CHARS.
STOP_WORDS = frozenset({
    "需要", "需", "核验", "核查", "核实", "查询", "查找", "查看", "查到", "检索", "搜索", "获取",
    "了解", "提供", "申请人", "是否", "是否为", "是不是", "在哪里", "哪里", "哪些", "什么", "如何", "怎么",
    "怎样", "可以", "能否", "能够", "请问", "我们", "我们的", "相关", "有关", "关于", "情况", "本市",
    "本省", "本县", "本区", "全市", "全省", "以及", "或者", "还有", "用于", "一下", "所有", "全部",
    "具体",
})
LEGACY_STOP = frozenset("的和与及或等之其")  # what the all-concepts ranking dropped (the relevance benchmark)
# Full-width ASCII and the ideographic space to their half-width forms (what NFKC does for them, faster).
_HALF_WIDTH = {0x3000: " ", **{code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}}
_CACHE_LIMIT = 200_000
# Only letters need work: full-width letters and digits (full-width punctuation stays punctuation), upper case.
_NEEDS_WORK = re.compile("[A-Z\u00c0-\u024f\u0370-\u04ff\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def normalize(text: str) -> str:
    """Full-width to half-width, lower case. Most catalog text needs neither: it is returned as is."""
    text = text or ""
    if _NEEDS_WORK.search(text):
        text = text.translate(_HALF_WIDTH).lower()
    return text


@lru_cache
def _jieba() -> rjieba.Jieba:
    """A jieba instance of its own (other modules keep the default one) that knows every synonym term as a
    word, so that such terms come out whole."""
    jieba = rjieba.Jieba()
    for term, _canonical in _synonym_terms():
        jieba.add_word(term, None, None)
    return jieba


def cut_for_search(text: str) -> list[str]:
    return _jieba().cut_for_search(text)


@lru_cache
def _synonym_terms() -> tuple[tuple[str, str], ...]:
    """(normalized term, canonical) for every term of every synonym group, longest first."""
    pairs = {(normalize(term), group[0]) for group in synonyms.groups() for term in group}
    return tuple(sorted(pairs, key=lambda p: (-len(p[0]), p[0])))


@lru_cache
def _synonym_lookup() -> tuple[dict[str, str], tuple[int, ...]]:
    lookup = dict(_synonym_terms())
    return lookup, tuple(sorted({len(t) for t in lookup}, reverse=True))


_token_synonyms: dict[str, tuple[str, ...]] = {}  # tokens that contain synonym terms -> canonical terms
_tokens_seen: set[str] = set()  # every token looked at so far (tokens repeat across documents)


def _synonyms_in(token: str) -> tuple[str, ...]:
    """Canonical terms of the synonym terms contained in a token."""
    return tuple(canonical for term, canonical in _synonym_terms() if len(term) <= len(token) and term in token)


def synonym_string(*token_lists: list[str]) -> str:
    """The canonical terms of all synonym terms found in the tokens, space-separated. Set operations keep the
    per-document work in C: only tokens never seen before are examined in Python."""
    unique: set[str] = set()
    for tokens in token_lists:
        unique.update(tokens)
    new = unique - _tokens_seen
    if new:
        if len(_tokens_seen) > _CACHE_LIMIT:
            _tokens_seen.clear()
            _token_synonyms.clear()
            new = unique
        for token in new:
            found = _synonyms_in(token)
            if found:
                _token_synonyms[token] = found
        _tokens_seen.update(new)
    found: set[str] = set()
    for token in unique.intersection(_token_synonyms):
        found.update(_token_synonyms[token])
    return " ".join(found)


def canonical(term: str) -> str | None:
    """The canonical form of a synonym term, None when the term has no synonyms."""
    return _synonym_lookup()[0].get(normalize(term))


@dataclass(frozen=True)
class Concept:
    """One thing the user asked for: a word of the query, with its synonym group's canonical term."""

    text: str
    canonical: str | None = None

    @property
    def single_char(self) -> bool:
        return len(self.text) == 1

    @property
    def terms(self) -> tuple[str, ...]:
        """The terms to look for in the lead-source field: the canonical term, or the word itself."""
        return (self.canonical,) if self.canonical else (self.text,)


def query_concepts(query: str, stop: frozenset[str] | None = None) -> list[Concept]:
    """Splits a query into concepts: synonym terms are found first (longest match, so that 社会保险 stays
    one concept and maps to 社保); what is left is cut by jieba. Stop characters and words are dropped unless
    nothing else is left."""
    stop = STOP_CHARS | STOP_WORDS if stop is None else stop
    lookup, lengths = _synonym_lookup()
    concepts: list[Concept] = []
    for segment in _SPLIT.split(normalize(query)):
        if not segment:
            continue
        rest_start, i = 0, 0
        while i < len(segment):
            for length in lengths:
                piece = segment[i:i + length]
                if len(piece) == length and piece in lookup:
                    concepts.extend(_cut(segment[rest_start:i]))
                    concepts.append(Concept(piece, lookup[piece]))
                    i += length
                    rest_start = i
                    break
            else:
                i += 1
        concepts.extend(_cut(segment[rest_start:]))
    unique = list(dict.fromkeys(concepts))
    meaningful = [c for c in unique if c.text not in stop]
    return meaningful or unique


def sub_words(word: str) -> list[str]:
    """The shorter words jieba's search mode finds inside a word (公交线路 -> 公交, 线路), as documents are
    indexed: a document that says 公交站点 still shares 公交 with a query for 公交线路."""
    return [t for t in dict.fromkeys(cut_for_search(word)) if t != word and len(t) > 1 and t not in STOP_WORDS]


def _cut(text: str) -> list[Concept]:
    if not text:
        return []
    return [Concept(t, canonical(t)) for t in _jieba().cut(text) if t.isalnum()]
