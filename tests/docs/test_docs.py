"""The repository stands alone: no document points outside it, the design sections the code
cites exist in DESIGN.md, and the documents a document names are there."""

import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tracked(*patterns):
    out = subprocess.run(["git", "-C", REPO, "ls-files", "--"] + list(patterns), capture_output=True, text=True, check=True)
    return [os.path.join(REPO, p) for p in out.stdout.splitlines()]


def text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def design_sections():
    return {int(n) for n in re.findall(r"^## (\d+)\. ", text(os.path.join(REPO, "DESIGN.md")), re.M)}


def test_no_document_points_outside_the_repository():
    outside = re.compile(r"\.\./shared|shared/SPEC|SPEC\.md|shared/notes|/work/")
    found = ["%s:%d: %s" % (os.path.relpath(path, REPO), n, line.strip())
             for path in tracked("*.md") for n, line in enumerate(text(path).splitlines(), 1) if outside.search(line)]
    assert found == []


def test_design_md_keeps_the_eight_sections_the_code_cites():
    assert design_sections() == set(range(1, 9))


def test_every_section_the_code_and_documents_cite_is_in_design_md():
    cited = re.compile(r"DESIGN\.md §(\d+)")
    sections = design_sections()
    missing = ["%s: §%s" % (os.path.relpath(path, REPO), n)
               for path in tracked("*.swift", "*.c", "*.h", "*.py", "*.sh", "*.md", "buildroot/provision")
               for n in cited.findall(text(path)) if int(n) not in sections]
    assert missing == []


def test_no_code_cites_the_spec_users_do_not_have():
    """Comments cited the product spec's sections, a file outside the repository; they cite
    DESIGN.md now."""
    stale = [os.path.relpath(path, REPO) for path in tracked()
             if os.path.isfile(path) and path != os.path.abspath(__file__) and re.search(r"\bSPEC §", text(path))]
    assert stale == []


def test_the_documents_a_document_names_are_in_the_repository():
    named = re.compile(r"`((?:[\w.-]+/)*[\w.-]+\.md)`")
    missing = []
    for path in tracked("*.md"):
        for name in set(named.findall(text(path))):
            here = os.path.join(os.path.dirname(path), name)
            if not (os.path.exists(here) or os.path.exists(os.path.join(REPO, name))):
                missing.append("%s names %s" % (os.path.relpath(path, REPO), name))
    assert missing == []
