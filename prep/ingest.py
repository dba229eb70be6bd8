"""Find the articles of an archive and read them robustly.

Layout: `<root>/<account>/<year>/<YYYY-MM-DD>_<title>/<YYYY-MM-DD>_<title>.md` + `meta.json` (a WeChat backup),
or any folder of .md files. The walk is sorted and never follows a symlink out of the root or into a loop.
Every file that is not turned into an article is reported with a reason; every repair is reported too.
"""
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

MARKDOWN_SUFFIXES = {".md", ".markdown"}
INDEX_PAGE_STEMS = {"readme", "index", "_index", "toc", "summary", "sidebar", "_sidebar", "目录", "索引"}
FOLDER_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})[_ \-](.+)$")
BINARY_PROBE_BYTES = 8192


@dataclass(frozen=True)
class ArticleInfo:
    article_id: str          # stable, human-readable: the article folder (or file) path relative to the root
    path: str                # the Markdown file, relative to the root
    title: str
    date: str | None         # YYYY-MM-DD when known
    year: str | None
    repairs: tuple[str, ...] = ()


@dataclass
class RawArticle:
    info: ArticleInfo
    text: str                # decoded Markdown


@dataclass
class Problem:
    path: str
    reason: str
    detail: str = ""


def decode(raw: bytes) -> tuple[str, str | None]:
    """Text and the repair applied (None when the file was clean UTF-8). Raises UnicodeError if hopeless."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), "utf8_bom_removed"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "decoded_utf16"
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    # GB18030 is a superset of GBK/GB2312, the encodings older Chinese exporters write.
    return raw.decode("gb18030"), "decoded_gb18030"


def _read_meta(folder: Path, root: Path, repairs: list[str]) -> dict:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        repairs.append("meta_missing_used_folder_name")
        return {}
    try:
        text, _ = decode(meta_path.read_bytes())
        meta = json.loads(text)
    except (OSError, UnicodeError, ValueError) as exc:
        repairs.append(f"meta_malformed_used_folder_name ({type(exc).__name__})")
        return {}
    if not isinstance(meta, dict):
        repairs.append("meta_not_an_object_used_folder_name")
        return {}
    clean = {}
    for key in ("title", "date", "year"):
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, int) and key == "year":
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            repairs.append(f"meta_bad_{key}_ignored")
            continue
        clean[key] = value.strip()
    if "date" in clean and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", clean["date"][:10]):
        repairs.append("meta_bad_date_ignored")
        del clean["date"]
    elif "date" in clean:
        clean["date"] = clean["date"][:10]
    return clean


def _is_binary(raw: bytes) -> bool:
    return b"\x00" in raw[:BINARY_PROBE_BYTES] and not raw.startswith((b"\xff\xfe", b"\xfe\xff"))


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def find_markdown(root: Path) -> tuple[list[Path], list[Problem]]:
    """Sorted Markdown files under root, symlinks resolved only when they stay inside it."""
    real_root = root.resolve()
    files, problems, seen_real = [], [], set()
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        folder_path = Path(folder)
        dirnames.sort()
        for name in list(dirnames):
            if (folder_path / name).is_symlink():
                # Not followed: a symlinked folder can point outside the root or back up into a loop.
                problems.append(Problem((folder_path / name).relative_to(root).as_posix(), "symlinked_folder_not_followed"))
        for name in sorted(filenames):
            path = folder_path / name
            if path.suffix.lower() not in MARKDOWN_SUFFIXES:
                continue
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                target = Path(os.path.realpath(path))
                if not target.exists():
                    problems.append(Problem(rel, "broken_symlink"))
                    continue
                if not _inside(target, real_root):
                    problems.append(Problem(rel, "symlink_outside_root"))
                    continue
            real = os.path.realpath(path)
            if real in seen_real:
                problems.append(Problem(rel, "symlink_to_file_already_read"))
                continue
            seen_real.add(real)
            files.append(path)
    return files, problems


def read_article(path: Path, root: Path) -> RawArticle | Problem:
    rel = path.relative_to(root).as_posix()
    if path.stem.lower() in INDEX_PAGE_STEMS:
        return Problem(rel, "index_page", "file name marks an index/README page")
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            return Problem(rel, "not_a_regular_file")
        raw = path.read_bytes()
    except OSError as exc:
        return Problem(rel, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    if not raw.strip():
        return Problem(rel, "empty_file")
    if _is_binary(raw):
        return Problem(rel, "binary_file")
    try:
        text, repair = decode(raw)
    except UnicodeError:
        return Problem(rel, "undecodable", "neither UTF-8/UTF-16 nor GB18030")
    repairs = [repair] if repair else []
    folder = path.parent
    # WeChat layout: the article folder is named like the file; then the folder is the article.
    is_article_folder = folder.name == path.stem and folder != root
    meta = _read_meta(folder, root, repairs) if is_article_folder or (folder / "meta.json").is_file() else {}
    name_match = FOLDER_NAME.match(folder.name if is_article_folder else path.stem)
    title = meta.get("title") or (name_match.group(2) if name_match else path.stem)
    date = meta.get("date") or (name_match.group(1) if name_match else None)
    year = meta.get("year") or (date[:4] if date else None)
    article_id = (folder if is_article_folder else path.with_suffix("")).relative_to(root).as_posix()
    return RawArticle(ArticleInfo(article_id=article_id, path=rel, title=title, date=date, year=year,
                                  repairs=tuple(repairs)), text)


def input_files(root: Path, articles: list[ArticleInfo]) -> list[Path]:
    """Every file the run read: the Markdown files and the meta.json beside them."""
    paths = set()
    for article in articles:
        md = root / article.path
        paths.add(md)
        if (md.parent / "meta.json").is_file():
            paths.add(md.parent / "meta.json")
    return sorted(paths)
