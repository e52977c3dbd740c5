"""Real text already on a Debian machine with Python, read as (name, summary, body) records.

Two sources the search code was never written against:

- **Debian package descriptions** (``/var/lib/dpkg/status``): the one-line synopsis is a
  human-written summary of the long description, so it is a natural paraphrase query for it.
  Library families (``libfoo1``, ``libfoo-dev``, ``libfoo-doc``) share most of their long
  description: built-in near-duplicate distractors.
- **Python standard library docstrings** (read with ``ast``; nothing is imported): the first
  line says what a function does ("Return the canonical path..."), the rest explains how. The
  first line becomes a question, the rest is the document.
"""

from __future__ import annotations

import ast
import re
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DPKG_STATUS = Path("/var/lib/dpkg/status")
MIN_BODY_WORDS = 25


@dataclass(frozen=True)
class Record:
    """One real text: ``name`` (package or dotted function), ``summary`` and ``body``."""

    source: str  # "deb" or "py"
    name: str
    summary: str
    body: str
    group: str  # records in one group are near relatives (same library family / module)


def debian_packages(status: Path = DPKG_STATUS) -> list[Record]:
    """Packages with a synopsis of >= 3 words and a long description of >= 25 words."""
    if not status.is_file():
        return []
    out: list[Record] = []
    seen_bodies: set[str] = set()
    for stanza in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        name, desc = "", []
        in_desc = False
        for line in stanza.splitlines():
            if line.startswith("Package:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("Description:"):
                desc = [line.split(":", 1)[1].strip()]
                in_desc = True
            elif in_desc and line.startswith(" "):
                desc.append("" if line.strip() == "." else line.strip())
            else:
                in_desc = False
        if not name or not desc:
            continue
        summary, body = desc[0], _paragraphs(desc[1:])
        if len(summary.split()) < 3 or len(body.split()) < MIN_BODY_WORDS or body in seen_bodies:
            continue
        seen_bodies.add(body)
        out.append(Record("deb", name, summary, body, family_of(name)))
    return sorted(out, key=lambda r: r.name)


def _paragraphs(lines: list[str]) -> str:
    paras, cur = [], []
    for line in lines:
        if line:
            cur.append(line)
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    return "\n\n".join(paras)


def family_of(package: str) -> str:
    """``libssl3``/``libssl-dev`` -> ``libssl``: what near-duplicate relatives share."""
    stem = re.split(r"[-.+]", package, maxsplit=1)[0]
    return re.sub(r"\d+$", "", stem) or package


def stdlib_functions(limit_modules: int = 400) -> list[Record]:
    """Public stdlib functions whose docstring has a verb-first summary and a >= 25-word body."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if not p.name.startswith("_"))
    files += sorted(p for p in root.glob("*/*.py")
                    if not p.name.startswith("_") and p.parent.name not in SKIP_PACKAGES)
    out: list[Record] = []
    for path in files[:limit_modules]:
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        out.extend(_functions(path, module))
    names: set[str] = set()
    unique = []
    for r in out:
        if r.name not in names:
            names.add(r.name)
            unique.append(r)
    return unique


SKIP_PACKAGES = {"test", "tests", "idlelib", "lib2to3", "turtledemo", "site-packages",
                 "ensurepip", "distutils", "pydoc_data"}
_VERB = re.compile(r"^(Return|Returns|Create|Creates|Convert|Converts|Read|Reads|Write|Writes|"
                   r"Get|Gets|Set|Sets|Find|Finds|Check|Checks|Parse|Parses|Make|Makes|Open|"
                   r"Opens|Compute|Computes|Remove|Removes|Add|Adds|Build|Builds|Encode|"
                   r"Encodes|Decode|Decodes|Test|Tests|Copy|Copies|Format|Formats|Split|"
                   r"Splits|Send|Sends|Load|Loads|Generate|Generates|Extract|Extracts)\b")


def _functions(path: Path, module: str) -> Iterator[Record]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="ignore"))
    except (SyntaxError, ValueError, RecursionError):
        return
    for node in tree.body:
        members: list[tuple[str, ast.AST]] = []
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            members.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            members += [(f"{node.name}.{m.name}", m) for m in node.body
                        if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")]
        for qual, fn in members:
            doc = ast.get_docstring(fn)  # type: ignore[arg-type]
            if not doc:
                continue
            first, _, rest = doc.strip().partition("\n")
            first = first.strip()
            body = " ".join(rest.split())
            if (not _VERB.match(first) or not first.endswith(".") or len(first.split()) < 4
                    or len(body.split()) < MIN_BODY_WORDS or ">>>" in body):
                continue
            yield Record("py", f"{module}.{qual}", first, body, module)


def as_question(summary: str) -> str:
    """"Return the canonical path of X." -> "how do I get the canonical path of X?"."""
    verb, _, rest = summary.rstrip(".").partition(" ")
    base = {"return": "get", "returns": "get", "copies": "copy"}.get(verb.lower())
    if base is None:
        base = verb.lower()[:-1] if verb.lower().endswith("s") else verb.lower()
    return f"how do I {base} {rest}?"
