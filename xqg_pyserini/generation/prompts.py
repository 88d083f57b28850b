"""The generator's input, built the same way in training and in generation.

The paper's mT5 generator reads "Generate a {Language} question for this passage: {title} {passage}";
a causal LM gets the same words followed by "\\nQuestion:" and continues with the question. For a
causal LM the prompt is tokenized in pieces (head, passage, tail) so that only the passage is
truncated and the question always follows the same tail tokens, in training as in generation.

Prefix-shared generators (the shipped one) use ``PASSAGE_FIRST``: the passage first, the language
last, so one prefill of a passage serves every language and sample (``prefix_ids`` + ``suffix_ids``).
"""
from __future__ import annotations

from xqg_pyserini.data.io import InputError
from xqg_pyserini.data.languages import language_name

PAPER_PROMPT = "Generate a {language} question for this passage: {title} {passage}"
CAUSAL_TEMPLATE = "Generate a {language} question for this passage: {title} {passage}\nQuestion:"


def seq2seq_prompt(lang: str, title: str, passage: str, template: str = PAPER_PROMPT) -> str:
    """The paper's input string (the tokenizer truncates it)."""
    return template.format(language=language_name(lang), title=title, passage=passage).strip()


def causal_prompt_ids(tokenizer, lang: str, title: str, passage: str, max_input_tokens: int = 256,
                      template: str = CAUSAL_TEMPLATE, prefix: str = "") -> list[int]:
    """Token ids of the prompt (see :func:`causal_prompt`)."""
    return causal_prompt(tokenizer, lang, title, passage, max_input_tokens, template, prefix)[0]


def causal_prompt(tokenizer, lang: str, title: str, passage: str, max_input_tokens: int = 256,
                  template: str = CAUSAL_TEMPLATE, prefix: str = "") -> tuple[list[int], bool]:
    """(token ids, whether the passage was cut) of the prompt: BOS + prefix (e.g. few-shot examples, not counted in the budget)
    + head (with the title) + passage (truncated) + tail.

    ``template`` must contain ``{passage}``; the passage is cut so that the whole prompt has at
    most ``max_input_tokens`` tokens (the paper truncates its input at 256).
    """
    if "{passage}" not in template:
        raise ValueError("a causal prompt template must contain {passage}")
    head_t, tail_t = template.split("{passage}", 1)
    name = language_name(lang)
    head = prefix + head_t.format(language=name, title=title).rstrip(" ")
    tail = tail_t.format(language=name, title=title)
    ids_head = tokenizer(head, add_special_tokens=False)["input_ids"]
    ids_tail = tokenizer(tail, add_special_tokens=False)["input_ids"]
    ids_body = tokenizer(" " + passage, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    fixed = len(tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0
    budget = max_input_tokens + fixed - len(bos) - len(ids_head) - len(ids_tail)
    if budget < 8:
        raise ValueError(f"max_input_tokens={max_input_tokens} leaves no room for the passage")
    return bos + ids_head + ids_body[:budget] + ids_tail, len(ids_body) > budget


def causal_target_ids(tokenizer, question: str) -> list[int]:
    """The question as the model should continue the prompt: a leading space, then EOS."""
    return tokenizer(" " + question.strip(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


#: The passage first, the language last: one prefill serves every language and sample.
PASSAGE_FIRST = "{title} {passage}\n{language} question:"


def split_template(template: str) -> tuple[str, str]:
    """(passage part with ``{title}`` and ``{passage}``, language part with ``{language}``)."""
    if "{passage}" not in template or "{language}" not in template:
        raise InputError(None, "a passage-first template needs {passage} and {language}")
    cut = template.index("{passage}") + len("{passage}")
    head, tail = template[:cut], template[cut:]
    if "{language}" in head:
        raise InputError(None, "the template must name the language after the passage (prefix sharing)")
    return head, tail


def prefix_ids(tokenizer, title: str, passage: str, max_input_tokens: int = 256,
               template: str = PASSAGE_FIRST) -> tuple[list[int], bool]:
    """(BOS + title + passage ids cut to ``max_input_tokens``, whether the passage was cut)."""
    head, _ = split_template(template)
    text = head.format(title=title, passage=passage).strip()
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    budget = max_input_tokens - len(bos)
    return bos + ids[:budget], len(ids) > budget


def suffix_ids(tokenizer, lang: str, template: str = PASSAGE_FIRST) -> list[int]:
    """The language part of the prompt, e.g. ``"\\nArabic question:"``."""
    _, tail = split_template(template)
    return tokenizer(tail.format(language=language_name(lang)), add_special_tokens=False)["input_ids"]


def target_ids(tokenizer, question: str, max_tokens: int = 64) -> list[int]:
    """The question as the continuation: a leading space, then EOS (cut to ``max_tokens``)."""
    ids = tokenizer(" " + question.strip(), add_special_tokens=False)["input_ids"][:max_tokens - 1]
    return ids + [tokenizer.eos_token_id]
