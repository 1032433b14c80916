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


def test_c_is_imported_only_by_platform_and_the_adapters_architecture_md_names():
    """ARCHITECTURE.md: C is reached only through Platform/ and one adapter per C library, which
    it lists by path; a new `import C…` elsewhere fails here until it moves or is listed."""
    architecture = text(os.path.join(REPO, "ARCHITECTURE.md"))
    listed = architecture[architecture.index("- C is reached only through"):]
    listed = listed[:listed.index("\n- ")]
    adapters = set(re.findall(r"`([\w/]+\.swift)`", listed))
    assert len(adapters) >= 8, adapters
    importing = [path for path in tracked("Sources/*.swift") if re.search(r"^import C\w+$", text(path), re.M)]
    strays = [os.path.relpath(path, REPO) for path in importing
              if "/Platform/" not in path and not any(path.endswith("/" + adapter) for adapter in adapters)]
    assert strays == [], "C imported outside Platform/ and the listed adapters: %s" % strays
    # The shims themselves (syscalls, sockets, processes) only through Platform/'s wrappers.
    shims = [os.path.relpath(path, REPO) for path in importing
             if "/Platform/" not in path and re.search(r"^import CShims$", text(path), re.M)]
    assert shims == [], "CShims imported outside Platform/: %s" % shims
    for adapter in adapters:
        assert any(path.endswith("/" + adapter) for path in importing), "ARCHITECTURE.md lists %s, which imports no C" % adapter


def unit_tests():
    """{suite: {test function names}} of the Swift unit tests."""
    suites = {}
    for path in tracked("Tests/*.swift"):
        suite = None
        for m in re.finditer(r"@Suite(?:\([^)]*\))? (?:final class|struct|class) (\w+)|func (\w+)\(", text(path)):
            if m.group(1):
                suite = suites.setdefault(m.group(1), set())
            elif suite is not None:
                suite.add(m.group(2))
    return suites


def test_every_unit_test_a_document_names_exists():
    """RELIABILITY.md's tables cite tests by `Suite.test`: a renamed or moved test must take
    its citation along, or the table claims a check that no longer exists."""
    suites = unit_tests()
    assert len(suites) > 40, sorted(suites)
    missing = []
    for doc in tracked("*.md"):
        for suite, test in re.findall(r"`(\w+Tests)\.(\w+)`", text(doc)):
            if test != "swift" and test not in suites.get(suite, ()):
                missing.append("%s: %s.%s" % (os.path.relpath(doc, REPO), suite, test))
    assert missing == [], missing


def test_every_python_test_a_document_names_exists():
    """The same for the Python tests the documents cite as `FILE.py::test_name` or a bare
    `test_name`: the file's basename anywhere under tests/, the function in it."""
    functions = {}
    for path in tracked("tests/*.py"):
        for name in re.findall(r"^def (test_\w+)\(", text(path), re.M):
            functions.setdefault(name, set()).add(os.path.basename(path))
    assert len(functions) > 300, len(functions)
    missing = []
    for doc in tracked("*.md"):
        where = os.path.relpath(doc, REPO)
        for file, test in re.findall(r"`(?:[\w/]*/)?(\w+\.py)::(test_\w+)`", text(doc)):
            if file not in functions.get(test, ()):
                missing.append("%s: %s::%s" % (where, file, test))
        for test in re.findall(r"`(test_\w+)`", text(doc)):
            if test not in functions:
                missing.append("%s: %s" % (where, test))
    assert missing == [], missing


SWIFT_FUNCTION = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|private|fileprivate|internal|static|"
                            r"override|mutating|final|nonisolated|convenience|required)\s+)*(?:func\s+\w+|init\??|deinit)\b")
C_FUNCTION = re.compile(r"^[A-Za-z_][\w \*]*\b\w+\([^;]*\)\s*\{\s*$")


def function_lengths(path):
    """(first line, lines) of each function, init and deinit of a Swift or C file: from its
    declaration to its closing brace, counted with strings and // comments left out."""
    lines = text(path).split("\n")
    pattern = SWIFT_FUNCTION if path.endswith(".swift") else C_FUNCTION
    for i, line in enumerate(lines):
        if not pattern.match(line):
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = re.sub(r'"(?:\\.|[^"\\])*"', '""', lines[j]).split("//")[0]
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                yield i + 1, j - i + 1
                break
            if not opened and (code.rstrip().endswith(";") or j > i + 8):
                break  # a declaration without a body (a protocol's, a C prototype)


def test_no_function_in_the_programs_is_over_60_lines_unless_a_comment_says_why():
    """Issue 11's rule, kept: a longer one carries `// Long:` (why) on a line just above it."""
    long = []
    for path in tracked("Sources/*.swift", "Sources/*.c"):
        lines = text(path).split("\n")
        for first, count in function_lengths(path):
            above = lines[max(0, first - 6):first - 1]
            if count > 60 and not any("// Long:" in line for line in above):
                long.append("%s:%d: %d lines" % (os.path.relpath(path, REPO), first, count))
    assert long == [], long


def opening_comment(path):
    lines = []
    for line in text(path).split("\n")[1:]:
        if not line.startswith("#"):
            break
        lines.append(re.sub(r"^# ?", "", line))
    return "\n".join(lines) + "\n"


def test_each_scripts_help_is_its_whole_opening_comment():
    """A script's --help is its opening comment, as long as that grows (common.sh's usage):
    fixed line ranges printed half of one once the comment changed."""
    scripts = [p for p in tracked("cross/*.sh", "scripts/*.sh", "bench/*.sh")
               if re.search(r"^\s*-h\|--help\)|--help\) usage", text(p), re.M)]
    assert len(scripts) >= 3, scripts
    for path in scripts:
        helped = subprocess.run(["bash", path, "--help"], capture_output=True, text=True, timeout=30)
        assert helped.returncode == 0 and helped.stdout == opening_comment(path), (path, helped)
