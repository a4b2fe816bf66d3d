"""ISO 639 language codes normalised to ISO 639-2/T (``de``/``ger``/``deu`` -> ``deu``)."""

from __future__ import annotations

# 639-2/T code: (639-1, 639-2/B if different, English name)
_LANGUAGES: dict[str, tuple[str | None, str | None, str]] = {
    "ara": ("ar", None, "Arabic"),
    "bul": ("bg", None, "Bulgarian"),
    "ces": ("cs", "cze", "Czech"),
    "cym": ("cy", "wel", "Welsh"),
    "dan": ("da", None, "Danish"),
    "deu": ("de", "ger", "German"),
    "ell": ("el", "gre", "Greek"),
    "eng": ("en", None, "English"),
    "est": ("et", None, "Estonian"),
    "eus": ("eu", "baq", "Basque"),
    "fas": ("fa", "per", "Persian"),
    "fin": ("fi", None, "Finnish"),
    "fra": ("fr", "fre", "French"),
    "gle": ("ga", None, "Irish"),
    "heb": ("he", None, "Hebrew"),
    "hin": ("hi", None, "Hindi"),
    "hrv": ("hr", None, "Croatian"),
    "hun": ("hu", None, "Hungarian"),
    "hye": ("hy", "arm", "Armenian"),
    "ind": ("id", None, "Indonesian"),
    "isl": ("is", "ice", "Icelandic"),
    "ita": ("it", None, "Italian"),
    "jpn": ("ja", None, "Japanese"),
    "kat": ("ka", "geo", "Georgian"),
    "kor": ("ko", None, "Korean"),
    "lav": ("lv", None, "Latvian"),
    "lit": ("lt", None, "Lithuanian"),
    "mkd": ("mk", "mac", "Macedonian"),
    "msa": ("ms", "may", "Malay"),
    "nld": ("nl", "dut", "Dutch"),
    "nor": ("no", None, "Norwegian"),
    "nob": ("nb", None, "Norwegian Bokmal"),
    "nno": ("nn", None, "Norwegian Nynorsk"),
    "pol": ("pl", None, "Polish"),
    "por": ("pt", None, "Portuguese"),
    "ron": ("ro", "rum", "Romanian"),
    "rus": ("ru", None, "Russian"),
    "slk": ("sk", "slo", "Slovak"),
    "slv": ("sl", None, "Slovenian"),
    "spa": ("es", None, "Spanish"),
    "sqi": ("sq", "alb", "Albanian"),
    "srp": ("sr", None, "Serbian"),
    "swe": ("sv", None, "Swedish"),
    "tha": ("th", None, "Thai"),
    "tur": ("tr", None, "Turkish"),
    "ukr": ("uk", None, "Ukrainian"),
    "vie": ("vi", None, "Vietnamese"),
    "zho": ("zh", "chi", "Chinese"),
    "bod": ("bo", "tib", "Tibetan"),
    "mya": ("my", "bur", "Burmese"),
}

_ALIASES: dict[str, str] = {}
for _t, (_one, _b, _name) in _LANGUAGES.items():
    _ALIASES[_t] = _t
    if _one:
        _ALIASES[_one] = _t
    if _b:
        _ALIASES[_b] = _t
    _ALIASES[_name.lower()] = _t

#: Tags that mean "no language" in media files.
UNDETERMINED = frozenset({"und", "unk", "mul", "zxx", "mis", "xx", "none", ""})


def normalize_language(tag: str | None) -> str | None:
    """The ISO 639-2/T code for ``tag`` (``en-US`` -> ``eng``); None when unknown or absent."""
    if tag is None:
        return None
    code = tag.strip().lower().replace("_", "-").split("-")[0]
    if code in UNDETERMINED:
        return None
    if code in _ALIASES:
        return _ALIASES[code]
    # An unknown but well-formed three-letter code is kept as it is.
    return code if len(code) == 3 and code.isalpha() else None


def language_name(code: str | None) -> str:
    """A readable name for an ISO 639-2/T code."""
    if code and code in _LANGUAGES:
        return _LANGUAGES[code][2]
    return code or "unknown"
