"""Language codes, their English names (the generator prompt names the language), and an offline
language check by script, characteristic letters and function words.

The check needs no model, so it can score every generated query of a run. For languages with their
own script (ar, el, he, hi, ja, km, ko, ru, th, zh, zh_*) that script must lead (Latin-script names
are allowed); Japanese needs kana, Chinese must have none, and zh_cn / zh_hk / zh_tw are told apart
by frequent characters that differ between Simplified and Traditional writing (zh_hk and zh_tw not
from each other). For the Latin-script languages a letter characteristic of the language or one of
its function words, or failing both, no English function word.

Where it is lenient: among the Latin-script languages it tells a language from English (the usual
failure of a generator: answering in English), not from its neighbours. Danish and Norwegian share
their letters, and Malay, Dutch and Italian have few or none, so for them an answer in a closely
related language passes; a query of foreign names and no function words at all (a bare title)
passes too, and one that quotes an English title with "of" fails. On XQuAD's own questions it
accepts 98.7% (de) to 100% per language; of the MKQA sample's 156 queries 143 (tests/test_languages.py):
the 13 others quote an English title that outweighs the language's own words.
"""
from __future__ import annotations

import re
import unicodedata

from xqg_pyserini.errors import InputError

#: ISO 639-1 code -> English name, as the paper's prompt spells it.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "bn": "Bengali", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "fi": "Finnish", "fr": "French", "hi": "Hindi", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "nl": "Dutch", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sw": "Swahili", "te": "Telugu",
    "th": "Thai", "tr": "Turkish", "vi": "Vietnamese", "zh": "Chinese",
    # The rest of MKQA's 26 codes (it spells Chinese by region; "no" is Norwegian Bokmal).
    "da": "Danish", "he": "Hebrew", "hu": "Hungarian", "km": "Khmer", "ms": "Malay", "no": "Norwegian",
    "pl": "Polish", "sv": "Swedish", "zh_cn": "Simplified Chinese", "zh_hk": "Traditional Chinese (Hong Kong)",
    "zh_tw": "Traditional Chinese (Taiwan)",
}

#: The 11 non-English XQuAD languages, the default generation targets.
XQUAD_LANGUAGES = ["ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]

# Unicode script (first word of the character name) each language is written in.
_SCRIPT = {"ar": "ARABIC", "bn": "BENGALI", "el": "GREEK", "hi": "DEVANAGARI", "ja": "CJK", "ko": "HANGUL",
           "ru": "CYRILLIC", "te": "TELUGU", "th": "THAI", "zh": "CJK", "he": "HEBREW", "km": "KHMER",
           "zh_cn": "CJK", "zh_hk": "CJK", "zh_tw": "CJK"}
# Letters that, among the Latin-script languages here, point at one language (or a few).
_LATIN_MARKS = {
    "de": set("äöüßÄÖÜ"), "es": set("ñ¿¡áéíóúÑÁÉÍÓÚ"), "ro": set("ăâîșşțţĂÂÎȘŞȚŢ"),
    "tr": set("ğışçöüĞİŞÇÖÜ"), "vi": set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹĐ"),
    "fr": set("àâçéèêëîïôûùüÿœÀÂÇÉÈÊÎÔ"), "fi": set("äöÄÖ"), "pt": set("ãõçáéíóúâêôÃÕÇÁÉÍÓÚ"),
    "da": set("æøåÆØÅ"), "no": set("æøåÆØÅ"), "sv": set("åäöÅÄÖ"), "hu": set("őűáéíóöúüŐŰÁÉÍÓÖÚÜ"),
    "pl": set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ"), "it": set("àèéìíòóùÀÈÉÌÒÙ"), "nl": set("ëïĳ"),
}
_ENGLISH_WORDS = {"what", "which", "who", "when", "where", "why", "how", "the", "is", "did", "does", "of"}
# Question and function words of each Latin-script language that are not also English words.
_FUNCTION_WORDS = {lang: set(words.split()) for lang, words in {
    "da": "hvem hvad hvornår hvor hvilken hvilke hvordan hvorfor er af og det som til på har blev",
    "de": "wer wann wo welche welcher wie warum der das ist ein eine von und im wurde",
    "es": "quién quien qué que cuándo cuando dónde donde cuál cual el la los las es un una del y en",
    "fi": "kuka mikä milloin missä mitä mihin kuinka miksi ja oli onko",
    "fr": "qui que quand où quel quelle quels pourquoi le la les est un une du des et",
    "hu": "ki mi mikor hol melyik hány hogyan miért az és van volt",
    "it": "chi che cosa quando dove quale quanti perché il la lo gli le di del della è un una per",
    "ms": "apa siapa bila bilakah mana di yang dan ke dari adalah berapa kenapa mengapa bagaimana siapakah apakah",
    "nl": "wie wat wanneer waar welke hoe waarom de het een van en dat wordt werd",
    "no": "hvem hva når hvor hvilken hvilke hvordan hvorfor er av og det som til på har ble",
    "pl": "kto co kiedy gdzie który która jak dlaczego jest w z na się",
    "pt": "quem que quando onde qual quais como por o os da do é um uma e",
    "ro": "cine ce când unde care cum este un o de din și în",
    "sv": "vem vad när var vilken vilka hur varför är av och det som till på har blev",
    "tr": "ne kim nerede hangi nasıl neden bir ve mi mı",
    "vi": "ai gì khi nào đâu là của và có",
}.items()}
# Frequent characters written differently in Simplified and Traditional Chinese (same order).
_SIMPLIFIED = set("这个国说时们来为会对学发经动长开关问题电东车书马门见间谁过还没从当应实现产业点场进种样头体华语话让吗岁万军战历区县队员号图级总选统导报网乐剧声视节单买卖钱银铁线红鸟鱼龙飞机汉写读认识请谢该数权湾广罗兰苏亚欧韩与")
_TRADITIONAL = set("這個國說時們來為會對學發經動長開關問題電東車書馬門見間誰過還沒從當應實現產業點場進種樣頭體華語話讓嗎歲萬軍戰歷區縣隊員號圖級總選統導報網樂劇聲視節單買賣錢銀鐵線紅鳥魚龍飛機漢寫讀認識請謝該數權灣廣羅蘭蘇亞歐韓與")
_WORD = re.compile(r"\w+", re.UNICODE)


def language_name(code: str) -> str:
    """English name of a language code; an unknown code is a clear error, not a silent 'None'."""
    try:
        return LANGUAGE_NAMES[code]
    except KeyError:
        raise InputError(None, f"unknown language code {code!r}; known: {' '.join(sorted(LANGUAGE_NAMES))}") from None


def check_languages(codes: list[str]) -> list[str]:
    """Validate a list of language codes (raises InputError, a ValueError, naming the first unknown one)."""
    for code in codes:
        language_name(code)
    return list(codes)


def script_of(ch: str) -> str | None:
    """Script of a letter or combining mark (first word of its Unicode name; kana count as CJK), else None."""
    if not (ch.isalpha() or unicodedata.category(ch) in ("Mn", "Mc")):  # vowel signs count (Indic, Thai)
        return None
    name = unicodedata.name(ch, "")
    if name.startswith("CJK") or name.startswith(("HIRAGANA", "KATAKANA")):
        return "CJK"
    return name.split(" ")[0] if name else None


def script_counts(text: str) -> dict[str, int]:
    """Letters (and combining vowel signs) of ``text`` per script: LATIN, CYRILLIC, CJK, ..."""
    counts: dict[str, int] = {}
    for ch in text:
        script = script_of(ch)
        if script:
            counts[script] = counts.get(script, 0) + 1
    return counts


def dominant_script(text: str) -> str | None:
    """The script of most letters in ``text``, or None without letters."""
    counts = script_counts(text)
    return max(counts, key=counts.get) if counts else None


def is_language(text: str, lang: str) -> bool:
    """Whether ``text`` looks written in ``lang`` (see the module docstring for how, and where it is
    lenient): for a language with its own script, that script (Latin names allowed); for
    Latin-script languages a Latin majority and a letter or function word of ``lang``, or failing
    both, no English function word."""
    counts = script_counts(text)
    if not counts:
        return False
    script = max(counts, key=counts.get)
    if lang in _SCRIPT:
        # Names are often left in Latin letters (XQuAD's own Hindi and Chinese questions do it): the
        # language's script must lead among the other scripts and hold a quarter of the letters.
        others = {k: v for k, v in counts.items() if k != "LATIN"}
        target = _SCRIPT[lang]
        if not others or max(others, key=others.get) != target or counts[target] < 0.25 * sum(counts.values()):
            return False
        if target != "CJK":
            return True
        kana = any(unicodedata.name(c, "").startswith(("HIRAGANA", "KATAKANA")) for c in text)
        if lang == "ja" or kana:
            return kana and lang == "ja"
        simplified, traditional = sum(c in _SIMPLIFIED for c in text), sum(c in _TRADITIONAL for c in text)
        return {"zh_cn": simplified >= traditional, "zh_hk": traditional >= simplified,
                "zh_tw": traditional >= simplified}.get(lang, True)
    if script != "LATIN":
        return False
    words = {w.lower() for w in _WORD.findall(text)}
    if lang == "en":
        return not any(c in marks for marks in _LATIN_MARKS.values() for c in text)
    if any(c in _LATIN_MARKS.get(lang, ()) for c in text) or words & _FUNCTION_WORDS.get(lang, set()):
        return True
    return not (words & _ENGLISH_WORDS)
