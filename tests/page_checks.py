"""What every HTML page owes a reader on a cheap phone over a slow link, checked on the parsed page
(the standard library's HTML parser): its language, one title and one h1, a name for every form
control, alt text on images, no asset from another site, and its weight with its assets."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

PAGE_BUDGET = 60 * 1024  # DESIGN.md convention 15: gzipped, the page and its assets
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
UNNAMED_INPUTS = {"hidden", "submit", "button", "reset", "image"}  # named by their value or alt, or not shown
# Letters only Vietnamese writes (with its tones); English text shows none of them.
VIETNAMESE = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
                        r"ÀÁẢÃẠẰẮẲẴẶẦẤẨẪẬÈÉẺẼẸỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌỒỐỔỖỘỜỚỞỠỢÙÚỦŨỤỪỨỬỮỰỲÝỶỸỴ]")


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    def iter(self, *tags: str) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                if not tags or child.tag in tags:
                    yield child
                yield from child.iter(*tags)

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def text(self) -> str:
        return " ".join(
            (c if isinstance(c, str) else c.text()) for c in self.children
            if isinstance(c, str) or c.tag not in ("script", "style", "template")
        ).strip()

    def texts(self) -> Iterator[tuple[Element, str]]:
        """Each run of text a reader sees, with the element holding it (no script, style, or the
        text a form control holds: that is what a person typed)."""
        for child in self.children:
            if isinstance(child, str):
                if child.strip():
                    yield self, " ".join(child.split())
            elif child.tag not in ("script", "style", "template", "textarea"):
                yield from child.texts()


class _TreeBuilder(HTMLParser):
    """A forgiving tree: void elements close themselves; an end tag closes up to its element
    (what it leaves open is closed with it); a stray end tag is ignored."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def asset_urls(doc: Element) -> list[str]:
    """What the page makes the browser fetch: stylesheets and icons, scripts, images."""
    urls = [e.attrs.get("href", "") for e in doc.iter("link")]
    urls += [e.attrs.get("src", "") for e in doc.iter("script", "img", "source", "iframe")]
    return [u for u in urls if u and not u.startswith("data:")]


def is_same_origin(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        return True
    return f"{parts.scheme}://{parts.netloc}" == origin


def gzipped_size(body: bytes) -> int:
    return len(gzip.compress(body, compresslevel=6))  # the server's level (app/asgi.py)


def _control_named(control: Element, labelled: set[str], ids: set[str]) -> bool:
    if control.attrs.get("aria-label", "").strip():
        return True
    refs = control.attrs.get("aria-labelledby", "").split()
    if refs and all(ref in ids for ref in refs):
        return True
    if control.attrs.get("id") and control.attrs["id"] in labelled:
        return True
    return any(a.tag == "label" for a in control.ancestors())


def describe(element: Element) -> str:
    keys = ("id", "name", "type", "class", "href", "src")
    attrs = " ".join(f'{k}="{element.attrs[k]}"' for k in keys if k in element.attrs)
    return f"<{element.tag}{' ' + attrs if attrs else ''}>"


def structure_problems(doc: Element, locale: str) -> list[str]:
    """Everything wrong with the page's markup for a reader (empty when nothing is)."""
    problems = []
    html = next(doc.iter("html"), None)
    if html is None or html.attrs.get("lang") != locale:
        problems.append(f"<html lang> is {html.attrs.get('lang') if html else None!r}, not {locale!r}")
    # The page's title; an inline SVG's <title> is that image's name (the VietQR code's), not another.
    titles = [t.text() for t in doc.iter("title") if not any(a.tag == "svg" for a in t.ancestors())]
    if len(titles) != 1 or not titles[0]:
        problems.append(f"{len(titles)} <title> ({titles!r}): one, not empty")
    h1s = [h.text() for h in doc.iter("h1")]
    if len(h1s) != 1:
        problems.append(f"{len(h1s)} <h1> ({h1s!r}): exactly one")
    all_ids = [e.attrs["id"] for e in doc.iter() if "id" in e.attrs]
    if duplicated := sorted({i for i in all_ids if all_ids.count(i) > 1}):
        problems.append(f"ids used twice (labels point at the first): {duplicated}")
    ids = set(all_ids)
    labelled = {label.attrs["for"] for label in doc.iter("label") if label.attrs.get("for")}
    for control in doc.iter("input", "select", "textarea"):
        if control.tag == "input" and control.attrs.get("type", "text").lower() in UNNAMED_INPUTS:
            continue
        if not _control_named(control, labelled, ids):
            problems.append(f"form control without a name (label, aria-label): {describe(control)}")
    for button in doc.iter("button"):
        if not (button.text() or button.attrs.get("aria-label", "").strip()):
            problems.append(f"button without a name: {describe(button)}")
    for image in doc.iter("img"):
        if "alt" not in image.attrs:
            problems.append(f"image without alt: {describe(image)}")
    return problems


# What a reader sees besides text: attributes read aloud or shown.
SHOWN_ATTRIBUTES = ("title", "alt", "placeholder", "aria-label")


def shown_text(doc: Element) -> Iterator[tuple[Element, str]]:
    """The page's words as a reader meets them: text, titles, alt texts, placeholders, aria labels,
    the words on input buttons. Not what a form control holds (someone's data being edited)."""
    yield from doc.texts()
    for element in doc.iter():
        for name in SHOWN_ATTRIBUTES:
            if element.attrs.get(name, "").strip():
                yield element, element.attrs[name]
        if element.tag == "input" and element.attrs.get("type") in ("submit", "button") and element.attrs.get("value"):
            yield element, element.attrs["value"]
