"""Replace personal data with placeholders, counting each kind. Patterns are deliberately conservative:
a missed phone number is bad, a date or a year mangled into <PHONE> ruins a writer's text."""
import re
from collections import Counter

PLACEHOLDERS = {"url": "<URL>", "email": "<EMAIL>", "id_number": "<ID>", "phone": "<PHONE>"}
_PATTERNS = {
    "url": re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"),
    "email": re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"),
    # Mainland resident ID: 6-digit region, birth date 18xx/19xx/20xx, 3 digits, checksum digit or X.
    "id_number": re.compile(r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9])"),
    "phone": re.compile(
        r"(?<![0-9])(?:(?:\+?86[\s\-]?)?1[3-9]\d(?:[\s\-]?\d{4}){2}"       # mainland mobile
        r"|0\d{2,3}-\d{7,8}"                                            # landline with area code
        r"|\+\d{1,3}[\s\-]\d{1,4}(?:[\s\-]\d{2,4}){2,3})(?![0-9])"),    # international
}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _valid_id(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return "10X98765432"[total % 11] == number[17].upper()


# What every match of a kind must contain: most paragraphs of prose have none, and skip the pattern.
_NEEDS = {"url": re.compile(r"https?://|www\."), "email": re.compile("@"), "id_number": re.compile(r"\d"),
          "phone": re.compile(r"\d")}


def scrub(text: str, kinds: list[str], counts: Counter) -> str:
    for kind in ("url", "email", "id_number", "phone"):   # URLs first: they may contain digits and '@'
        if kind not in kinds or not _NEEDS[kind].search(text):
            continue

        def replace(match: re.Match, kind=kind) -> str:
            if kind == "id_number" and not _valid_id(match.group()):
                return match.group()
            counts[kind] += 1
            return PLACEHOLDERS[kind]

        text = _PATTERNS[kind].sub(replace, text)
    return text
